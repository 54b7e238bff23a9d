"""The commands as CONTRACT.md states them: `dangan backup DEST`, `dangan restore SRC`
(by the admin, passphrase from $DANGAN_BACKUP_PASSPHRASE), `dangan backups`, and
`dangan worker` with `submit` / `status`; refusals exit 1 with one sentence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dangan.demo import render
from tests.cli.conftest import Cli


@pytest.fixture
def cli(home: Path) -> Cli:
    c = Cli(home)
    assert c("init", "--admin", "root", "--security", "secofficer", "--auditor", "audit1").exit_code == 0
    assert c("user", "add", "wang", "--role", "archivist", "--clearance", "secret", user="secofficer").exit_code == 0
    assert c("project", "add", "A", "--name", "翠湖花园", "--type", "residential", user="root").exit_code == 0
    return c


def test_backup_and_restore_from_the_command_line(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  other_db: str) -> None:
    pdf = render.text_pdf(tmp_path / "a.pdf", ["维修工单\n电梯门机皮带更换"])
    [rec] = cli.json("ingest", str(pdf), "--category", "maintenance", "--location", "A-01-001-0101", user="wang")
    monkeypatch.setenv("DANGAN_BACKUP_PASSPHRASE", "a passphrase of some length")
    bak = str(tmp_path / "bak")
    refused = cli("backup", bak, user="wang")
    assert refused.exit_code == 1 and refused.stderr.count("\n") == 1
    report = cli.json("backup", bak, user="root")
    assert report["objects_copied"] >= 2 and report["keyring"] == "sealed"
    assert [s["name"] for s in json.loads(cli("backups", bak, "--json").stdout)] == [report["snapshot"]]

    monkeypatch.setenv("DANGAN_DATABASE_URL", other_db)
    new = Cli(tmp_path / "new")
    monkeypatch.setenv("DANGAN_BACKUP_PASSPHRASE", "wrong passphrase!")
    wrong = new("restore", bak, user="root")
    assert wrong.exit_code == 1 and "口令错误" in wrong.stderr and not (tmp_path / "new").exists()
    monkeypatch.setenv("DANGAN_BACKUP_PASSPHRASE", "a passphrase of some length")
    restored = new.json("restore", bak, user="root")
    assert restored["snapshot"] == report["snapshot"]
    [checked] = new.json("verify", rec["archive_no"], user="audit1")
    assert checked["ok"], checked


def test_worker_submit_status_and_once(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    for i in range(2):
        render.text_pdf(tmp_path / "in" / f"{i}.pdf", [f"巡查记录 {i}\n消防通道畅通"])
    queued = cli.json("worker", "submit", str(tmp_path / "in"), "--category", "safety", "--location", "A-01",
                      "--date", "2024-03-05", user="wang")
    assert queued["files"] == 2
    status = cli.json("worker", "status")
    assert status["open_batches"] == [queued["batch_id"]] and status["jobs"] == {"pending": 2}
    stats = cli.json("worker", "--once", "--processes", "1")
    assert stats["jobs"] == 2
    assert cli.json("worker", "status")["jobs"] == {"done": 2}
    bad = cli("worker", "--lease", "1")
    assert bad.exit_code == 2
