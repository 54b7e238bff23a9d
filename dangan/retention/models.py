"""Tables of the retention slice: retention facts per record, appraisals, legal holds,
destruction batches and the destruction register. They live on the archive's metadata
(`Base`) and are created by migration 0004."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dangan.archive.models import Base, Record, utcnow


class RetentionState(Base):
    """What appraisal and events changed about one record's retention (absent: the scheme
    applies as computed at ingest). `until` overrides records.retention_until; `permanent`
    keeps the record forever; `decision` is the latest appraisal."""

    __tablename__ = "retention_state"
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), primary_key=True)
    event_date: Mapped[dt.date | None] = mapped_column(Date)
    until: Mapped[dt.date | None] = mapped_column(Date, index=True)
    permanent: Mapped[bool] = mapped_column(Boolean, default=False)
    decision: Mapped[str | None] = mapped_column(String(16), index=True)  # destroy | extend | permanent
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    reason: Mapped[str | None] = mapped_column(Text)


class Appraisal(Base):
    """Append-only: every appraisal decision (鉴定) ever made."""

    __tablename__ = "appraisals"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), index=True)
    decision: Mapped[str] = mapped_column(String(16))
    years: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    until_before: Mapped[dt.date | None] = mapped_column(Date)
    until_after: Mapped[dt.date | None] = mapped_column(Date)
    decided_by: Mapped[str] = mapped_column(String(64))
    decided_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Hold(Base):
    """A named legal hold (冻结): dispute, litigation, audit. Released explicitly, once."""

    __tablename__ = "legal_holds"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    reason: Mapped[str] = mapped_column(Text)
    case_ref: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    released_by: Mapped[str | None] = mapped_column(String(64))
    released_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    release_reason: Mapped[str | None] = mapped_column(Text)


class HoldItem(Base):
    __tablename__ = "legal_hold_items"
    hold_id: Mapped[int] = mapped_column(ForeignKey("legal_holds.id"), primary_key=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), primary_key=True, index=True)
    added_by: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class DestructionBatch(Base):
    """A 销毁清册: draft → approved → executing → executed. A hold added to one of its
    records while approved voids the approval (back to draft, `voided` says why)."""

    __tablename__ = "destruction_batches"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), index=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    approved_by: Mapped[str | None] = mapped_column(String(64))
    approved_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    voided: Mapped[str | None] = mapped_column(Text)
    executed_by: Mapped[str | None] = mapped_column(String(64))
    supervisor: Mapped[str | None] = mapped_column(String(64))
    place: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    executed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class DestructionItem(Base):
    """One record of a batch: pending → shredded (key gone, tombstone, register row)."""

    __tablename__ = "destruction_items"
    batch_id: Mapped[str] = mapped_column(ForeignKey("destruction_batches.id"), primary_key=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), primary_key=True, index=True)
    archive_no: Mapped[str] = mapped_column(String(120))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    paper: Mapped[bool] = mapped_column(Boolean, default=False)  # a paper original to shred too
    box: Mapped[str | None] = mapped_column(String(200))


class RegisterEntry(Base):
    """The destruction register (销毁登记簿): one row per destroyed record, kept forever."""

    __tablename__ = "destruction_register"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("destruction_batches.id"), index=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), unique=True)
    archive_no: Mapped[str] = mapped_column(String(120), index=True)
    title: Mapped[str] = mapped_column(String(500))
    category: Mapped[str | None] = mapped_column(String(32))
    location: Mapped[str | None] = mapped_column(String(40))
    doc_date: Mapped[dt.date | None] = mapped_column(Date)
    retention_period: Mapped[str | None] = mapped_column(String(32))
    retention_until: Mapped[dt.date | None] = mapped_column(Date)
    sha256: Mapped[str | None] = mapped_column(String(64))
    paper: Mapped[bool] = mapped_column(Boolean, default=False)
    box: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    maker: Mapped[str] = mapped_column(String(64))
    approver: Mapped[str] = mapped_column(String(64))
    executor: Mapped[str] = mapped_column(String(64))
    supervisor: Mapped[str] = mapped_column(String(64))
    place: Mapped[str] = mapped_column(String(200))
    destroyed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


# the due list reads records by (status, retention_until) from a covering index: its counts
# from the leading columns, its rows (ordered, without ties) from all of them (migration 0011)
Index("ix_records_due_rows", Record.status, Record.retention_until, Record.doc_date, Record.category,
      Record.location, Record.year, Record.id, Record.security, Record.archive_no, Record.title,
      Record.retention_period, Record.custody)
Index("ix_records_no_doc_date", Record.status, sqlite_where=Record.doc_date.is_(None),
      postgresql_where=Record.doc_date.is_(None))
