"""When a scheduled task is due: every interval ("30m", "6h", "1d"), monthly on a day
("monthly:1"), or off. Occurrences stay on their grid (a daily check first run at 02:00
stays at 02:00) and missed ones are skipped, not run one after another."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dangan.config import Settings

_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


@dataclass(frozen=True)
class Plan:
    """When a task is due: every interval ("6h", "1d"), monthly on a day ("monthly:1"), or off."""

    text: str

    @property
    def off(self) -> bool:
        return self.text == "off"

    @property
    def every(self) -> dt.timedelta | None:
        m = re.fullmatch(r"(\d+)([mhd])", self.text)
        return dt.timedelta(**{_UNITS[m.group(2)]: int(m.group(1))}) if m else None

    @property
    def day(self) -> int | None:
        return int(self.text.split(":", 1)[1]) if self.text.startswith("monthly:") else None

    def first(self, now: dt.datetime) -> dt.datetime | None:
        """The first occurrence of a new schedule: an interval task at once, a monthly one
        on its next day."""
        if self.off:
            return None
        return now if self.every else self._monthly_after(now - dt.timedelta(microseconds=1))

    def after(self, due: dt.datetime, now: dt.datetime) -> dt.datetime:
        """The next occurrence on the schedule's grid later than `now` (missed ones skipped)."""
        if self.every:
            steps = max(0, (now - due) // self.every) + 1
            return due + self.every * steps
        return self._monthly_after(now)

    def latest(self, due: dt.datetime, now: dt.datetime) -> dt.datetime:
        """The occurrence a late run serves: the newest one not after `now` (at least `due`)."""
        if self.every:
            return due + self.every * max(0, (now - due) // self.every)
        this = now.replace(day=self.day or 1, hour=0, minute=0, second=0, microsecond=0)
        if this > now:
            this = _add_month(this, -1)
        return max(due, this)

    def _monthly_after(self, now: dt.datetime) -> dt.datetime:
        this = now.replace(day=self.day or 1, hour=0, minute=0, second=0, microsecond=0)
        return this if this > now else _add_month(this, 1)

    def describe(self) -> str:
        if self.off:
            return "关闭"
        if self.day:
            return f"每月 {self.day} 日"
        n, unit = int(self.text[:-1]), self.text[-1]
        return f"每 {n} {'分钟' if unit == 'm' else '小时' if unit == 'h' else '天'}"


def _add_month(when: dt.datetime, months: int) -> dt.datetime:
    index = when.year * 12 + when.month - 1 + months
    return when.replace(year=index // 12, month=index % 12 + 1)


def plans(settings: Settings) -> dict[str, Plan]:
    day = settings.worker_retention_report_day
    return {"verify": Plan(settings.worker_verify_every),
            "retention-report": Plan("off" if day == "off" else f"monthly:{int(day)}"),
            "remind": Plan(settings.worker_remind_every)}
