"""The retention schedule (保管期限表): periods and triggers come from the classification
scheme; this module turns them, plus what appraisal and events recorded, into one
effective due date per record.

Rules kept here:
- a permanent category, or a record appraised "permanent", is never due;
- a record without a trigger date (no document date and no event date) is listed as
  such and never treated as due — the ingest fallback to the ingest date is not a trigger;
- an appraisal's `until` (an extension) overrides the scheme's date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from dangan.archive.scheme import TRIGGERS, Scheme


@dataclass(frozen=True)
class Effective:
    until: dt.date | None  # None: never due (permanent) or unknown (no trigger)
    permanent: bool
    no_trigger: bool


def effective(scheme: Scheme, category: str | None, doc_date: dt.date | None, scheme_until: dt.date | None,
              event_date: dt.date | None = None, override: dt.date | None = None,
              appraised_permanent: bool = False) -> Effective:
    if appraised_permanent:
        return Effective(None, True, False)
    if category is None:
        return Effective(None, False, True)
    cat = scheme.category(category)
    if cat.permanent:
        return Effective(None, True, False)
    if override is not None:
        return Effective(override, False, False)
    if doc_date is None and event_date is None:
        return Effective(None, False, True)
    if event_date is not None:  # a contract's end, an owner moving out: counts from the event
        return Effective(add_years(event_date, cat.retention_years or 0), False, False)
    return Effective(scheme_until or scheme.retention_until(cat, doc_date), False, False)


def schedule_rows(scheme: Scheme) -> list[dict]:
    """The schedule as a table: category, period and what the period counts from."""
    return [{"key": c.key, "code": c.code, "name": c.name, "retention": c.retention,
             "retention_label": c.retention_label, "retention_code": c.retention_code,
             "trigger": c.trigger, "trigger_label": TRIGGERS.get(c.trigger or "", "—")}
            for c in scheme.categories]


def add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)
