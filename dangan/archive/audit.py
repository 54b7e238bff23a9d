"""The tamper-evident audit trail.

Each entry carries the hash of the one before; the hash is an HMAC under the keyring's
audit key, so someone who can edit the database cannot recompute a consistent chain
after changing, deleting or reordering rows. `verify` walks the chain and names the
first entry that does not fit. Appends take the single `audit_head` row for update, so
concurrent writers queue instead of forking the chain (SQLite's BEGIN IMMEDIATE gives
the same guarantee there).

Cutting entries off the end cannot be told from a shorter history by the database alone;
auditors export the head hash (`dangan audit verify --json`) and compare it later.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from dangan.archive.models import AuditEntry, AuditHead, table_of

GENESIS = "0" * 64
_LOG = table_of(AuditEntry)
_HEAD = table_of(AuditHead)
_SELECT_HEAD = select(_HEAD.c.last_id, _HEAD.c.last_hash).where(_HEAD.c.id == 1).with_for_update()
_INSERT_ENTRY = _LOG.insert()
_UPDATE_HEAD = _HEAD.update().where(_HEAD.c.id == 1).values(last_id=bindparam("new_id"),
                                                              last_hash=bindparam("new_hash"))


def _canonical(entry_id: int, ts: str, actor: str, action: str, target: str | None,
               outcome: str, detail: str) -> bytes:
    return json.dumps([entry_id, ts, actor, action, target, outcome, detail],
                      ensure_ascii=False, separators=(",", ":")).encode()


def entry_hash(key: bytes, prev_hash: str, entry_id: int, ts: str, actor: str, action: str,
               target: str | None, outcome: str, detail: str) -> str:
    body = _canonical(entry_id, ts, actor, action, target, outcome, detail)
    return hmac.new(key, prev_hash.encode() + body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    entries: int
    head: str
    first_bad: int | None
    reason: str | None = None

    def as_json(self) -> dict:
        return {"ok": self.ok, "entries": self.entries, "head": self.head,
                "first_bad": self.first_bad, "reason": self.reason}


class AuditLog:
    """Appends entries inside the caller's transaction and verifies the chain."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def append(self, session: Session, actor: str, action: str, target: str | None = None,
               outcome: str = "ok", detail: dict | None = None) -> int:
        """Add one entry inside the caller's transaction; returns its id.

        Prebuilt Core statements: this runs once for every action in the system."""
        conn = session.connection()
        head = conn.execute(_SELECT_HEAD).first()
        if head is None:
            conn.execute(_HEAD.insert(), {"id": 1, "last_id": 0, "last_hash": GENESIS})
            last_id, last_hash = 0, GENESIS
        else:
            last_id, last_hash = head
        entry_id = last_id + 1
        ts = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
        detail_text = json.dumps(detail or {}, ensure_ascii=False, sort_keys=True, default=str)
        digest = entry_hash(self._key, last_hash, entry_id, ts, actor, action, target, outcome, detail_text)
        conn.execute(_INSERT_ENTRY, {"id": entry_id, "ts": ts, "actor": actor, "action": action,
                                     "target": target, "outcome": outcome, "detail": detail_text,
                                     "prev_hash": last_hash, "hash": digest})
        conn.execute(_UPDATE_HEAD, {"new_id": entry_id, "new_hash": digest})
        return entry_id

    def verify(self, session: Session) -> ChainReport:
        """Walk every entry in id order; report the first whose link or hash fails."""
        prev_hash = GENESIS
        expected_id = 1
        count = 0
        rows = session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars()
        for row in rows.yield_per(2000):
            count += 1
            if row.id != expected_id:
                return ChainReport(False, count, prev_hash, row.id,
                                   f"第 {expected_id} 条记录缺失（下一条是 {row.id}）")
            if row.prev_hash != prev_hash:
                return ChainReport(False, count, prev_hash, row.id,
                                   f"第 {row.id} 条的前序哈希与上一条不符（记录被删除或调换）")
            digest = entry_hash(self._key, row.prev_hash, row.id, row.ts, row.actor, row.action,
                                row.target, row.outcome, row.detail)
            if not hmac.compare_digest(digest, row.hash):
                return ChainReport(False, count, prev_hash, row.id,
                                   f"第 {row.id} 条的内容与其哈希不符（记录被修改）")
            prev_hash = row.hash
            expected_id += 1
        head = session.get(AuditHead, 1)
        if head is not None and (head.last_id != expected_id - 1 or head.last_hash != prev_hash):
            bad = min(head.last_id, expected_id)
            return ChainReport(False, count, prev_hash, bad,
                               f"日志末尾与链头不符：链头记录到第 {head.last_id} 条（记录被删除）")
        return ChainReport(True, count, prev_hash, None)

    @staticmethod
    def entries(session: Session, action: str | None = None, since: dt.date | None = None,
                actor: str | None = None, target: str | None = None,
                limit: int | None = None) -> Iterator[AuditEntry]:
        query = select(AuditEntry).order_by(AuditEntry.id)
        if action:
            query = query.where(AuditEntry.action == action)
        if since:
            query = query.where(AuditEntry.ts >= since.isoformat())
        if actor:
            query = query.where(AuditEntry.actor == actor)
        if target:
            query = query.where(AuditEntry.target == target)
        if limit:
            query = query.order_by(None).order_by(AuditEntry.id.desc()).limit(limit)
            return iter(reversed(list(session.execute(query).scalars())))
        return session.execute(query).scalars().yield_per(2000)
