"""Crash resume (a real kill -9 of `dangan destroy execute` mid-batch) and the command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from dangan.archive import shred
from dangan.cli import main
from tests.retention.conftest import destroyable

DANGAN = str(Path(sys.executable).with_name("dangan"))


def _run(system, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, "DANGAN_HOME": str(system.settings.home), "DANGAN_USER": "wang", **(env or {})}
    return subprocess.run([DANGAN, *args], env=full, capture_output=True, text=True, timeout=120)


def test_a_batch_killed_mid_way_resumes_and_destroys_every_record(people) -> None:
    system = people
    nos = destroyable(system, 12)
    with system.db.read() as s:
        ids = {no: system.records.find(s, no).id for no in nos}
    batch = system.retention.create_batch(system.actor("wang"), nos, "到期")["batch_id"]
    system.retention.approve(system.actor("zhao"), batch)
    crashed = _run(system, "destroy", "execute", batch, "--supervisor", "sun", "--place", "档案室",
                   env={"DANGAN_DESTROY_CHUNK": "4", "DANGAN_TEST_CRASH_AFTER": "4"})
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    shown = system.retention.show_batch(system.actor("wang"), batch)
    assert shown["state"] == "executing"
    states = [r["state"] for r in shown["records"]]
    assert states.count("shredded") == 4 and states.count("pending") == 8
    shredded = [r["archive_no"] for r in shown["records"] if r["state"] == "shredded"]
    # killed after the commit and before the objects were deleted: ciphertext is still there
    assert all(shred.remaining_objects(system.store, ids[no]) for no in shredded)
    resumed = _run(system, "destroy", "execute", batch, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["state"] == "executed"
    for no in nos:
        assert shred.remaining_objects(system.store, ids[no]) == []
    register = system.retention.register(system.actor("audit1"), batch)
    assert sorted(r["archive_no"] for r in register) == sorted(nos)  # each once, none skipped
    report = _run(system, "destroy", "verify", batch, "--json", env={"DANGAN_USER": "audit1"})
    assert report.returncode == 0, report.stdout + report.stderr
    assert all(r["ok"] for r in json.loads(report.stdout)["records"])


def test_cli_cycle_and_refusals(people, tmp_path) -> None:
    system = people
    home = str(system.settings.home)
    runner = CliRunner()

    def dangan(user: str, *args: str):
        return runner.invoke(main, ["--home", home, "--as", user, *args], catch_exceptions=False)

    from tests.retention.conftest import add

    no = add(system)
    due = dangan("wang", "retention", "due", "--as-of", "2030-01-01", "--json")
    assert due.exit_code == 0 and no in due.stdout
    assert dangan("wang", "retention", "appraise", no, "--decision", "destroy", "--reason", "期满").exit_code == 0
    made = dangan("wang", "destroy", "create", no, "--reason", "期满", "--json")
    batch = json.loads(made.stdout)["batch_id"]
    refused = dangan("wang", "destroy", "approve", batch)
    assert refused.exit_code == 1 and "审批" in refused.stderr
    assert dangan("audit1", "destroy", "approve", batch).exit_code == 1
    assert dangan("zhao", "destroy", "approve", batch).exit_code == 0
    bad = dangan("wang", "destroy", "execute", batch, "--supervisor", "wang", "--place", "档案室")
    assert bad.exit_code == 1 and "监销人" in bad.stderr and "Traceback" not in bad.output
    assert dangan("wang", "destroy", "execute", batch, "--supervisor", "sun", "--place", "档案室").exit_code == 0
    again = dangan("wang", "destroy", "execute", batch, "--supervisor", "sun", "--place", "档案室")
    assert again.exit_code == 1 and "执行完毕" in again.stderr
    assert dangan("wang", "get", no, "-o", str(tmp_path / "x")).exit_code == 1
    assert dangan("audit1", "destroy", "verify", batch).exit_code == 0
    cert = tmp_path / "cert.pdf"
    assert dangan("audit1", "destroy", "certificate", batch, "-o", str(cert)).exit_code == 0
    assert cert.read_bytes().startswith(b"%PDF")
    for fmt in ("csv", "xlsx"):
        out = tmp_path / f"register.{fmt}"
        assert dangan("audit1", "destroy", "register", "-o", str(out)).exit_code == 0
    assert no in (tmp_path / "register.csv").read_text(encoding="utf-8-sig")
    from openpyxl import load_workbook

    sheet = load_workbook(tmp_path / "register.xlsx").active
    assert next(c.value for c in next(sheet.iter_rows(min_row=2, max_row=2))) == no
    usage = dangan("wang", "retention", "appraise", no, "--decision", "burn", "--reason", "x")
    assert usage.exit_code == 2
