"""Loan fixtures: records to lend, a settable clock, and small helpers."""

from __future__ import annotations

import datetime as dt
import io

import pytest

from dangan.archive.records import RecordInput


def pdf_bytes(text: str) -> bytes:
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    c.setFont("Helvetica", 12)
    c.drawString(72, 760, text)
    c.showPage()
    c.drawString(72, 760, text + " page 2")
    c.save()
    return buf.getvalue()


def add_record(system, title: str, security: str = "internal", category: str = "maintenance",
               location: str = "A-01-001-0101") -> str:
    data = RecordInput(original_name="a.pdf", media_type="application/pdf", title=title, category=category,
                       location=location, security=security, text_pages=[{"page": 1, "text": f"{title} 正文"}])
    return system.records.create(system.actor("wang"), io.BytesIO(pdf_bytes(title)), data).archive_no


class Clock:
    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, days: int) -> None:
        self.now += dt.timedelta(days=days)


@pytest.fixture
def clock(system) -> Clock:
    c = Clock(dt.datetime(2026, 3, 2, 9, 0))
    system.loans.clock = c
    return c


@pytest.fixture
def lend(system, clock):
    """system, records (internal `a`, `b`, confidential `c`) and actors by name."""
    sec = system.actor("secofficer")
    system.users.add(sec, "sun", ["staff"], "internal", "工程部")
    a = add_record(system, "电梯维修记录")
    b = add_record(system, "水泵保养记录")
    c = add_record(system, "业主登记表", security="confidential", category="owner", location="A-01-001-0102")
    return {"a": a, "b": b, "c": c, "who": system.actor}
