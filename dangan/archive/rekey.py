"""New generations of the purpose keys: the blind index rebuilt under a new key, the
classifier cache re-keyed, and the status of every key.

The blind-index rebuild is resumable and crash-safe, in steps each recorded in the
``derived_keys`` rows (see derived_keys.py):

1. a ``building`` generation with a fresh key;
2. every record with text (in 待分类 too; destroyed records have none) gets its tokens
   recomputed from its decrypted text under the new key, written *beside* the old ones
   in batches, each batch committing with the row's cursor — searches meanwhile use the
   old generation, and a rerun resumes after the cursor;
3. the switch: one transaction makes the new generation current and the old one
   ``previous`` (on PostgreSQL it waits for writers that hold the old one, see
   RecordsService._blind_tokens); lookups use both until the cleanup;
4. records still carrying only old tokens (written during the rebuild) are caught up,
   then the old tokens are deleted and the old key is forgotten.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, delete, exists, func, select
from sqlalchemy.orm import Session, aliased

from dangan.archive.audit import AuditLog
from dangan.archive.db import Database
from dangan.archive.derived_keys import BLIND_INDEX, CLASSIFIER_CACHE, PURPOSES, DerivedKeys
from dangan.archive.keyring import Keyring
from dangan.archive.models import AuditEntry, BlindIndex, DerivedKey, Meta, Record, table_of, utcnow
from dangan.archive.permissions import Actor
from dangan.archive.pii import text_tokens
from dangan.archive.records import RecordsService
from dangan.errors import DanganError, PermissionDenied

RIGHT = "keys.rotate"
BATCH = 500
TEXT_SEPARATOR = "\n\f\n"  # how ingest joins a record's pages before looking for numbers


@dataclass
class RekeyReport:
    generation: int
    previous: int
    resumed: bool
    records: int          # records whose text was read under the new key (all runs)
    tokens: int           # tokens under the new key
    caught_up: int        # records written during the rebuild, done after the pass
    removed: int          # old-generation tokens deleted
    seconds: float

    def as_json(self) -> dict:
        return {"generation": self.generation, "previous": self.previous, "resumed": self.resumed,
                "records": self.records, "tokens": self.tokens, "caught_up": self.caught_up,
                "removed": self.removed, "seconds": round(self.seconds, 2)}


class KeysService:
    """Purpose keys: status, blind-index re-keying, classifier-cache rotation."""

    def __init__(self, db: Database, keyring: Keyring, records: RecordsService, audit: AuditLog,
                 forget_cache: Callable[[], None]) -> None:
        self.db = db
        self.keyring = keyring
        self.records = records
        self.keys: DerivedKeys = records.derived
        self.audit = audit
        self.forget_cache = forget_cache  # deletes the cached classifier (an ingest concern)

    def _require(self, actor: Actor, action: str) -> None:
        if not actor.can(RIGHT):
            with self.db.session() as s:
                self.audit.append(s, actor.name, action, None, "denied")
            raise PermissionDenied(f"用户 {actor.name} 无权执行此操作（{action}）。")

    # -- blind index ----------------------------------------------------------------

    def rekey_index(self, actor: Actor, batch: int = BATCH,
                    progress: Callable[[int], None] | None = None) -> RekeyReport:
        """Rebuild every record's blind-index tokens under a new key (see the module doc)."""
        self._require(actor, "keys.rekey_index")
        started = time.perf_counter()
        with self.db.session() as s:
            self.keys.current(s, BLIND_INDEX, lock=True, exclusive=True)  # one start at a time
            # read after the lock (a new snapshot): a generation another run just made is seen
            rows = {r.state: r for r in s.execute(select(DerivedKey).where(
                DerivedKey.purpose == BLIND_INDEX, DerivedKey.state.in_(("building", "current", "previous")))
                .execution_options(populate_existing=True)).scalars()}
            resumed = "building" in rows or "previous" in rows
            if "previous" in rows:  # crashed after the switch: only the cleanup is left
                new, old = rows["current"].generation, rows["previous"].generation
            elif "building" in rows:
                new, old = rows["building"].generation, rows["current"].generation
            else:
                old = rows["current"].generation
                new = self.keys.create(s, BLIND_INDEX, "building", actor.name)
            self.audit.append(s, actor.name, "keys.rekey_index", f"blind-index:{new}", "started",
                              {"generation": new, "previous": old, "resumed": resumed})
        caught = 0
        if "previous" not in rows:
            self._pass(new, batch, progress)
            caught, _ = self._catch_up(old, new)
            self._switch(old, new)
        caught2, _ = self._catch_up(old, new)  # writers that held the old generation
        with self.db.session() as s:
            # Session.execute is typed as Result; a DELETE returns a CursorResult (rowcount).
            deleted = cast(CursorResult[Any], s.execute(delete(BlindIndex).where(BlindIndex.generation == old)))
            removed = deleted.rowcount or 0
            previous = self.keys.row(s, BLIND_INDEX, old)
            if previous.state != "retired":  # (another run may have finished first)
                self.keys.retire(previous)
            tokens = s.execute(select(func.count()).select_from(BlindIndex)
                               .where(BlindIndex.generation == new)).scalar_one()
            report = RekeyReport(new, old, resumed, self.keys.row(s, BLIND_INDEX, new).done, tokens,
                                 caught + caught2, removed, time.perf_counter() - started)
            self.audit.append(s, actor.name, "keys.rekey_index", f"blind-index:{new}", "ok", report.as_json())
        return report

    def _pass(self, new: int, batch: int, progress: Callable[[int], None] | None) -> tuple[int, int]:
        """Step 2: every record with text after the cursor, in id order, batch by batch."""
        records = tokens = 0
        while True:
            with self.db.read() as s:
                cursor = self.keys.row(s, BLIND_INDEX, new).cursor or ""
                recs = list(s.execute(select(Record).where(Record.id > cursor, Record.has_text.is_(True),
                                                           Record.status != "destroyed")
                                      .order_by(Record.id).limit(batch)).scalars())
                key = self.keys.key(s, BLIND_INDEX, new)
            if not recs:
                return records, tokens
            made = {rec.id: self._tokens(key, rec) for rec in recs}
            with self.db.session() as s:
                row = s.execute(select(DerivedKey).where(DerivedKey.purpose == BLIND_INDEX,
                                                         DerivedKey.generation == new)
                                .with_for_update()).scalar_one()
                if (row.cursor or "") != cursor:  # another run did this batch meanwhile
                    continue
                written = self._write(s, new, made)
                row.cursor = recs[-1].id
                row.done += len(recs)
            records += len(recs)
            tokens += written
            if progress is not None:
                progress(records)

    def _tokens(self, key: bytes, rec: Record) -> list[tuple[str, str]]:
        try:
            pages = self.records.read_text_pages(rec)
        except DanganError as exc:
            raise DanganError(f"档案 {rec.archive_no or rec.provisional_no} 的文本无法读取（{exc}）："
                              "请先用 dangan verify 检查并修复；再次运行 keys rekey-index 会从中断处继续。") from None
        return text_tokens(key, TEXT_SEPARATOR.join(str(p.get("text", "")) for p in pages))

    def _write(self, s: Session, generation: int, made: dict[str, list[tuple[str, str]]]) -> int:
        """The tokens of records still not destroyed (locked against a concurrent shred)."""
        alive = set(s.execute(select(Record.id).where(Record.id.in_(list(made)), Record.status != "destroyed")
                              .with_for_update(read=True)).scalars())
        s.execute(delete(BlindIndex).where(BlindIndex.record_id.in_(list(made)),
                                           BlindIndex.generation == generation))
        rows = [{"token": t, "record_id": rid, "kind": k, "generation": generation}
                for rid, pairs in made.items() if rid in alive for k, t in pairs]
        if rows:
            s.execute(table_of(BlindIndex).insert(), rows)
        return len(rows)

    def _catch_up(self, old: int, new: int) -> tuple[int, int]:
        """Records with old-generation tokens and none of the new (ingested during the
        rebuild by a writer holding the old key): their tokens under the new key."""
        newer = aliased(BlindIndex)
        records = tokens = 0
        while True:
            with self.db.read() as s:
                ids = list(s.execute(select(BlindIndex.record_id).distinct().where(
                    BlindIndex.generation == old,
                    ~exists().where(newer.record_id == BlindIndex.record_id, newer.generation == new))
                    .limit(BATCH)).scalars())
                recs = list(s.execute(select(Record).where(Record.id.in_(ids))).scalars())
                key = self.keys.key(s, BLIND_INDEX, new)
            if not recs:
                return records, tokens
            made = {rec.id: self._tokens(key, rec) if rec.has_text else [] for rec in recs}
            with self.db.session() as s:
                tokens += self._write(s, new, made)
                bare = [rid for rid, pairs in made.items() if not pairs]
                if bare:  # old tokens with no text behind them: nothing to carry over
                    s.execute(delete(BlindIndex).where(BlindIndex.record_id.in_(bare),
                                                       BlindIndex.generation == old))
            records += len(recs)

    def _switch(self, old: int, new: int) -> None:
        """Step 3, one transaction: the new generation becomes current."""
        with self.db.session() as s:
            rows = {r.generation: r for r in s.execute(select(DerivedKey).where(
                DerivedKey.purpose == BLIND_INDEX, DerivedKey.generation.in_((old, new)))
                .with_for_update()).scalars()}
            if rows[new].state != "building":  # another run switched already
                return
            rows[old].state = "previous"
            rows[new].state = "current"
            rows[new].current_at = utcnow()

    # -- classifier cache -----------------------------------------------------------

    def rotate_cache(self, actor: Actor) -> dict:
        """A new classifier-cache key; the old one is forgotten, so an old cache entry is
        unreadable (a miss: the model is trained again) and then deleted."""
        self._require(actor, "keys.rotate_cache")
        with self.db.session() as s:
            current = s.execute(select(DerivedKey).where(DerivedKey.purpose == CLASSIFIER_CACHE,
                                                         DerivedKey.state == "current")
                                .with_for_update()).scalar_one()
            old = current.generation
            self.keys.retire(current)
            new = self.keys.create(s, CLASSIFIER_CACHE, "current", actor.name)
            self.audit.append(s, actor.name, "keys.rotate_cache", f"classifier-cache:{new}", "ok",
                              {"generation": new, "previous": old})
        self.forget_cache()
        return {"generation": new, "previous": old}

    # -- status ---------------------------------------------------------------------

    def status(self, actor: Actor) -> dict:
        """Every key's generation and when it last changed (no key material)."""
        self._require(actor, "keys.status")
        ring = self.keyring
        with self.db.read() as s:
            created = s.get(Meta, "created_at")
            since = created.value if created else None
            last_rotate = s.execute(select(AuditEntry.ts).where(AuditEntry.action == "keys.rotate",
                                                                AuditEntry.outcome == "ok")
                                    .order_by(AuditEntry.id.desc()).limit(1)).scalar_one_or_none()
            purposes = {}
            for purpose in PURPOSES:
                rows = list(s.execute(select(DerivedKey).where(DerivedKey.purpose == purpose)
                                      .order_by(DerivedKey.generation)).scalars())
                cur = next(r for r in rows if r.state == "current")
                building = next((r for r in rows if r.state in ("building", "previous")), None)
                purposes[purpose] = {
                    "generation": cur.generation,
                    "since": _iso(cur.current_at) or since,
                    "rotations": len(rows) - 1,
                    "derived_from_audit_key": cur.generation == 1,
                    "unfinished": ({"generation": building.generation, "state": building.state,
                                    "records_done": building.done} if building else None),
                }
        kek_since = ring.created(ring.active_id) if ring.source == "file" else None
        return {
            "kek": {"active": ring.active_id, "source": ring.source, "keys_held": len(ring.ids),
                    "since": kek_since or last_rotate or since},
            "audit": {"fingerprint": ring.audit_fingerprint(), "source": ring.audit_source,
                      "since": since, "rotated": False},
            BLIND_INDEX: purposes[BLIND_INDEX],
            CLASSIFIER_CACHE: purposes[CLASSIFIER_CACHE],
        }


def _iso(value: object) -> str | None:
    return value.isoformat(timespec="seconds") + "Z" if hasattr(value, "isoformat") else None
