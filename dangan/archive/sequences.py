"""Atomic, never-reused counters (档号 件号, provisional numbers).

One statement bumps and returns the counter (`INSERT … ON CONFLICT DO UPDATE …
RETURNING`), so two writers can never get the same number on SQLite or PostgreSQL.
A number handed out inside a transaction that later rolls back was never assigned to
anything, so the next writer may take it; a committed number is never handed out again.
"""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from dangan.archive.models import Sequence


def next_value(s: Session, scope: str) -> int:
    dialect = s.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(Sequence).values(scope=scope, last=1)
    stmt = stmt.on_conflict_do_update(index_elements=[Sequence.scope],
                                      set_={"last": Sequence.last + 1}).returning(Sequence.last)
    return int(s.execute(stmt).scalar_one())
