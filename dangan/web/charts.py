"""Charts drawn on the server as SVG: no script, no library, nothing fetched at run time.

Text goes through `markupsafe.escape`, so a category or estate name cannot inject markup."""

from __future__ import annotations

from markupsafe import Markup, escape

PALETTE = ("#1d4ed8", "#0f766e", "#b45309", "#7c3aed", "#be123c", "#15803d", "#0369a1",
           "#a16207", "#4d7c0f", "#9d174d")


def hbar(items: list[tuple[str, int]], title: str, width: int = 460, row: int = 26,
         label_width: int = 140) -> Markup:
    """Horizontal bars, one per (label, count), largest first as given."""
    if not items:
        return Markup(f'<p class="muted">{escape(title)}：暂无数据。</p>')
    high = max(n for _, n in items) or 1
    bar_room = width - label_width - 60
    height = row * len(items) + 8
    parts = [f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
             f"<title>{escape(title)}</title>"]
    for n, (label, count) in enumerate(items):
        y = 4 + n * row
        w = max(1, round(bar_room * count / high)) if count else 0
        color = PALETTE[n % len(PALETTE)]
        parts.append(f'<text x="{label_width - 8}" y="{y + row * 0.62:.1f}" text-anchor="end" '
                     f'font-size="13" fill="#374151">{escape(label)}</text>')
        parts.append(f'<rect x="{label_width}" y="{y + 4}" width="{w}" height="{row - 10}" rx="3" '
                     f'fill="{color}"><title>{escape(label)}：{count}</title></rect>')
        parts.append(f'<text x="{label_width + w + 6}" y="{y + row * 0.62:.1f}" font-size="13" '
                     f'fill="#111827">{count}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def columns(items: list[tuple[str, int]], title: str, width: int = 460, height: int = 200) -> Markup:
    """Vertical columns, in the order given (years)."""
    if not items:
        return Markup(f'<p class="muted">{escape(title)}：暂无数据。</p>')
    high = max(n for _, n in items) or 1
    room = height - 40
    step = (width - 20) / len(items)
    bar = max(4.0, step * 0.7)
    parts = [f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
             f"<title>{escape(title)}</title>",
             f'<line x1="10" y1="{height - 22}" x2="{width - 10}" y2="{height - 22}" stroke="#cbd5e1"/>']
    for n, (label, count) in enumerate(items):
        h = round(room * count / high) if count else 0
        x = 10 + n * step + (step - bar) / 2
        y = height - 22 - h
        parts.append(f'<rect x="{x:.1f}" y="{y}" width="{bar:.1f}" height="{h}" rx="2" fill="#1d4ed8">'
                     f"<title>{escape(label)}：{count}</title></rect>")
        parts.append(f'<text x="{x + bar / 2:.1f}" y="{height - 6}" text-anchor="middle" font-size="11" '
                     f'fill="#374151">{escape(label)}</text>')
        parts.append(f'<text x="{x + bar / 2:.1f}" y="{max(12, y - 4)}" text-anchor="middle" font-size="11" '
                     f'fill="#111827">{count}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
