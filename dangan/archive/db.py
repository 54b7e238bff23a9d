"""Engine and sessions: SQLite (WAL) by default, PostgreSQL with the same code.

SQLite gets `BEGIN IMMEDIATE` for every transaction so that writers queue instead of
failing half-way with "database is locked" when they upgrade a read lock; PostgreSQL
gets row locks from `SELECT … FOR UPDATE` where the services need them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from dangan.errors import DanganError

_local = threading.local()
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"  # dangan/migrations


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
            dbapi_conn.isolation_level = None  # let SQLAlchemy's "begin" event emit BEGIN
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            readonly = conn.get_execution_options().get("dangan_readonly")
            conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

        return engine
    try:
        return create_engine(url, pool_pre_ping=True)
    except Exception as exc:  # bad URL, missing driver
        raise DanganError(f"无法连接数据库：{type(exc).__name__}。请检查 DANGAN_DATABASE_URL。") from None


class Database:
    """Owns the engine and hands out transactional sessions."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._readers = sessionmaker(self.engine.execution_options(dangan_readonly=True),
                                     expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back on any error.

        A second write transaction opened inside the first on the same thread would wait
        for itself on SQLite; it is refused at once instead."""
        if getattr(_local, "writing", False):
            raise RuntimeError("nested write transaction on one thread")
        _local.writing = True
        try:
            with self._sessions() as session, session.begin():
                yield session
        finally:
            _local.writing = False

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only transaction: on SQLite it does not queue behind writers (WAL)."""
        with self._readers() as session, session.begin():
            yield session

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (idempotent)."""
        from alembic import command  # here, not at the top: only init/upgrade pay for alembic
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["engine"] = self.engine
        command.upgrade(cfg, "heads")  # one head per feature package

    def is_initialised(self) -> bool:
        """An archive lives here: the schema exists and `init` recorded its creation."""
        if not inspect(self.engine).has_table("meta"):
            return False
        with self.read() as s:
            return s.execute(text("SELECT 1 FROM meta WHERE key = 'created_at'")).first() is not None

    def dispose(self) -> None:
        self.engine.dispose()
