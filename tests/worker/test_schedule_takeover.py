"""A scheduled check whose worker is killed with `kill -9` mid-run, against real processes:
the claim stays in `worker_schedule` until its lease runs out, then another `dangan worker`
takes the check over and runs it to the end exactly once — one 四性 run, one report, one
outcome in the audit trail — and `dangan worker status` says so. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from dangan.archive.records import RecordInput
from dangan.demo import render
from dangan.integrity.models import VerifyRun
from dangan.worker.models import ScheduledTask
from tests.worker.test_schedule import audit
from tests.worker.test_worker import DANGAN, ROOT

RECORDS, PAGES = 30, 300  # a 四性 run of a few seconds: every page of every PDF is drawn
LEASE = 4  # seconds (`dangan worker --lease`, its smallest value): the takeover waits this long


def add_long_pdfs(system, tmp_path: Path) -> None:
    """Distinct many-page PDFs, stored directly (no OCR): what makes the check take time."""
    wang = system.actor("wang")
    for i in range(RECORDS):
        pages = [f"巡检记录 第{i:03d}册 第{p}页\n设备：二号电梯\n结论：运行正常" for p in range(PAGES)]
        body = render.text_pdf(tmp_path / f"log{i:03d}.pdf", pages).read_bytes()
        data = RecordInput(original_name=f"log{i:03d}.pdf", media_type="application/pdf",
                           title=f"电梯巡检记录第{i}册", category="maintenance", location="A-01-001-0101",
                           doc_date=dt.date(2024, 3, 1), text_pages=[{"page": 1, "text": pages[0]}])
        system.records.create(wang, io.BytesIO(body), data)


def _env(system, db_url: str) -> dict:
    return dict(os.environ, DANGAN_HOME=str(system.settings.home), DANGAN_DATABASE_URL=db_url,
                PYTHONPATH=str(ROOT), DANGAN_SEARCH_BACKEND="embedded", OMP_THREAD_LIMIT="1",
                DANGAN_WORKER_RETENTION_REPORT_DAY="off")  # only `verify` is due


def _start_worker(env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen([str(DANGAN), "worker", "--processes", "1", "--poll", "0.3", "--no-outbox",
                             "--lease", str(LEASE)], env=env, stdout=subprocess.DEVNULL,
                            stderr=log.open("ab"), start_new_session=True)


def _row(system) -> ScheduledTask | None:
    with system.db.read() as s:
        return s.get(ScheduledTask, "verify")


def _verify_runs(system) -> list[VerifyRun]:
    with system.db.read() as s:
        return list(s.execute(select(VerifyRun)).scalars())


def _wait(condition, deadline: float, procs: list[subprocess.Popen], log: Path):
    """Poll until `condition()` is truthy; a worker that exited early fails with its log."""
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        for p in procs:
            assert p.poll() is None, log.read_text()
        time.sleep(0.05)
    raise AssertionError("timed out\n" + log.read_text())


def _stop(proc: subprocess.Popen, sig: int) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
    proc.wait(timeout=60)


@pytest.mark.timeout(180)
def test_a_check_whose_worker_is_killed_mid_run_is_taken_over_after_the_lease_and_runs_once(
        system, tmp_path: Path, db_url: str) -> None:
    add_long_pdfs(system, tmp_path)
    env, log = _env(system, db_url), tmp_path / "workers.log"
    home = system.settings.home
    first = _start_worker(env, log)
    second = None
    try:
        held = _wait(lambda: (r := _row(system)) is not None and r.claimed_by and r, time.monotonic() + 90,
                     [first], log)
        os.killpg(first.pid, signal.SIGKILL)  # mid-check: no clean-up, no release of the claim
        first.wait()
        killed = f"{socket.gethostname()}:{first.pid}"
        assert held.claimed_by == killed
        dead = _row(system)
        assert dead.claimed_by == killed and dead.runs == 0 and _verify_runs(system) == [], \
            "the first worker finished the check before it could be killed"
        second = _start_worker(env, log)
        done = _wait(lambda: (r := _row(system)).runs and r, time.monotonic() + 120, [second], log)
        time.sleep(1.0)  # a few more rounds: nothing may run it again
        _stop(second, signal.SIGTERM)
    finally:
        _stop(first, signal.SIGKILL)
        if second is not None:
            _stop(second, signal.SIGKILL)

    taker = f"{socket.gethostname()}:{second.pid}"
    final = _row(system)
    assert final.runs == 1 and final.failures == 0 and final.last_outcome == "ok"
    assert final.last_worker == taker and final.claimed_by is None and final.lease_until is None
    assert done.last_started >= dead.lease_until  # not before the dead worker's lease ran out
    assert final.last_finished is not None and final.next_due > final.last_started
    [takeover] = audit(system, "worker.task.takeover")
    assert takeover["target"] == "verify"
    assert takeover["detail"] == {"from": killed, "worker": taker}
    [outcome] = audit(system, "worker.task")  # one outcome, from the worker that took over
    assert outcome["outcome"] == "ok" and outcome["detail"]["worker"] == taker
    [check] = audit(system, "record.verify")  # one 四性 run: the killed one filed nothing
    [run] = _verify_runs(system)
    assert check["detail"]["run"] == run.id and run.checked == RECORDS and run.failed == 0
    reports = home / "reports" / "verify"
    assert sorted(p.name for p in reports.iterdir()) == [f"verify-{run.id:06d}.json", f"verify-{run.id:06d}.pdf"]
    assert json.loads((reports / f"verify-{run.id:06d}.json").read_text(encoding="utf-8"))["checked"] == RECORDS
    # the killed check's decrypted scratch copy does not outlive it
    assert [p.name for p in (home / "tmp").glob("verify-*")] == []

    status = subprocess.run([str(DANGAN), "worker", "status", "--json"], env=env, capture_output=True,
                            text=True, timeout=120)
    assert status.returncode == 0, status.stderr
    [verify] = [s for s in json.loads(status.stdout)["schedules"] if s["task"] == "verify"]
    assert verify["runs"] == 1 and verify["last_outcome"] == "ok" and verify["running_on"] is None
    assert verify["last_detail"] == f"检测 {RECORDS} 件，全部通过。" and verify["failures"] == 0
    assert verify["last_started"] == done.last_started.isoformat(timespec="seconds") + "Z"
