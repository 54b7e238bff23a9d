"""The audit chain: every edit, deletion or reordering made directly in the database is
found, and the first broken entry is named."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from dangan.archive.audit import AuditLog
from dangan.archive.db import Database

KEY = b"k" * 32


@pytest.fixture
def chain(db_url: str):
    db = Database(db_url)
    db.migrate()
    log = AuditLog(KEY)
    for i in range(1, 7):
        with db.session() as s:
            log.append(s, "wang", "record.view", f"WX-A-01-2024-000{i}", "ok", {"n": i})
    yield db, log
    db.dispose()


def report(db: Database, log: AuditLog):
    with db.session() as s:
        return log.verify(s)


def test_untouched_chain_verifies(chain) -> None:
    db, log = chain
    r = report(db, log)
    assert r.ok and r.entries == 6 and r.first_bad is None and len(r.head) == 64


def test_edited_entry_is_named(chain) -> None:
    db, log = chain
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE id = 3"))
    r = report(db, log)
    assert not r.ok and r.first_bad == 3


def test_edited_detail_is_named(chain) -> None:
    db, log = chain
    with db.engine.begin() as conn:
        conn.execute(text("""UPDATE audit_log SET detail = '{"n": 99}' WHERE id = 5"""))
    assert report(db, log).first_bad == 5


def test_deleted_entry_is_found(chain) -> None:
    db, log = chain
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id = 4"))
    r = report(db, log)
    assert not r.ok and r.first_bad == 5


def test_deleted_last_entry_is_found_against_the_head(chain) -> None:
    db, log = chain
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id = 6"))
    r = report(db, log)
    assert not r.ok and r.first_bad == 6


def test_reordered_entries_are_found(chain) -> None:
    db, log = chain
    # swap the contents of entries 2 and 3 (ids stay in order, rows are reordered)
    with db.engine.begin() as conn:
        rows = {r.id: r for r in conn.execute(text("SELECT * FROM audit_log WHERE id IN (2, 3)"))}
        for dst, src in ((2, 3), (3, 2)):
            r = rows[src]
            conn.execute(text("UPDATE audit_log SET ts=:ts, actor=:actor, action=:action, target=:target,"
                              " outcome=:outcome, detail=:detail, prev_hash=:prev, hash=:hash WHERE id=:id"),
                         {"ts": r.ts, "actor": r.actor, "action": r.action, "target": r.target,
                          "outcome": r.outcome, "detail": r.detail, "prev": r.prev_hash,
                          "hash": r.hash, "id": dst})
    r = report(db, log)
    assert not r.ok and r.first_bad == 2


def test_recomputed_plain_hash_cannot_forge_the_chain(chain) -> None:
    """Someone with database access but without the audit key cannot rebuild the chain."""
    db, _ = chain
    forged = AuditLog(b"x" * 32)
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log"))
        conn.execute(text("DELETE FROM audit_head"))
    for i in range(3):
        with db.session() as s:
            forged.append(s, "mallory", "record.view", None, "ok", {"n": i})
    r = report(db, AuditLog(KEY))
    assert not r.ok and r.first_bad == 1


def test_appends_continue_the_chain_after_verify(chain) -> None:
    db, log = chain
    with db.session() as s:
        log.append(s, "li", "search", None, "ok", {"q": "电梯"})
    r = report(db, log)
    assert r.ok and r.entries == 7
