"""dangan worker as a specification: queued batches are worked by whichever workers run,
several share the queue, and a worker killed with `kill -9` mid-batch leaves nothing lost
and nothing done twice — another worker takes its jobs over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dangan.archive.models import Outbox, Record
from dangan.demo import render
from dangan.ingest.models import IngestJob
from dangan.ingest.pipeline import IngestPipeline
from dangan.ingest.sources import Item
from dangan.worker.loop import Worker, queue_status

ROOT = Path(__file__).resolve().parents[2]
DANGAN = Path(sys.executable).parent / "dangan"


def repair_pdfs(tmp_path: Path, n: int, start: int = 0) -> list[Item]:
    items = []
    for i in range(start, start + n):
        text = (f"维修工单 第{i:04d}号\n项目名称：翠湖花园\n房号：A区1栋1单元{101 + i}室\n"
                f"报修内容：电梯门第{i}次卡滞，已调整门机。\n维修编码：01{i:04d}\n填表日期：2024年3月{1 + i % 28}日")
        path = render.text_pdf(tmp_path / f"repair{i:03d}.pdf", [text])
        items.append(Item(path, path.name, {"category": "maintenance", "location": "A-01-001-0101"}))
    return items


def queue(system, tmp_path: Path, n: int) -> int:
    return IngestPipeline(system).add_batch(system.actor("wang"), repair_pdfs(tmp_path, n), "queue")


def test_a_worker_runs_queued_batches_and_drains_the_outbox(system, tmp_path: Path) -> None:
    batch = queue(system, tmp_path, 3)
    assert queue_status(system)["open_batches"] == [batch]
    stats = Worker(system, processes=1).run(once=True)
    assert stats.jobs == 3 and stats.batches == 1
    with system.db.read() as s:
        assert s.execute(select(func.count()).select_from(Record)).scalar_one() == 3
        assert s.execute(select(func.count()).select_from(Outbox)).scalar_one() == 0
    assert queue_status(system)["open_batches"] == []
    assert system.search_service.search(system.actor("wang"), "电梯门")["total"] == 3
    # the jobs ran with the rights of the person who queued them
    assert {e["actor"] for e in system.audit_log(system.actor("audit1"), action="record.ingest")} == {"wang"}


def test_an_idle_worker_finds_nothing_to_do(system) -> None:
    stats = Worker(system).run(once=True)
    assert stats.jobs == 0 and stats.rounds == 1


def _start_worker(home: Path, db_url: str, log: Path) -> subprocess.Popen:
    env = dict(os.environ, DANGAN_HOME=str(home), DANGAN_DATABASE_URL=db_url, PYTHONPATH=str(ROOT),
               DANGAN_SEARCH_BACKEND="embedded", OMP_THREAD_LIMIT="1")
    return subprocess.Popen([str(DANGAN), "worker", "--processes", "1", "--poll", "0.3"], env=env,
                            stdout=subprocess.DEVNULL, stderr=log.open("ab"), start_new_session=True)


def _finished(system) -> int:
    with system.db.read() as s:
        return s.execute(select(func.count()).where(IngestJob.state.in_(["done", "queued"]))).scalar_one()


@pytest.mark.timeout(600)
def test_two_workers_share_the_queue_and_take_over_a_killed_workers_jobs(system, tmp_path: Path,
                                                                         db_url: str) -> None:
    n = 16
    queue(system, tmp_path, n)
    home = system.settings.home
    log = tmp_path / "workers.log"
    first = _start_worker(home, db_url, log)
    try:
        deadline = time.monotonic() + 240
        while _finished(system) < 2 and time.monotonic() < deadline:
            assert first.poll() is None, log.read_text()
            time.sleep(0.1)
        assert _finished(system) >= 2, log.read_text()
        os.killpg(first.pid, signal.SIGKILL)  # the machine dies mid-batch: no clean-up at all
        first.wait()
        killed_at = _finished(system)
        assert killed_at < n, "the first worker finished everything before it could be killed"
        others = [_start_worker(home, db_url, log) for _ in range(2)]
        try:
            deadline = time.monotonic() + 400
            while time.monotonic() < deadline:
                status = queue_status(system)
                if not status["open_batches"]:
                    break
                for p in others:
                    assert p.poll() is None, log.read_text()
                time.sleep(0.3)
            assert not queue_status(system)["open_batches"], log.read_text()
        finally:
            for p in others:
                os.killpg(p.pid, signal.SIGTERM)
            for p in others:
                p.wait(timeout=60)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    with system.db.read() as s:
        jobs = list(s.execute(select(IngestJob)).scalars())
        records = list(s.execute(select(Record)).scalars())
    assert len(records) == n  # nothing lost, nothing twice
    assert len({r.sha256 for r in records}) == n
    assert all(j.state == "done" for j in jobs)
    assert sorted(j.record_id for j in jobs) == sorted(r.id for r in records)
    assert max(j.attempts for j in jobs) >= 2  # some jobs were taken over from the dead worker
    assert len({j.worker.split(":")[1] for j in jobs}) >= 2  # finished by more than one process
    # no orphan objects of the killed worker's unfinished records
    assert sorted(system.store.keys("records/")) == sorted(f"records/{r.id}/{k}" for r in records for k in ("original", "text"))
    assert all(r["ok"] for r in system.records.verify(system.actor("audit1")))


def test_a_worker_also_watches_the_scanner_inbox(system, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for item in repair_pdfs(tmp_path, 2, start=50):
        item.path.rename(inbox / item.path.name)
    stats = Worker(system, processes=1, poll=0.05, inbox=inbox, inbox_actor=system.actor("wang")).run(max_rounds=5)
    assert stats.jobs == 2
    assert sorted(p.name for p in (inbox / "done").iterdir()) == ["repair050.pdf", "repair051.pdf"]
