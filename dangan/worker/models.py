"""What the worker's scheduler remembers: one row per scheduled task.

The row is the schedule (its plan and the next occurrence due), the claim (which worker
runs it now, until when its lease holds) and the last outcome. Several workers on
several machines share it through the database alone, as they share the job queue.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dangan.archive.models import Base


class ScheduledTask(Base):
    __tablename__ = "worker_schedule"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)  # verify | retention-report | remind
    plan: Mapped[str] = mapped_column(String(32))  # "1d", "6h", "monthly:1", "off"
    next_due: Mapped[dt.datetime | None] = mapped_column(DateTime)  # the occurrence to serve next (UTC)
    retry_at: Mapped[dt.datetime | None] = mapped_column(DateTime)  # after an error: not before this
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_started: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_finished: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_outcome: Mapped[str | None] = mapped_column(String(16))  # ok | failed | error
    last_detail: Mapped[str | None] = mapped_column(Text)  # one sentence
    last_actor: Mapped[str | None] = mapped_column(String(64))
    last_worker: Mapped[str | None] = mapped_column(String(128))
    runs: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)  # errors in a row
