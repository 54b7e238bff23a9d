"""Loan ledger and custody tables.

The ledger is append-only: `loan_events` gets one row per step and is never updated.
`loans` is the current state derived from those events, written in the same transaction
as each event, so reads (the overdue list, a borrower's history) stay cheap. A physical
original is out on one loan at a time because `loan_physical_out` has the record id as
its primary key: a second checkout of the same original fails in the database itself.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dangan.archive.models import Base, utcnow

_ID = BigInteger().with_variant(Integer, "sqlite")


class Loan(Base):
    """Current state of one loan (借阅单), derived from its events."""

    __tablename__ = "loans"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # JY-2026-000001
    borrower: Mapped[str] = mapped_column(String(64))
    department: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # view | copy | physical
    purpose: Mapped[str] = mapped_column(Text)
    days: Mapped[int] = mapped_column(Integer)  # total days granted, renewals included (≤ max)
    sensitive: Mapped[bool] = mapped_column(Boolean, default=False)  # needs a manager
    state: Mapped[str] = mapped_column(String(16))
    requested_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    reason: Mapped[str | None] = mapped_column(Text)  # of a rejection or cancellation
    started_on: Mapped[dt.date | None] = mapped_column(Date)  # checkout (physical) or approval
    due: Mapped[dt.date | None] = mapped_column(Date)  # last day of the loan
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    condition: Mapped[str | None] = mapped_column(String(16))  # intact | damaged | lost
    version: Mapped[int] = mapped_column(Integer, default=0)  # = number of events


class LoanItem(Base):
    """One record on a loan (archive number as it was when requested)."""

    __tablename__ = "loan_items"
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"), primary_key=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), primary_key=True)
    archive_no: Mapped[str] = mapped_column(String(120))


class LoanEvent(Base):
    """One step of a loan; rows are only ever inserted."""

    __tablename__ = "loan_events"
    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"))
    seq: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    detail: Mapped[str] = mapped_column(Text, default="{}")  # JSON


class PhysicalOut(Base):
    """A paper original that is out: at most one row per record (the primary key)."""

    __tablename__ = "loan_physical_out"
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), primary_key=True)
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"))
    since: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Incident(Base):
    """A damaged or lost original found at return; open until an archivist closes it."""

    __tablename__ = "loan_incidents"
    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"))
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"))
    kind: Mapped[str] = mapped_column(String(16))  # damaged | lost
    note: Mapped[str | None] = mapped_column(Text)
    opened_by: Mapped[str] = mapped_column(String(64))
    opened_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    closed_by: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    resolution: Mapped[str | None] = mapped_column(Text)


class Place(Base):
    """A place for paper originals: 库房 room > 柜 cabinet > 架 shelf > 盒 box."""

    __tablename__ = "custody_places"
    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(80), unique=True)  # e.g. K1-G02-J3-H015
    kind: Mapped[str] = mapped_column(String(16))  # room | cabinet | shelf | box
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("custody_places.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class RecordPlace(Base):
    """Where a paper original is kept now (derived from the moves)."""

    __tablename__ = "custody_record_places"
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), primary_key=True)
    place_id: Mapped[int] = mapped_column(ForeignKey("custody_places.id"), index=True)


class CustodyMove(Base):
    """A paper original placed or moved (append-only)."""

    __tablename__ = "custody_moves"
    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), index=True)
    from_place: Mapped[int | None] = mapped_column(ForeignKey("custody_places.id"))
    to_place: Mapped[int] = mapped_column(ForeignKey("custody_places.id"))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    reason: Mapped[str | None] = mapped_column(Text)


class Stocktake(Base):
    """One inventory check (盘点) of a box: what should be there, what was found."""

    __tablename__ = "custody_stocktakes"
    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    place_id: Mapped[int] = mapped_column(ForeignKey("custody_places.id"))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    report: Mapped[str] = mapped_column(Text)  # JSON {expected, found, missing, misplaced, unknown, out}


Index("ix_loan_events_loan", LoanEvent.loan_id, LoanEvent.seq, unique=True)
Index("ix_loan_events_at", LoanEvent.at)
Index("ix_loans_state_due", Loan.state, Loan.due)
Index("ix_loans_borrower", Loan.borrower, Loan.requested_at)
Index("ix_loan_items_record", LoanItem.record_id)
Index("ix_loan_incidents_open", Incident.closed_at)
