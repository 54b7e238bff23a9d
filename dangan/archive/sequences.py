"""Atomic, never-reused counters (档号 件号, provisional numbers).

One statement bumps and returns the counter (`INSERT … ON CONFLICT DO UPDATE …
RETURNING`), so two writers can never get the same number on SQLite or PostgreSQL.
A number handed out inside a transaction that later rolls back was never assigned to
anything, so the next writer may take it; a committed number is never handed out again.
"""

from __future__ import annotations

from sqlalchemy import bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningInsert

from dangan.archive.models import Sequence, table_of


def _statement(dialect: str) -> ReturningInsert[int]:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table_of(Sequence)).values(scope=bindparam("scope"), last=1)
    return stmt.on_conflict_do_update(index_elements=["scope"],
                                      set_={"last": table_of(Sequence).c.last + 1}).returning(
        table_of(Sequence).c.last)


_STATEMENTS = {name: _statement(name) for name in ("sqlite", "postgresql")}


def next_value(s: Session, scope: str) -> int:
    conn = s.connection()
    return int(conn.execute(_STATEMENTS[conn.dialect.name], {"scope": scope}).scalar_one())
