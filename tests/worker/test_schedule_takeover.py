"""A scheduled check whose worker is killed with `kill -9` mid-run, against real processes:
the dead worker's claim stays until its lease runs out, then a second `dangan worker`
takes the check over and runs it to completion exactly once — one report, one verify
run, one audit entry for the run — and `dangan worker status --json` says so. The
in-process tests in test_schedule.py fake the dead worker by writing an expired claim;
this one kills a real process group (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from dangan.archive.records import RecordInput
from dangan.demo import render
from tests.worker.test_schedule import audit, row, verify_runs
from tests.worker.test_worker import DANGAN, ROOT

LEASE = 4  # seconds, the least `dangan worker --lease` accepts
RECORDS = 60  # enough that one incremental 四性 run takes a few seconds on a loaded machine


def _env(system, db_url: str) -> dict:  # type: ignore[no-untyped-def]
    return dict(os.environ, DANGAN_HOME=str(system.settings.home), DANGAN_DATABASE_URL=db_url,
                PYTHONPATH=str(ROOT), DANGAN_SEARCH_BACKEND="embedded", OMP_THREAD_LIMIT="1",
                DANGAN_WORKER_RETENTION_REPORT_DAY="off", DANGAN_WORKER_REMIND_EVERY="off")


def _start(env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen([str(DANGAN), "worker", "--processes", "1", "--poll", "0.3", "--no-outbox",
                             "--lease", str(LEASE)], env=env, stdout=subprocess.DEVNULL,
                            stderr=log.open("ab"), start_new_session=True)


def _archive(system, tmp_path: Path, n: int) -> None:  # type: ignore[no-untyped-def]
    """n readable PDFs, each its own text, so the check opens and compares every one."""
    wang = system.actor("wang")
    for i in range(n):
        text = f"电梯维修单 第{i:04d}号\n报修内容：电梯门第{i}次卡滞，已调整门机。"
        body = render.text_pdf(tmp_path / f"r{i:03d}.pdf", [text]).read_bytes()
        data = RecordInput(original_name=f"r{i:03d}.pdf", media_type="application/pdf", title=f"电梯维修单{i}",
                           category="maintenance", location="A-01-001-0101", doc_date=dt.date(2024, 3, 1),
                           text_pages=[{"page": 1, "text": text}])
        system.records.create(wang, io.BytesIO(body), data)


def _wait(what, seconds: float, procs: list[subprocess.Popen], log: Path):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if (got := what()):
            return got
        for p in procs:
            assert p.poll() is None, log.read_text()
        time.sleep(0.05)
    raise AssertionError(f"waited {seconds} s in vain\n{log.read_text()}")


@pytest.mark.timeout(240)
def test_a_check_whose_worker_is_killed_is_taken_over_after_its_lease_and_run_once(
        system, tmp_path: Path, db_url: str) -> None:
    _archive(system, tmp_path, RECORDS)
    env, log = _env(system, db_url), tmp_path / "workers.log"
    reports = system.settings.reports_path / "verify"
    first = _start(env, log)
    try:
        claim = _wait(lambda: (r := row(system)) is not None and r.claimed_by and r, 90, [first], log)
        os.killpg(first.pid, signal.SIGKILL)  # mid-check: no clean-up, no release of the claim
        first.wait()
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    dead = row(system)
    assert verify_runs(system) == 0 and dead.runs == 0, "the check finished before its worker was killed"
    assert dead.claimed_by == claim.claimed_by and dead.lease_until is not None  # the claim outlives its worker
    second = _start(env, log)
    try:
        done = _wait(lambda: (r := row(system)).runs and r, 120, [second], log)
        status = subprocess.run([str(DANGAN), "worker", "status", "--json"], env=env, capture_output=True,
                                text=True, timeout=120)
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(timeout=60)
    assert status.returncode == 0, status.stderr
    [verify] = [t for t in json.loads(status.stdout)["schedules"] if t["task"] == "verify"]
    assert verify["runs"] == 1 and verify["last_outcome"] == "ok" and verify["running_on"] is None
    assert verify["last_detail"] == f"检测 {RECORDS} 件，全部通过。"
    assert done.last_worker != dead.claimed_by and done.claimed_by is None and done.next_due > done.last_started
    # taken over only once the dead worker's lease had run out, by the second worker
    [takeover] = audit(system, "worker.task.takeover")
    assert takeover["detail"]["from"] == dead.claimed_by and takeover["detail"]["worker"] == done.last_worker
    assert done.last_started >= dead.lease_until
    # exactly once: one verify run, one audit entry each, one report and no half-written file
    assert verify_runs(system) == 1
    [ran] = audit(system, "worker.task")
    assert ran["target"] == "verify" and ran["detail"]["worker"] == done.last_worker
    assert len(audit(system, "record.verify")) == 1
    assert sorted(p.name for p in reports.iterdir()) == ["verify-000001.json", "verify-000001.pdf"]
    assert json.loads((reports / "verify-000001.json").read_text("utf-8"))["checked"] == RECORDS
