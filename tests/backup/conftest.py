"""Backup fixtures: records made quickly, and an empty database for the archive restored
"on another machine" (SQLite in its own data directory, or a new PostgreSQL database)."""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from dangan.archive.records import RecordInput

PASS = "correct horse battery staple"


@pytest.fixture
def add_record(system) -> Callable[..., str]:
    """A record with random original bytes and a text page; returns its 档号."""
    counter = iter(range(10_000))

    def add(title: str = "电梯维修记录", size: int = 5000) -> str:
        n = next(counter)
        data = RecordInput(original_name=f"r{n}.pdf", media_type="application/pdf", title=f"{title} {n}",
                           category="maintenance", location="A-01-001-0101",
                           text_pages=[{"page": 1, "text": f"{title} 第{n}号 电梯门已修复"}])
        return system.records.create(system.actor("wang"), io.BytesIO(os.urandom(size)), data).archive_no

    return add


@pytest.fixture
def other_db(db_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of the same engine as the archive's, for the restored copy."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    server = db_url.rsplit("/", 1)[0] + "/postgres"
    name = "r_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield db_url.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture
def elsewhere(tmp_path: Path, other_db: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The new machine's data directory and database (the environment points at them)."""
    monkeypatch.setenv("DANGAN_DATABASE_URL", other_db)
    monkeypatch.delenv("DANGAN_HOME", raising=False)
    return tmp_path / "restored"
