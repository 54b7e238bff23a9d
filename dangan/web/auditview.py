"""The auditor's views of the trail: filtered pages, the search-query log and CSV export.
Reading the log is itself audited."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Select, func, select

from dangan.archive.models import AuditEntry
from dangan.archive.permissions import Actor
from dangan.errors import InvalidInput, PermissionDenied

if TYPE_CHECKING:
    from dangan.system import Dangan

COLUMNS = ("id", "ts", "actor", "action", "target", "outcome", "detail", "hash")


@dataclass
class Filters:
    actor: str | None = None
    action: str | None = None
    target: str | None = None
    outcome: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> Filters:
        def day(name: str) -> dt.date | None:
            raw = (args.get(name) or "").strip()
            if not raw:
                return None
            try:
                return dt.date.fromisoformat(raw)
            except ValueError:
                raise InvalidInput(f"日期 {name} 无效：应为 YYYY-MM-DD。") from None

        def text(name: str) -> str | None:
            raw = (args.get(name) or "").strip()
            return raw[:200] or None

        return cls(actor=text("actor"), action=text("action"), target=text("target"),
                   outcome=text("outcome"), date_from=day("date_from"), date_to=day("date_to"))

    def as_dict(self) -> dict:
        return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in self.__dict__.items() if v}


def _require(system: Dangan, actor: Actor, right: str) -> None:
    if not actor.can(right):
        with system.db.session() as s:
            system.audit.append(s, actor.name, right, None, "denied")
        raise PermissionDenied(f"用户 {actor.name} 无权查看审计日志。")


def _query(f: Filters) -> Select:
    q = select(AuditEntry)
    if f.actor:
        q = q.where(AuditEntry.actor == f.actor)
    if f.action:
        q = q.where(AuditEntry.action.like(f.action.replace("%", "").replace("*", "%")) if "*" in f.action
                    else AuditEntry.action == f.action)
    if f.target:
        q = q.where(AuditEntry.target == f.target)
    if f.outcome:
        q = q.where(AuditEntry.outcome == f.outcome)
    if f.date_from:
        q = q.where(AuditEntry.ts >= f.date_from.isoformat())
    if f.date_to:
        q = q.where(AuditEntry.ts < (f.date_to + dt.timedelta(days=1)).isoformat())
    return q


def _row(e: AuditEntry) -> dict:
    try:
        detail = json.loads(e.detail)
    except ValueError:
        detail = e.detail
    return {"id": e.id, "ts": e.ts, "actor": e.actor, "action": e.action, "target": e.target,
            "outcome": e.outcome, "detail": detail, "hash": e.hash}


def page(system: Dangan, actor: Actor, f: Filters, offset: int = 0, limit: int = 50) -> tuple[int, list[dict]]:
    """Newest first."""
    _require(system, actor, "audit.read")
    q = _query(f)
    with system.db.session() as s:
        total = s.execute(select(func.count()).select_from(q.subquery())).scalar_one()
        rows = [_row(e) for e in s.execute(q.order_by(AuditEntry.id.desc()).offset(offset).limit(limit)).scalars()]
        system.audit.append(s, actor.name, "audit.read", None, "ok", {**f.as_dict(), "rows": len(rows)})
    return total, rows


def search_log(system: Dangan, actor: Actor, f: Filters, offset: int = 0, limit: int = 50) -> tuple[int, list[dict]]:
    f.action = "search"
    return page(system, actor, f, offset, limit)


def export_csv(system: Dangan, actor: Actor, f: Filters) -> Iterator[str]:
    """The filtered log, oldest first, as CSV text (with a BOM so spreadsheet programs
    read the Chinese), ending with the chain head for later comparison."""
    _require(system, actor, "audit.read")
    with system.db.session() as s:
        system.audit.append(s, actor.name, "audit.export", None, "ok", f.as_dict())

    def rows() -> Iterator[str]:
        buf = io.StringIO()
        writer = csv.writer(buf)
        buf.write("\ufeff")
        writer.writerow(COLUMNS)
        with system.db.read() as s:
            for e in s.execute(_query(f).order_by(AuditEntry.id)).scalars().yield_per(2000):
                writer.writerow([e.id, e.ts, e.actor, e.action, e.target or "", e.outcome, e.detail, e.hash])
                if buf.tell() > 64 * 1024:
                    yield buf.getvalue()
                    buf.seek(0)
                    buf.truncate()
        yield buf.getvalue()

    return rows()
