"""Shared fixtures: a fresh archive per test on SQLite and on a real PostgreSQL server.

The PostgreSQL server is the private cluster of scripts/postgres.sh (or
$DANGAN_TEST_PG_URL). If it cannot start, the PostgreSQL tests fail with the reason;
they are skipped only when a developer sets DANGAN_SKIP_PG=1 on purpose.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent

PEOPLE = {
    # name: (roles, clearance)
    "wang": (["archivist"], "secret"),
    "li": (["staff"], "internal"),
    "zhao": (["manager"], "confidential"),
    "guest": (["staff"], "public"),
}


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    if os.environ.get("DANGAN_SKIP_PG") == "1":
        pytest.skip("DANGAN_SKIP_PG=1: PostgreSQL tests skipped on request")
    url = os.environ.get("DANGAN_TEST_PG_URL")
    if url:
        return url
    proc = subprocess.run([str(ROOT / "scripts" / "postgres.sh"), "start"], capture_output=True,
                          text=True, timeout=120)
    if proc.returncode != 0:
        pytest.fail(f"PostgreSQL test server did not start: {proc.stderr.strip()}")
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def pg_template(pg_server_url: str) -> str:
    """A migrated database to copy: CREATE DATABASE … TEMPLATE is much faster than migrating."""
    from dangan.archive.db import Database

    name = f"tpl_{os.getpid()}"
    admin = sa.create_engine(pg_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    db = Database(pg_server_url.rsplit("/", 1)[0] + "/" + name)
    db.migrate()
    db.dispose()
    yield name
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    server = request.getfixturevalue("pg_server_url")
    template = request.getfixturevalue("pg_template")
    name = "t_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield server.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture
def home(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "data"
    monkeypatch.setenv("DANGAN_HOME", str(path))
    monkeypatch.setenv("DANGAN_DATABASE_URL", db_url)
    monkeypatch.delenv("DANGAN_KEK", raising=False)
    monkeypatch.delenv("DANGAN_USER", raising=False)
    return path


def _populate(dangan) -> None:
    """One project and a user of each kind, granted by the security officer."""
    sec = dangan.actor("secofficer")
    for name, (roles, clearance) in PEOPLE.items():
        dangan.users.add(sec, name, roles, clearance)
    dangan.projects.add(dangan.actor("root"), "A", "翠湖花园", "residential")


@pytest.fixture
def system(home: Path):
    """An initialised archive with one project and a user of each kind."""
    from dangan.system import init_archive

    dangan, _ = init_archive(home, "root", "secofficer", "audit1")
    _populate(dangan)
    yield dangan
    dangan.close()


@pytest.fixture
def sqlite_system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The same, on SQLite only: for tests about files and crypto, not the database."""
    from dangan.system import init_archive

    path = tmp_path / "data"
    monkeypatch.setenv("DANGAN_HOME", str(path))
    monkeypatch.delenv("DANGAN_DATABASE_URL", raising=False)
    monkeypatch.delenv("DANGAN_KEK", raising=False)
    dangan, _ = init_archive(path, "root", "secofficer", "audit1")
    _populate(dangan)
    yield dangan
    dangan.close()


@pytest.fixture(scope="session")
def minio_server() -> dict[str, str]:
    """The private MinIO of scripts/minio.sh (built once, cached in ~/.cache/dangan):
    endpoint and credentials. It fails with the reason if it cannot start; skipped only when
    a developer sets DANGAN_SKIP_MINIO=1 on purpose."""
    if os.environ.get("DANGAN_SKIP_MINIO") == "1":
        pytest.skip("DANGAN_SKIP_MINIO=1: MinIO tests skipped on request")
    script = str(ROOT / "scripts" / "minio.sh")
    proc = subprocess.run([script, "start"], capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        pytest.fail(f"MinIO test server did not start: {proc.stderr.strip()[-500:]}")
    env = subprocess.run([script, "env"], capture_output=True, text=True, timeout=60, check=True).stdout
    out = {}
    for line in env.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        out[name] = value
    return out


@pytest.fixture
def minio_env(minio_server: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """MinIO's endpoint and credentials in the environment, as a deployment sets them."""
    for name, value in minio_server.items():
        monkeypatch.setenv(name, value)
    return minio_server


@pytest.fixture
def s3_url(minio_env: dict[str, str]) -> str:
    """A fresh bucket's URL (the store creates it on first write)."""
    return f"s3://t-{uuid.uuid4().hex[:16]}"
