"""Database tables. Alembic migrations (archive/migrations) create them; this module is
the single description the services use."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


def table_of(model: type[Base]) -> Table:
    """The Core Table of a mapped class, for bulk Core statements.

    SQLAlchemy types `__table__` as FromClause (a mapping may target a select); every
    model here maps a plain Table, so this only tells the type checker so."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


class Meta(Base):
    """Archive-wide facts: key fingerprints, creation time, schema facts."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Project(Base):
    """A managed estate (项目): its code letter places documents that name it."""

    __tablename__ = "projects"
    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    type: Mapped[str] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    roles: Mapped[str] = mapped_column(String(200))  # comma-separated
    clearance: Mapped[str] = mapped_column(String(32))
    department: Mapped[str | None] = mapped_column(String(200))
    categories: Mapped[str | None] = mapped_column(String(500))  # comma-separated; NULL = all
    password_hash: Mapped[str | None] = mapped_column(String(200))
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(64))


class Record(Base):
    """One document (一件档案): metadata, wrapped key and pointers to its encrypted objects."""

    __tablename__ = "records"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    archive_no: Mapped[str | None] = mapped_column(String(120), unique=True)
    provisional_no: Mapped[str | None] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(500))
    category: Mapped[str | None] = mapped_column(String(32), index=True)
    location: Mapped[str | None] = mapped_column(String(40), index=True)
    year: Mapped[int | None] = mapped_column(Integer)
    doc_date: Mapped[dt.date | None] = mapped_column(Date)
    responsible: Mapped[str | None] = mapped_column(String(200))
    maintenance_code: Mapped[str | None] = mapped_column(String(6))
    security: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True)
    sha256: Mapped[str | None] = mapped_column(String(64), unique=True)  # NULL: paper original only
    digest: Mapped[str | None] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(BigInteger)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    media_type: Mapped[str] = mapped_column(String(100))
    original_name: Mapped[str] = mapped_column(String(500))
    retention_period: Mapped[str] = mapped_column(String(32))
    retention_until: Mapped[dt.date | None] = mapped_column(Date)
    suite: Mapped[str] = mapped_column(String(32))
    kek_id: Mapped[str | None] = mapped_column(String(64))
    wrapped_dek: Mapped[bytes | None] = mapped_column(LargeBinary)
    has_text: Mapped[bool] = mapped_column(Boolean, default=False)
    classify_confidence: Mapped[float | None] = mapped_column(Float)
    suggestion: Mapped[str | None] = mapped_column(Text)  # JSON: what ingest inferred
    custody: Mapped[str | None] = mapped_column(String(200))  # physical location of a paper original
    version: Mapped[int] = mapped_column(Integer, default=1)
    ingested_by: Mapped[str] = mapped_column(String(64))
    ingested_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class RecordVersion(Base):
    """A metadata change: who, when, why and the old and new values."""

    __tablename__ = "record_versions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    changed_by: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    reason: Mapped[str] = mapped_column(Text)
    changes: Mapped[str] = mapped_column(Text)  # JSON {field: [old, new]}


class ArchiveAlias(Base):
    """An earlier 档号 (or provisional number) that still resolves to its record."""

    __tablename__ = "archive_aliases"
    alias: Mapped[str] = mapped_column(String(120), primary_key=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), index=True)


class Sequence(Base):
    """Last number handed out per scope (e.g. 'WX|2024'); only ever increases."""

    __tablename__ = "sequences"
    scope: Mapped[str] = mapped_column(String(200), primary_key=True)
    last: Mapped[int] = mapped_column(BigInteger)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=False)
    ts: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """One row: the id and hash of the newest entry; locking it serialises appends."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))


class Outbox(Base):
    """Index changes written in the same transaction as the record change."""

    __tablename__ = "search_outbox"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    record_id: Mapped[str] = mapped_column(String(32), index=True)
    op: Mapped[str] = mapped_column(String(16))  # upsert | delete
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class BlindIndex(Base):
    """Keyed hashes of personal numbers found in a record's text (never the values)."""

    __tablename__ = "blind_index"
    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    generation: Mapped[int] = mapped_column(Integer, default=1, server_default="1")  # of the blind-index key


class DerivedKey(Base):
    """One generation of a purpose key (blind index, classifier cache): its state and, from
    generation 2 on, the random key wrapped under a KEK (generation 1 is derived, see
    dangan/archive/derived_keys.py). `cursor`/`done` track a blind-index rebuild."""

    __tablename__ = "derived_keys"
    purpose: Mapped[str] = mapped_column(String(32), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(16))  # building | current | previous | retired
    suite: Mapped[str | None] = mapped_column(String(32))
    kek_id: Mapped[str | None] = mapped_column(String(32))
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    current_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    retired_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    created_by: Mapped[str | None] = mapped_column(String(64))
    cursor: Mapped[str | None] = mapped_column(String(32))
    done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


Index("ix_records_category_year", Record.category, Record.year)
Index("ix_blind_index_record_generation", BlindIndex.record_id, BlindIndex.generation)
