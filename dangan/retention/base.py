"""What every part of the retention service shares: the constants, the injected hooks,
rights checks and the lookups used across due list, appraisal, holds and destruction."""

from __future__ import annotations

import datetime as dt
import os
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from typing import Any, NoReturn

from sqlalchemy import select
from sqlalchemy.orm import Session

from dangan.archive.audit import AuditLog
from dangan.archive.db import Database
from dangan.archive.models import Record
from dangan.archive.permissions import RIGHT_NAMES, Actor
from dangan.archive.records import RecordsService
from dangan.archive.scheme import Scheme
from dangan.archive.storage import ObjectStore
from dangan.errors import Conflict, NotFound, PermissionDenied
from dangan.retention.models import (
    DestructionBatch,
    Hold,
    HoldItem,
    RetentionState,
)
from dangan.retention.schedule import Effective, effective

DECISIONS = ("destroy", "extend", "permanent")
DECISION_NAMES = {"destroy": "销毁", "extend": "延长保管", "permanent": "永久保管"}
STATES = {"draft": "待审批", "approved": "已审批", "executing": "执行中", "executed": "已销毁"}
SUPERVISOR_ROLES = frozenset({"manager", "archivist", "auditor"})
CHUNK = int(os.environ.get("DANGAN_DESTROY_CHUNK", "200"))
PURGE_THREADS = 8
IN_CHUNK = 500

OnLoan = Callable[[Collection[str]], dict[str, str]]
IndexGetter = Callable[[], Any]


def no_loans(record_ids: Collection[str]) -> dict[str, str]:
    return {}


def _chunks(items: list, size: int = IN_CHUNK) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _iso(value: dt.date | dt.datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="seconds")
    return value.isoformat()


class ServiceBase:
    def __init__(self, db: Database, store: ObjectStore, audit: AuditLog, records: RecordsService,
                 scheme: Scheme, on_loan: OnLoan = no_loans, index: IndexGetter | None = None,
                 search: Callable[[Actor, str, int, int], list[str]] | None = None) -> None:
        self.db = db
        self.store = store
        self.audit = audit
        self.records = records
        self.scheme = scheme
        self.on_loan = on_loan
        self.index = index  # returns the search backend (or raises when it cannot be reached)
        self.search = search  # a saved search → 档号 (for holds by query)

    # -- rights ---------------------------------------------------------------------

    def _require(self, actor: Actor, right: str, target: str | None = None) -> None:
        if actor.can(right):
            return
        message = f"用户 {actor.name} 没有“{RIGHT_NAMES.get(right, right)}”的权限。"
        with self.db.session() as s:
            self.audit.append(s, actor.name, right, target, "denied", {"reason": message})
        raise PermissionDenied(message)

    def _refuse(self, actor: Actor, action: str, target: str | None, message: str,
                exc: type[Exception] = Conflict) -> NoReturn:
        """Audit the refusal, then raise: callers rely on it never returning."""
        with self.db.session() as s:
            self.audit.append(s, actor.name, action, target, "refused", {"reason": message})
        raise exc(message)

    # -- shared lookups ---------------------------------------------------------

    def _states(self, s: Session, ids: Collection[str]) -> dict[str, RetentionState]:
        out: dict[str, RetentionState] = {}
        for chunk in _chunks(list(ids)):
            out.update((st.record_id, st) for st in s.execute(
                select(RetentionState).where(RetentionState.record_id.in_(chunk))).scalars())
        return out

    def _effective(self, rec: Record, st: RetentionState | None) -> Effective:
        return effective(self.scheme, rec.category, rec.doc_date, rec.retention_until,
                         st.event_date if st else None, st.until if st else None,
                         bool(st and st.permanent))
    def _held_map(self, s: Session, ids: Collection[str] | None = None) -> dict[str, list[str]]:
        query = select(HoldItem.record_id, Hold.name).join(Hold, Hold.id == HoldItem.hold_id).where(
            Hold.released_at.is_(None))
        out: dict[str, list[str]] = defaultdict(list)
        if ids is None:
            for rid, name in s.execute(query):
                out[rid].append(name)
            return dict(out)
        for chunk in _chunks(list(ids)):
            for rid, name in s.execute(query.where(HoldItem.record_id.in_(chunk))):
                out[rid].append(name)
        return dict(out)
    def _batch(self, s: Session, batch_id: str) -> DestructionBatch:
        batch = s.get(DestructionBatch, batch_id)
        if batch is None:
            raise NotFound(f"销毁清册 {batch_id!r} 不存在。")
        return batch

