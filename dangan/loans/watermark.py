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
from sqlalchemy import select

from dangan.archive.permissions import Actor
from dangan.errors import Conflict, InvalidInput, NotFound
from dangan.loans.models import Loan, LoanItem
from dangan.loans.service import find_record

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


def watermarked_copy(system, actor: Actor, loan_id: str, ref: str) -> tuple[bytes, str]:  # type: ignore[no-untyped-def]
    """The borrower's watermarked copy of one record of an approved, current copy loan."""
    loans = system.loans
    with system.db.read() as s:
        loan = s.get(Loan, (loan_id or "").strip().upper())
        if loan is None:
            raise NotFound(f"借阅单 {loan_id!r} 不存在。")
        rec = find_record(s, ref)
        on_loan = s.execute(select(LoanItem).where(LoanItem.loan_id == loan.id,
                                                   LoanItem.record_id == rec.id)).first() is not None
    if loan.borrower != actor.name:
        raise loans._refuse(actor, "loan.copy", loan.id, "复制件只提供给借阅人本人。")
    if loan.kind != "copy":
        raise Conflict(f"借阅单 {loan.id} 不是复制件借阅。")
    if not on_loan:
        raise NotFound(f"档案 {ref} 不在借阅单 {loan.id} 中。")
    if loan.state != "approved" or loan.due is None or loan.due < loans.today():
        raise loans._refuse(actor, "loan.copy", loan.id, f"借阅单 {loan.id} 未批准或已到期，不能下载复制件。")
    if rec.media_type != "application/pdf" or rec.sha256 is None:
        raise InvalidInput(f"档案 {ref} 不是 PDF，不能生成复制件。")
    original = b"".join(system.records.iter_original(rec))
    stamp = loans.clock().strftime("%Y-%m-%d %H:%M")
    lines = [f"借阅人 {actor.name}", f"借阅单 {loan.id}", f"{stamp} UTC"]
    data = watermark_pdf(original, lines)
    with system.db.session() as s:
        locked = loans._lock(s, loan.id)
        loans._event(s, locked, "copy", actor, {"archive_no": rec.archive_no, "bytes": len(data)})
    return data, f"{rec.archive_no}-复制件.pdf"
