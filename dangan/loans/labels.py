"""Printable labels (PDF, Chinese font embedded), each with a QR code a USB scanner reads
back into the 借还台 and 盘点 screens: item labels for paper originals and spine labels for
boxes (档号 range, title, years, retention)."""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

WQY = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")


@cache
def font() -> str:
    """WenQuanYi Zen Hei embedded (subset) when installed, else the built-in STSong-Light."""
    if WQY.exists():
        pdfmetrics.registerFont(TTFont("WQYZenHei", str(WQY), subfontIndex=0))
        return "WQYZenHei"
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    return "STSong-Light"


def qr(c: canvas.Canvas, value: str, x: float, y: float, size: float) -> None:
    widget = QrCodeWidget(value, barLevel="M")
    x0, y0, x1, y1 = widget.getBounds()
    d = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    d.add(widget)
    renderPDF.draw(d, c, x, y)


def _fit(c: canvas.Canvas, text: str, width: float, size: float) -> str:
    f = font()
    if c.stringWidth(text, f, size) <= width:
        return text
    while text and c.stringWidth(text + "…", f, size) > width:
        text = text[:-1]
    return text + "…"


def item_labels(items: list[dict]) -> bytes:
    """70 × 37 mm labels, 3 × 8 per A4 page: QR (dangan:record:档号), 档号, title, year, retention."""
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    c.setTitle("档案标签")
    f = font()
    w, h, cols, rows = 70 * mm, 37 * mm, 3, 8
    top = A4[1] - (A4[1] - rows * h) / 2
    for n, it in enumerate(items):
        if n and n % (cols * rows) == 0:
            c.showPage()
        col, row = n % cols, (n // cols) % rows
        x, y = col * w, top - (row + 1) * h
        c.setLineWidth(0.3)
        c.rect(x + 1 * mm, y + 1 * mm, w - 2 * mm, h - 2 * mm)
        c.setFont(f, 8)
        c.drawString(x + 3 * mm, y + h - 6 * mm, _fit(c, it["archive_no"], w - 6 * mm, 8))
        qr(c, f"dangan:record:{it['archive_no']}", x + 3 * mm, y + 3 * mm, 26 * mm)
        tx, tw = x + 31 * mm, w - 34 * mm
        c.setFont(f, 9)
        c.drawString(tx, y + h - 14 * mm, _fit(c, it.get("title") or "", tw, 9))
        c.setFont(f, 8)
        c.drawString(tx, y + h - 20 * mm, f"年度 {it.get('year') or '—'}")
        c.drawString(tx, y + h - 25 * mm, f"保管期限 {it.get('retention') or '—'}")
    if not items:
        c.setFont(f, 12)
        c.drawString(30 * mm, A4[1] - 30 * mm, "没有需要打印的标签。")
    c.save()
    return buf.getvalue()


def box_labels(boxes: list[dict]) -> bytes:
    """Spine labels 60 × 250 mm, three per A4 page: box name and code, 档号 range, years,
    retention, the first titles, and a QR code (dangan:box:CODE)."""
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    c.setTitle("档案盒脊背标签")
    f = font()
    w, h = 60 * mm, 250 * mm
    for n, box in enumerate(boxes):
        if n and n % 3 == 0:
            c.showPage()
        x, y = 10 * mm + (n % 3) * (w + 5 * mm), (A4[1] - h) / 2
        c.setLineWidth(0.6)
        c.rect(x, y, w, h)
        items = box.get("items", [])
        nos = sorted(i["archive_no"] for i in items)
        years = sorted({i["year"] for i in items if i.get("year")})
        retention = "、".join(sorted({i["retention"] for i in items if i.get("retention")})) or "—"
        name = box["name"]
        c.setFont(f, 14)
        if c.stringWidth(name, f, 14) <= w - 6 * mm:
            c.drawCentredString(x + w / 2, y + h - 14 * mm, name)
        else:  # two lines
            half = (len(name) + 1) // 2
            c.drawCentredString(x + w / 2, y + h - 10 * mm, _fit(c, name[:half], w - 6 * mm, 14))
            c.drawCentredString(x + w / 2, y + h - 16 * mm, _fit(c, name[half:], w - 6 * mm, 14))
        c.setFont(f, 9)
        c.drawCentredString(x + w / 2, y + h - 21 * mm, box["code"])
        lines = [("起止档号", nos[0] if nos else "—"), ("", nos[-1] if nos else ""),
                 ("年度", f"{years[0]}–{years[-1]}" if years else "—"), ("保管期限", retention),
                 ("件数", str(len(items)))]
        yy = y + h - 34 * mm
        for label, value in lines:
            c.setFont(f, 8)
            if label:
                c.drawString(x + 4 * mm, yy, label)
            c.drawString(x + 4 * mm, yy - 4.5 * mm, _fit(c, value, w - 8 * mm, 8))
            yy -= 11 * mm
        c.setFont(f, 8)
        c.drawString(x + 4 * mm, yy, "题名")
        for it in items[:8]:
            yy -= 5 * mm
            c.drawString(x + 4 * mm, yy, _fit(c, it.get("title") or "（密级以上，不显示）", w - 8 * mm, 8))
        qr(c, f"dangan:box:{box['code']}", x + (w - 40 * mm) / 2, y + 6 * mm, 40 * mm)
    c.save()
    return buf.getvalue()
