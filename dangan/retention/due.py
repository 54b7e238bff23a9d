"""The due list (到期档案) and the monthly due report: counted in SQL over a covering index,
with the few records appraisal or an event changed adjusted in Python.

The rows come from one ordered query merged with those changed records; `due` slices a page
(or takes everything) from it and `due_stream` hands the same rows out one at a time, so a
page is always a piece of the full list and the full list of a million-record archive is
never built in memory."""

from __future__ import annotations

import datetime as dt
import heapq
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from itertools import chain, islice
from typing import Any

from sqlalchemy import ColumnElement, Row, String, and_, func, null, or_, select, type_coerce
from sqlalchemy.orm import Session

from dangan.archive import codes as codes_mod
from dangan.archive.models import Record
from dangan.archive.permissions import LEVELS, Actor
from dangan.errors import InvalidInput
from dangan.retention.base import (
    ServiceBase,
    _chunks,
    _iso,
)
from dangan.retention.models import (
    RetentionState,
)
from dangan.retention.schedule import effective, schedule_rows

STREAM_CHUNK = 5000  # rows per database fetch and per loans lookup when the whole list streams

# id, archive_no, title, category, location, year, date (ISO), period, until (ISO), paper box, decision
DueRow = Sequence[Any]  # a database Row or a tuple built from a changed record
_ROW_COLS = (Record.id, Record.archive_no, Record.title, Record.category, Record.location, Record.year,
             Record.doc_date, Record.retention_period, Record.retention_until, Record.custody)


def _order(r: DueRow) -> tuple:
    """The list's order, the query's ORDER BY in Python: due date, document date, category,
    location, year, id (dates as ISO text, which sorts as the dates do)."""
    return (r[8], r[6] or "", r[3] or "", r[4] or "", r[5] or 0, r[0])


# a listed record: what `due` returns as a dict and `due_stream` hands out as a tuple
FIELDS = ("archive_no", "title", "category", "location", "year", "date", "period", "until", "paper_box",
          "decision", "holds", "on_loan")


def _fields(r: DueRow, held: dict[str, list[str]], loans: dict[str, str]) -> tuple:
    return (*r[1:11], held.get(r[0], []), loans.get(r[0]))


def _records(rows: list[DueRow], held: dict[str, list[str]], loans: dict[str, str]) -> list[dict]:
    """The rows as `due` returns them: one dict of FIELDS each."""
    return [dict(zip(FIELDS, _fields(r, held, loans), strict=True)) for r in rows]


