"""The status a record shows in search: on hold, on loan, or its own `Record.status`.

`Record.status` only knows queued, active and destroyed; a legal hold and a paper
original out on loan live in the retention and loans tables, which search may not import
(imports point inward). So each of those features hands over, through the composition
root, a select of the record ids it marks now, and this module alone applies them — in
order, hold before loan — both to the documents the index gets (a batch at a time, one
query per mark) and to the database-side status filter, so the two always agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from sqlalchemy import Select, and_, false, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from dangan.archive.models import Record

DESTROYED = "destroyed"
#: How the web pages name each status (backend.STATUSES).
LABELS = {"active": "正常", "queued": "待分类", "on_loan": "借出中", "on_hold": "冻结中", "destroyed": "已销毁"}
_CHUNK = 500  # ids per IN list

#: (status, a select of one column: the ids of the records that carry it now).
Mark = tuple[str, Callable[[], Select]]


class RecordStatus:
    """Derives the searchable status from `Record.status` and the marks, first mark wins."""

    def __init__(self, marks: Sequence[Mark]) -> None:
        self.marks = tuple(marks)

    def of(self, s: Session, rows: Iterable[tuple[str, str]]) -> dict[str, str]:
        """Record id → derived status for (id, Record.status) pairs: one query per mark
        and 500 ids, never one per record (a bulk reindex reads 100k records)."""
        out = dict(rows)
        open_ids = [rid for rid, status in out.items() if status != DESTROYED]
        for status, ids_select in self.marks:
            if not open_ids:
                break
            marked_ids = ids_select().subquery()
            column = next(iter(marked_ids.c))
            marked: set[str] = set()
            for start in range(0, len(open_ids), _CHUNK):
                chunk = open_ids[start:start + _CHUNK]
                marked.update(s.execute(select(column).where(column.in_(chunk))).scalars())
            for rid in marked:
                out[rid] = status
            open_ids = [rid for rid in open_ids if rid not in marked]
        return out

    def clause(self, wanted: Iterable[str]) -> ColumnElement[bool]:
        """A WHERE condition on `Record` meaning "its derived status is one of `wanted`"."""
        wanted = list(wanted)
        options: list[ColumnElement[bool]] = []
        marked_by = {status: ids_select for status, ids_select in self.marks}
        earlier: list[ColumnElement[bool]] = []  # "not carrying a mark that wins over this one"
        for status, ids_select in self.marks:
            if status in wanted:
                options.append(and_(Record.status != DESTROYED, Record.id.in_(ids_select()), *earlier))
            earlier.append(Record.id.not_in(ids_select()))
        for status in dict.fromkeys(wanted):
            if status in marked_by:
                continue
            if status == DESTROYED:
                options.append(Record.status == DESTROYED)
            else:
                options.append(and_(Record.status == status, *earlier))
        return or_(*options) if options else false()
