"""Faults survived, against real servers: the object store going away in the middle of a
batch. Runs its own MinIO (scripts/minio.sh with a private folder and port) so stopping it
disturbs no other test."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from dangan.archive.models import Record
from dangan.ingest import pipeline
from dangan.ingest.models import IngestJob
from dangan.ingest.pipeline import IngestPipeline
from dangan.system import init_archive
from dangan.worker.loop import Worker
from tests.conftest import _populate
from tests.worker.test_worker import repair_pdfs

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = str(ROOT / "scripts" / "minio.sh")


@pytest.fixture
def own_minio(tmp_path: Path, minio_server: dict[str, str]) -> Iterator[dict[str, str]]:
    """A second MinIO (the shared build) that this test may stop and start."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    env = dict(os.environ, DANGAN_MINIO_DIR=str(tmp_path / "minio"), DANGAN_MINIO_PORT=str(port))

    def run(verb: str) -> str:
        return subprocess.run([SCRIPT, verb], env=env, capture_output=True, text=True, check=True,
                              timeout=120).stdout

    run("start")
    lines = dict(x.removeprefix("export ").split("=", 1) for x in run("env").splitlines())
    yield {**lines, "_run": run}  # type: ignore[dict-item]
    run("stop")


def test_object_store_outage_mid_batch_jobs_wait_and_finish_when_it_returns(
        own_minio, home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    run = own_minio["_run"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", own_minio["AWS_ACCESS_KEY_ID"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", own_minio["AWS_SECRET_ACCESS_KEY"])
    monkeypatch.setenv("DANGAN_STORAGE_URL",
                       f"s3://fault?endpoint={own_minio['DANGAN_S3_ENDPOINT']}&retries=1&backoff=0.05")
    system, _ = init_archive(home, "root", "secofficer", "audit1")
    try:
        _populate(system)
        IngestPipeline(system).add_batch(system.actor("wang"), repair_pdfs(tmp_path, 2), "queue")
        assert Worker(system, processes=1).run(once=True).jobs == 2  # the store works

        IngestPipeline(system).add_batch(system.actor("wang"), repair_pdfs(tmp_path, 4, start=2), "queue")
        run("stop")
        monkeypatch.setattr(pipeline, "MAX_ATTEMPTS", 2)  # so that a few rounds outlast it
        worker = Worker(system, processes=1, poll=0.05)
        stats = worker.run(max_rounds=4)  # an outage longer than the attempts allowed
        assert stats.jobs == 0 and any("无法访问" in e for e in stats.errors)
        with system.db.read() as s:
            jobs = list(s.execute(select(IngestJob).where(IngestJob.batch_id == 2)).scalars())
        assert "rejected" not in [j.state for j in jobs] and len(jobs) == 4  # waiting, not refused
        assert max(j.attempts for j in jobs) <= 1  # waiting for the store is not a failed attempt

        run("start")
        stats = Worker(system, processes=1).run(once=True)
        assert stats.jobs == 4
        with system.db.read() as s:
            jobs = list(s.execute(select(IngestJob)).scalars())
            records = list(s.execute(select(Record)).scalars())
        assert [j.state for j in jobs] == ["done"] * 6
        assert len(records) == 6 and len({r.sha256 for r in records}) == 6  # nothing lost or twice
        assert sorted(system.store.keys("records/")) == sorted(
            f"records/{r.id}/{k}" for r in records for k in ("original", "text"))
        assert all(r["ok"] for r in system.records.verify(system.actor("audit1")))
    finally:
        system.close()


@pytest.fixture
def own_postgres(tmp_path: Path, pg_server_url: str) -> Iterator[tuple[str, object]]:
    """A private PostgreSQL cluster (scripts/postgres.sh in a temp folder, on its own port)
    that this test may stop and start."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    # Not under pytest's temp root: a pytest session starting elsewhere resets that to 0700,
    # and the cluster belongs to the 'postgres' user when run as root.
    folder = tempfile.mkdtemp(prefix="dangan-test-pg-")
    env = dict(os.environ, DANGAN_PG_DIR=str(Path(folder) / "pg"), DANGAN_PG_PORT=str(port))
    script = str(ROOT / "scripts" / "postgres.sh")

    def run(verb: str) -> str:
        proc = subprocess.run([script, verb], env=env, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            pytest.fail(f"scripts/postgres.sh {verb} failed: {proc.stderr.strip()[-800:]}")
        return proc.stdout.strip()

    url = run("start").splitlines()[-1]
    yield url, run
    subprocess.run([script, "stop"], env=env, capture_output=True, timeout=300)
    shutil.rmtree(folder, ignore_errors=True)


def test_postgres_restart_mid_queue_workers_reconnect_and_finish(
        own_postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url, run = own_postgres
    monkeypatch.setenv("DANGAN_DATABASE_URL", url)
    monkeypatch.delenv("DANGAN_STORAGE_URL", raising=False)
    monkeypatch.delenv("DANGAN_KEK", raising=False)
    system, _ = init_archive(tmp_path / "data", "root", "secofficer", "audit1")
    try:
        _populate(system)
        IngestPipeline(system).add_batch(system.actor("wang"), repair_pdfs(tmp_path, 3), "queue")
        run("stop")
        worker = Worker(system, processes=1, poll=0.05)
        stats = worker.run(max_rounds=2)  # the database is away: rounds fail, the worker lives
        assert stats.jobs == 0 and any("数据库暂不可用" in e for e in stats.errors)
        run("start")
        stats = worker.run(once=True)  # the same worker, reconnected
        assert stats.jobs == 3
        with system.db.read() as s:
            assert len(list(s.execute(select(Record)).scalars())) == 3
        assert all(r["ok"] for r in system.records.verify(system.actor("audit1")))
    finally:
        system.close()
