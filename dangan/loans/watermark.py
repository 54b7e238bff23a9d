"""Copies (复制件) of a PDF with a visible watermark on every page, made on the fly.

The stored original never changes: its decrypted bytes are read into memory, each page is
merged with a reportlab overlay naming the borrower, the loan and the time, and only the
result leaves the service.
"""

from __future__ import annotations

import io
from functools import cache

from reportlab.lib.colors import Color
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from dangan.errors import InvalidInput

FONT = "STSong-Light"


@cache
def _font() -> str:
    pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return FONT


def overlay(width: float, height: float, lines: list[str]) -> bytes:
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=(width, height))
    font = _font()
    c.setFillColor(Color(0.75, 0.1, 0.1, alpha=0.28))
    size = max(10.0, min(width, height) / 22)
    c.saveState()
    c.translate(width / 2, height / 2)
    c.rotate(35)
    for row in range(-3, 4):
        c.setFont(font, size)
        c.drawCentredString(0, row * size * 4.2, "  ".join(lines))
    c.restoreState()
    c.setFillColor(Color(0.6, 0.1, 0.1, alpha=0.9))
    c.setFont(font, 8)
    c.drawString(18, 12, "复制件 · " + " · ".join(lines))
    c.save()
    return buf.getvalue()


def watermark_pdf(data: bytes, lines: list[str]) -> bytes:
    from pypdf import PdfReader, PdfWriter

    try:
        writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
        for page in writer.pages:
            w, h = float(page.mediabox.width), float(page.mediabox.height)
            page.merge_page(PdfReader(io.BytesIO(overlay(w, h, lines))).pages[0])
    except Exception as exc:  # a PDF pypdf cannot open: say so rather than hand out no watermark
        raise InvalidInput(f"无法为该 PDF 加水印：{type(exc).__name__}。") from None
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
