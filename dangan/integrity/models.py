"""What `dangan verify` remembers: the last outcome per record and one row per run.

`verify_state` lets a periodic run skip what was checked recently and has not changed
since (same version, same key, same digest); `verify_runs` keeps each run's report.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dangan.archive.models import Base, utcnow


class VerifyState(Base):
    __tablename__ = "verify_state"
    record_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    checked_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    version: Mapped[int] = mapped_column(Integer)
    kek_id: Mapped[str | None] = mapped_column(String(64))
    sha256: Mapped[str | None] = mapped_column(String(64))
    ok: Mapped[bool] = mapped_column(Boolean)
    content: Mapped[str | None] = mapped_column(Text)  # JSON: content checks' results for this sha256
    details: Mapped[str] = mapped_column(Text)  # JSON {check id: true | sentence}
    run_id: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))


class VerifyRun(Base):
    __tablename__ = "verify_runs"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(16))  # full | incremental | selected
    stage: Mapped[str] = mapped_column(String(16))
    total: Mapped[int] = mapped_column(Integer)  # records in scope
    checked: Mapped[int] = mapped_column(Integer)  # records actually read
    failed: Mapped[int] = mapped_column(Integer)
    report: Mapped[str] = mapped_column(Text)  # JSON: the summary and the failures
