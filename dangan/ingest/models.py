"""Persisted ingest work: batches and one job per input file.

A job moves pending → running → done | duplicate | rejected | queued. A job's record id is
chosen and committed before any object is written, and the job is marked finished in the
same transaction that commits its record, so a `kill -9` anywhere leaves either a
finished job with its record, or an unfinished job whose objects (if any) can be found
and removed before it is run again.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dangan.archive.models import Base, utcnow

PENDING, RUNNING = "pending", "running"
FINISHED = ("done", "duplicate", "rejected", "queued")


class IngestBatch(Base):
    __tablename__ = "ingest_batches"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    source: Mapped[str] = mapped_column(String(16))  # cli | import | inbox
    key: Mapped[str | None] = mapped_column(String(200), unique=True)  # manifest identity, to resume
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class IngestJob(Base):
    __tablename__ = "ingest_jobs"
    __table_args__ = (UniqueConstraint("batch_id", "seq"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("ingest_batches.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)  # position in the batch (manifest row, file order)
    path: Mapped[str] = mapped_column(Text)  # absolute path of the file to read
    name: Mapped[str] = mapped_column(Text)  # what the user called it (for reports)
    explicit: Mapped[str] = mapped_column(Text, default="{}")  # JSON: metadata given by the user
    state: Mapped[str] = mapped_column(String(16), index=True, default=PENDING)
    record_id: Mapped[str | None] = mapped_column(String(32))
    worker: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[str | None] = mapped_column(Text)  # JSON: the CONTRACT.md ingest object
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
