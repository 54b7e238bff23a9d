"""Reports for filing as PDF (Chinese): a title, a few facts, tables, signature lines.

One small layout shared by the 四性检测 report, the 移交清单 and the 接管验收 report.
The font is WenQuanYi Zen Hei (TrueType, embedded) when installed, else the built-in
STSong-Light CID font, which every PDF reader can show.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

# reportlab (≈ 0.1 s to import) is imported inside `font` and `render`: the 四性 service, the
# worker's tasks and handover import this module, and every `dangan` command would pay.

WQY = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"


@lru_cache(maxsize=1)
def font() -> str:
    from reportlab.pdfbase import pdfmetrics

    if os.path.exists(WQY):
        from reportlab.pdfbase.ttfonts import TTFont

        pdfmetrics.registerFont(TTFont("wqy-zenhei", WQY, subfontIndex=0))
        return "wqy-zenhei"
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    return "STSong-Light"


def _esc(value: Any) -> str:
    text = "—" if value is None or value == "" else str(value)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _width(value: Any) -> int:
    """Display width: a Chinese character takes about two Latin ones."""
    text = _esc(value)
    return len(text) + sum(1 for ch in text if ord(ch) > 0x2E80)


def render(title: str, facts: Sequence[tuple[str, Any]],
           tables: Sequence[tuple[str, Sequence[str], Sequence[Sequence[Any]]]],
           signatures: Sequence[str] = (), note: str | None = None) -> bytes:
    """The PDF as bytes. `tables` are (heading, column names, rows)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    name = font()
    h1 = ParagraphStyle("h1", fontName=name, fontSize=16, leading=22, alignment=1, spaceAfter=8)
    h2 = ParagraphStyle("h2", fontName=name, fontSize=11.5, leading=16, spaceBefore=8, spaceAfter=4)
    body = ParagraphStyle("body", fontName=name, fontSize=9.5, leading=13, wordWrap="CJK")
    cell = ParagraphStyle("cell", fontName=name, fontSize=8, leading=10.5, wordWrap="CJK")
    story: list[Any] = [Paragraph(_esc(title), h1)]
    for label, value in facts:
        story.append(Paragraph(f"{_esc(label)}：{_esc(value)}", body))
    if note:
        story += [Spacer(1, 4), Paragraph(_esc(note), body)]
    width = A4[0] - 30 * mm
    for heading, columns, rows in tables:
        story.append(Paragraph(_esc(heading), h2))
        if not rows:
            story.append(Paragraph("（无）", body))
            continue
        data = [[Paragraph(_esc(c), cell) for c in columns]]
        data += [[Paragraph(_esc(v), cell) for v in row] for row in rows]
        weights = [min(max(_width(v) for v in [c, *(r[i] for r in rows)]), 40) + 3
                   for i, c in enumerate(columns)]
        table = Table(data, repeatRows=1, colWidths=[width * w / sum(weights) for w in weights])
        table.setStyle(TableStyle([
            ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef2f7")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ]))
        story.append(table)
    if signatures:
        story.append(Spacer(1, 14))
        rows = [[Paragraph(f"{_esc(s)}（签字）：", body), Paragraph("日期：", body)] for s in signatures]
        sign = Table(rows, colWidths=[width * 0.6, width * 0.4], rowHeights=[12 * mm] * len(rows))
        sign.setStyle(TableStyle([("LINEBELOW", (0, 0), (-1, -1), 0.4, colors.black),
                                  ("VALIGN", (0, 0), (-1, -1), "BOTTOM")]))
        story.append(sign)
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm,
                            topMargin=15 * mm, bottomMargin=15 * mm, title=title, author="Dangan")
    doc.build(story)
    return buf.getvalue()


def write(path: str | os.PathLike[str], *args: Any, **kwargs: Any) -> Path:
    out = Path(path)
    out.write_bytes(render(*args, **kwargs))
    return out
