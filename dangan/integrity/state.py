"""Writing what a verify run remembers per record (`verify_state`), in bulk.

A periodic full run over an unchanged archive finds what it found last time: every
record's remembered outcome is the same except when it was checked and by which run.
Rewriting 100,000 identical rows one by one would cost more than the checks, so rows
that only need the new time and run are touched with one UPDATE per chunk of ids; the
rest (new, changed or failing) are replaced with one DELETE per chunk and one
executemany INSERT. Everything goes in the caller's transaction, beside the run's row
and its audit entry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from dangan.archive.models import table_of
from dangan.integrity.models import VerifyState

CHUNK = 500  # ids per IN (...): well under every backend's bound-parameter limit
STATE = table_of(VerifyState)
PASSED = "{}"  # the details of a pass: all True, so only failures are worth the bytes


def unchanged(old: Any, row: Mapping[str, Any]) -> bool:
    """Whether `row` would rewrite `old` with nothing new but the time and the run."""
    return (old is not None and old.version == row["version"] and old.kek_id == row["kek_id"]
            and old.sha256 == row["sha256"] and bool(old.ok) == row["ok"] and old.content == row["content"]
            and old.details == row["details"])


def write(s: Session, rows: Sequence[dict[str, Any]], old: Mapping[str, Any], run_id: int,
          finished: dt.datetime) -> None:
    """Remember `rows` (full `verify_state` rows); `old` holds the states read before the run.

    Only a row read in this run (checked at `finished`) can be touched: a row kept from an
    earlier run keeps its time.
    """
    touch = [r["record_id"] for r in rows
             if r["checked_at"] == finished and unchanged(old.get(r["record_id"]), r)]
    touched = set(touch)
    replace = [r for r in rows if r["record_id"] not in touched]
    for chunk in _chunks(touch):
        s.execute(update(STATE).where(STATE.c.record_id.in_(chunk)).values(checked_at=finished, run_id=run_id))
    for chunk in _chunks([r["record_id"] for r in replace]):  # a concurrent run may have added one
        s.execute(delete(STATE).where(STATE.c.record_id.in_(chunk)))
    if replace:
        s.execute(STATE.insert(), replace)


def _chunks(ids: list[str]) -> Iterable[list[str]]:
    return (ids[i:i + CHUNK] for i in range(0, len(ids), CHUNK))