class DueList(ServiceBase):
    # -- schedule and due list -----------------------------------------------------

    def schedule(self) -> list[dict]:
        return schedule_rows(self.scheme)

    def _visible(self, actor: Actor) -> ColumnElement[bool]:
        levels = [name for name, level in LEVELS.items() if level <= actor.level]
        cond: ColumnElement[bool] = Record.security.in_(levels)
        if actor.categories is not None:
            cond = and_(cond, Record.category.in_(sorted(actor.categories)))
        return cond

    def _filters(self, category: str | None, location: str | None, year: int | None) -> list:
        conds = []
        if category:
            conds.append(Record.category == self.scheme.category(category).key)
        if location:
            prefix = str(codes_mod.parse_location(location, self.scheme.codes))
            conds.append(or_(Record.location == prefix, Record.location.like(prefix + "-%")))
        if year:
            conds.append(Record.year == year)
        return conds

    def _row_filter(self, actor: Actor, category: str | None, location: str | None,
                    year: int | None) -> Callable[[Any], bool]:
        cat = self.scheme.category(category).key if category else None
        prefix = str(codes_mod.parse_location(location, self.scheme.codes)) if location else None

        def keep(r: Any) -> bool:
            return (r.status == "active" and actor.may_see(r.security, r.category)
                    and (cat is None or r.category == cat) and (year is None or r.year == year)
                    and (prefix is None or (r.location or "") == prefix
                         or (r.location or "").startswith(prefix + "-")))

        return keep

    def _iso(self, column: Any, name: str) -> Any:
        """A date column as its ISO text, straight from the database: no date object and no
        formatting per row when hundreds of thousands of rows are listed."""
        if self.db.dialect == "postgresql":
            return func.to_char(column, "YYYY-MM-DD").label(name)
        return type_coerce(column, String).label(name)  # SQLite keeps dates as ISO text

    def _estate(self) -> ColumnElement[str]:
        """The project segment of the location code (the estate), in SQL."""
        if self.db.dialect == "postgresql":
            return func.split_part(Record.location, "-", 1)
        return func.substr(Record.location, 1, func.instr(Record.location + "-", "-") - 1)

    def due(self, actor: Actor, as_of: dt.date | None = None, category: str | None = None,
            location: str | None = None, year: int | None = None, offset: int = 0,
            limit: int | None = None, audit: bool = True) -> dict:
        """Records whose retention has run out by `as_of` (default today), with counts per
        category, estate and year, and how many records have no trigger date.

        The database counts the records the scheme made due (an index on status and
        due date); the few records appraisal or an event changed are adjusted in Python.
        A page is a slice of the same ordered rows `due_stream` writes out."""
        self._require(actor, "retention.read")
        as_of = as_of or dt.date.today()
        with self.db.read() as s:
            head, rows, held = self._listing(s, actor, as_of, category, location, year,
                                             None if limit is None else offset + limit)
            page = list(islice(rows, offset, None if limit is None else offset + limit))
        loans = self.on_loan([r[0] for r in page]) if page else {}
        if audit:
            self._audit_due(actor, as_of, category, location, year, head["total"])
        return {**head, "records": _records(page, held, loans)}

    @contextmanager
    def due_stream(self, actor: Actor, as_of: dt.date | None = None, category: str | None = None,
                   location: str | None = None, year: int | None = None,
                   chunk: int = STREAM_CHUNK) -> Iterator[tuple[dict, Iterator[tuple]]]:
        """The whole due list without building it: the head (`due` without "records") and
        the records in `due`'s order as tuples of FIELDS (no dict per row), read from the
        database while they are written out, so the full list of a million-record archive
        costs no memory per row. The read transaction stays open inside the `with`."""
        self._require(actor, "retention.read")
        as_of = as_of or dt.date.today()
        with self.db.read() as s:
            head, rows, held = self._listing(s, actor, as_of, category, location, year, None)
            self._audit_due(actor, as_of, category, location, year, head["total"])
            yield head, self._with_loans(rows, held, chunk)

    def _with_loans(self, rows: Iterator[DueRow], held: dict[str, list[str]], chunk: int) -> Iterator[tuple]:
        """The rows as FIELDS tuples, asking the loans service about `chunk` records at a time."""
        while block := list(islice(rows, chunk)):
            loans = self.on_loan([r[0] for r in block])
            yield from [_fields(r, held, loans) for r in block]

    def _audit_due(self, actor: Actor, as_of: dt.date, category: str | None, location: str | None,
                   year: int | None, total: int) -> None:
        with self.db.session() as s:
            self.audit.append(s, actor.name, "retention.due", None, "ok",
                              {"as_of": as_of, "category": category, "location": location,
                               "year": year, "total": total})

    def _listing(self, s: Session, actor: Actor, as_of: dt.date, category: str | None, location: str | None,
                 year: int | None, want: int | None) -> tuple[dict, Iterator[DueRow], dict[str, list[str]]]:
        """The head (as_of, total, no_trigger, counts), the due rows in order (the first `want`
        of them, or all) and the active holds by record id."""
        conds = [Record.status == "active", self._visible(actor), *self._filters(category, location, year)]
        plain = [Record.retention_until <= as_of, Record.doc_date.is_not(None)]
        counts: dict[str, Counter] = {"category": Counter(), "estate": Counter(), "year": Counter()}
        keep = self._row_filter(actor, category, location, year)
        # driven from retention_state (few rows), so the planner never walks all records
        state_ids = list(s.execute(select(RetentionState.record_id)).scalars())
        changed: list[Row[*tuple[Any, ...]]] = []
        for chunk in _chunks(state_ids):  # filtered here: a status condition makes SQLite walk the index
            changed.extend(r for r in s.execute(select(
                *_ROW_COLS, RetentionState.event_date, RetentionState.until, RetentionState.permanent,
                RetentionState.decision, Record.status, Record.security).join(
                RetentionState, RetentionState.record_id == Record.id).where(Record.id.in_(chunk))) if keep(r))
        estate = self._estate()
        for cat, est, yr, n in s.execute(select(Record.category, estate, Record.year, func.count())
                                         .where(*conds, *plain).group_by(Record.category, estate, Record.year)):
            counts["category"][cat] += n
            counts["estate"][est] += n
            counts["year"][yr] += n
        # records without a date are few: read them through their partial index (any other
        # condition tempts the planner onto the covering index) and filter here; permanent
        # records (no due date) are not "without a trigger"
        no_trigger = sum(1 for r in s.execute(select(  # (ingested_at: not in the covering index, so
            Record.retention_until, Record.category, Record.location, Record.year,  # SQLite keeps off it)
            Record.security, Record.status, Record.ingested_at).where(Record.status == "active",
                                                                      Record.doc_date.is_(None)))
            if r.retention_until is not None and keep(r))
        extra: list[DueRow] = []
        for r in changed:
            eff = effective(self.scheme, r.category, r.doc_date, r.retention_until, r.event_date,
                            r.until, r.permanent)
            was = r.retention_until is not None and r.doc_date is not None and r.retention_until <= as_of
            now = eff.until is not None and eff.until <= as_of
            no_trigger -= int(r.doc_date is None and r.retention_until is not None and not eff.no_trigger)
            for sign, flag in ((-1, was), (1, now)):
                if flag:
                    counts["category"][r.category] += sign
                    counts["estate"][(r.location or "").split("-", 1)[0]] += sign
                    counts["year"][r.year] += sign
            if now:
                extra.append((*r[:6], _iso(r.doc_date), r.retention_period, _iso(eff.until), r.custody,
                              r.decision))
        skip = {r.id for r in changed}
        # ordered by columns of the covering index (then id, so ties never change places between
        # pages), so a page needs no sort of every due row
        query = select(*_ROW_COLS[:6], self._iso(Record.doc_date, "doc_date"), Record.retention_period,
                       self._iso(Record.retention_until, "until"), Record.custody, null().label("decision")).where(
            *conds, *plain).order_by(Record.retention_until, Record.doc_date, Record.category, Record.location,
                                     Record.year, Record.id)
        held = self._held_map(s)  # before the rows' cursor opens: it may be a server-side one
        if want is None:
            query = query.execution_options(yield_per=STREAM_CHUNK)  # a server-side cursor on PostgreSQL
        else:
            query = query.limit(want + len(skip))
        rows: Iterator[DueRow] = chain.from_iterable(s.connection().execute(query).partitions())
        if skip:
            rows = (r for r in rows if r[0] not in skip)
        if extra:
            rows = heapq.merge(rows, sorted(extra, key=_order), key=_order)
        head = {"as_of": as_of.isoformat(), "total": sum(counts["category"].values()), "no_trigger": no_trigger,
                "counts": {k: {str(key): n for key, n in sorted(v.items(), key=lambda kv: str(kv[0])) if n}
                           for k, v in counts.items()}}
        return head, rows, held

    def report(self, actor: Actor, month: str) -> dict:
        """What falls due in one calendar month (YYYY-MM): the monthly due report."""
        try:
            first = dt.date.fromisoformat(month + "-01")
        except ValueError:
            raise InvalidInput(f"月份 {month!r} 无效：应为 YYYY-MM。") from None
        last = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
        self._require(actor, "retention.read")
        with self.db.read() as s:  # the rows due by the month's end; only the month's own become records
            head, rows, held = self._listing(s, actor, last, None, None, None, None)
            month_rows = [r for r in rows if r[8] >= first.isoformat()]
        loans = self.on_loan([r[0] for r in month_rows]) if month_rows else {}
        data = {**head, "records": _records(month_rows, held, loans)}
        data["month"] = month
        data["falling_due"] = len(data["records"])
        with self.db.session() as s:
            self.audit.append(s, actor.name, "retention.report", month, "ok",
                              {"falling_due": data["falling_due"], "total_due": data["total"]})
        return data
