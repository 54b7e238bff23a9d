"""Purpose keys with generations: the blind-index key and the classifier-cache key.

Why: the blind index is a keyed hash of 身份证号 / 手机号 / 银行卡号, so whoever holds its key
and the token table can test guessed numbers; after a suspected leak the key must be
replaceable without touching the audit chain (whose key never changes). Each purpose
therefore has numbered generations in the ``derived_keys`` table:

- generation 1 is today's derivation, HMAC(audit key, "dangan <label> key v1"), so an
  existing archive needs no change;
- every later generation is a fresh random key, stored wrapped under the active KEK like a
  record's data key (re-wrapped by ``keys rotate``), so it no longer depends on the audit key.

States: ``building`` (blind index being rebuilt under it) → ``current`` (what writers and
readers use) → ``previous`` (its tokens still exist until the rebuild's cleanup; lookups use
it too) → ``retired`` (its wrapped key is forgotten).
"""

from __future__ import annotations

import hashlib
import hmac
import os

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dangan.archive import crypto
from dangan.archive.keyring import Keyring
from dangan.archive.models import DerivedKey, utcnow
from dangan.errors import DanganError, NotFound

BLIND_INDEX = "blind-index"
CLASSIFIER_CACHE = "classifier-cache"
PURPOSES = (BLIND_INDEX, CLASSIFIER_CACHE)
_LABELS = {BLIND_INDEX: "blind-index", CLASSIFIER_CACHE: "model"}  # generation 1's derivation labels
KEY_SIZE = 32
_LOCK_RETRIES = 5


def _context(purpose: str, generation: int) -> bytes:
    return f"dangan derived key {purpose} {generation}".encode()


class DerivedKeys:
    """Reads and makes generations; unwrapped keys are cached (a generation's key never changes)."""

    def __init__(self, keyring: Keyring, suite: str) -> None:
        self.keyring = keyring
        self.suite = suite
        self._keys: dict[tuple[str, int], bytes] = {}

    # -- reading ---------------------------------------------------------------------

    def row(self, s: Session, purpose: str, generation: int) -> DerivedKey:
        row = s.get(DerivedKey, (purpose, generation))
        if row is None:
            raise NotFound(f"{purpose} 密钥没有第 {generation} 代")
        return row

    def current(self, s: Session, purpose: str, *, lock: bool = False, exclusive: bool = False) -> int:
        """The current generation. With `lock`, a shared row lock (PostgreSQL) that makes a
        switch of generation wait until this transaction has committed; `exclusive` for
        the one that changes generations."""
        query = select(DerivedKey.generation).where(DerivedKey.purpose == purpose, DerivedKey.state == "current")
        if lock:
            query = query.with_for_update(read=not exclusive)
        for _ in range(_LOCK_RETRIES):  # a switch that committed while we waited: read again
            generation = s.execute(query).scalar_one_or_none()
            if generation is not None:
                return int(generation)
        raise DanganError(f"{purpose} 密钥没有当前代：数据库不完整，请从备份恢复")

    def lookup(self, s: Session, purpose: str) -> list[int]:
        """Generations whose tokens may exist: the current one and, during a rebuild's
        last step, the previous one."""
        rows = s.execute(select(DerivedKey.generation).where(
            DerivedKey.purpose == purpose, DerivedKey.state.in_(("current", "previous")))
            .order_by(DerivedKey.generation.desc())).scalars()
        return [int(g) for g in rows]

    def key(self, s: Session, purpose: str, generation: int) -> bytes:
        """The key of one generation; refused once it is retired (forgotten)."""
        cached = self._keys.get((purpose, generation))
        if cached is not None:
            return cached
        row = self.row(s, purpose, generation)
        if generation == 1:
            if row.state == "retired":
                raise NotFound(f"{purpose} 密钥第 1 代已停用")
            key = hmac.new(self.keyring.audit_key, f"dangan {_LABELS[purpose]} key v1".encode(),
                           hashlib.sha256).digest()
        else:
            if row.wrapped_key is None or row.kek_id is None or row.suite is None:
                raise NotFound(f"{purpose} 密钥第 {generation} 代已停用，密钥已销毁")
            key = crypto.unwrap_dek(row.suite, self.keyring.kek(row.kek_id), row.wrapped_key,
                                    _context(purpose, generation))
        if row.state != "retired":
            self._keys[(purpose, generation)] = key
        return key

    def current_key(self, s: Session, purpose: str) -> tuple[int, bytes]:
        generation = self.current(s, purpose)
        return generation, self.key(s, purpose, generation)

    def kek_ids(self, s: Session) -> set[str]:
        """KEKs that still wrap a purpose key (so `keys rotate` keeps them)."""
        return {k for k in s.execute(select(DerivedKey.kek_id).where(DerivedKey.wrapped_key.is_not(None))
                                     .distinct()).scalars() if k}

    # -- changing (in the caller's transaction) -------------------------------------

    def create(self, s: Session, purpose: str, state: str, actor: str) -> int:
        """A new generation with a fresh random key wrapped under the active KEK."""
        generation = int(s.execute(select(func.max(DerivedKey.generation))
                                   .where(DerivedKey.purpose == purpose)).scalar_one() or 1) + 1
        key = os.urandom(KEY_SIZE)
        kek_id = self.keyring.active_id
        now = utcnow()
        s.add(DerivedKey(purpose=purpose, generation=generation, state=state, suite=self.suite, kek_id=kek_id,
                         wrapped_key=crypto.wrap_dek(self.suite, self.keyring.kek(kek_id), key,
                                                     _context(purpose, generation)),
                         created_at=now, current_at=now if state == "current" else None,
                         created_by=actor, done=0))
        s.flush()
        return generation

    def retire(self, row: DerivedKey) -> None:
        """Forget a generation's key for good (generation 1 is derived: only marked)."""
        row.state = "retired"
        row.retired_at = utcnow()
        row.wrapped_key = None
        row.kek_id = None
        self._keys.pop((row.purpose, row.generation), None)

    def rewrap(self, s: Session, kek_id: str) -> int:
        """Re-wrap every stored purpose key under `kek_id` (part of `keys rotate`)."""
        rows = list(s.execute(select(DerivedKey).where(DerivedKey.wrapped_key.is_not(None),
                                                       DerivedKey.kek_id != kek_id)).scalars())
        new_kek = self.keyring.kek(kek_id)
        for row in rows:
            assert row.wrapped_key is not None and row.kek_id is not None and row.suite is not None
            context = _context(row.purpose, row.generation)
            key = crypto.unwrap_dek(row.suite, self.keyring.kek(row.kek_id), row.wrapped_key, context)
            row.wrapped_key = crypto.wrap_dek(row.suite, new_kek, key, context)
            row.kek_id = kek_id
        return len(rows)
