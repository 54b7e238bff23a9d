"""Transfer packages made (移交) and taken over (接管), and the records each carried.

Each record's part in a handover is a row here besides its audit entry, so a record's
history shows when it left or arrived, with which package.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dangan.archive.models import Base, utcnow


class HandoverPackage(Base):
    __tablename__ = "handover_packages"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    direction: Mapped[str] = mapped_column(String(8))  # export | import
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(500))  # the location or query exported; the source imported
    items: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(BigInteger)
    ok: Mapped[bool] = mapped_column(Boolean)
    report: Mapped[str] = mapped_column(Text)  # JSON


class HandoverItem(Base):
    __tablename__ = "handover_items"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    package_id: Mapped[str] = mapped_column(ForeignKey("handover_packages.id"), index=True)
    record_id: Mapped[str] = mapped_column(String(32), index=True)
    archive_no: Mapped[str | None] = mapped_column(String(120))
    source_no: Mapped[str | None] = mapped_column(String(120))  # the sender's 档号 when it was re-numbered
