"""Tables of the web slice: login attempts (throttling), owners' flats and the records
marked visible to owners (业主查询)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from dangan.archive.models import Base, utcnow


class LoginAttempt(Base):
    """One password attempt at the web login; failures in a window throttle the account
    and the address."""

    __tablename__ = "web_login_attempts"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    name: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    ok: Mapped[bool] = mapped_column(Boolean)


Index("ix_web_login_attempts_name_at", LoginAttempt.name, LoginAttempt.at)
Index("ix_web_login_attempts_address_at", LoginAttempt.address, LoginAttempt.at)


class OwnerFlat(Base):
    """An owner account bound to a flat (a full room location code) by the security officer."""

    __tablename__ = "web_owner_flats"
    user_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    location: Mapped[str] = mapped_column(String(40), primary_key=True)
    bound_by: Mapped[str] = mapped_column(String(64))
    bound_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class OwnerVisible(Base):
    """A record an archivist marked as readable by the owners of its flat."""

    __tablename__ = "web_owner_visible"
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), primary_key=True)
    marked_by: Mapped[str] = mapped_column(String(64))
    marked_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
