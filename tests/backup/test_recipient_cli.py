"""The recipient-key flow from the command line: `dangan keys recipient new` on the offline
machine, an unattended `dangan backup` that seals for DANGAN_BACKUP_RECIPIENT with no
passphrase anywhere, `dangan restore --identity` on a new machine; refusals exit 1 with one
sentence and leave nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dangan.demo import render
from tests.cli.conftest import Cli


@pytest.fixture
def cli(home: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    for var in ("DANGAN_BACKUP_PASSPHRASE", "DANGAN_BACKUP_RECIPIENT", "DANGAN_BACKUP_IDENTITY",
                "DANGAN_IDENTITY_PASSPHRASE"):
        monkeypatch.delenv(var, raising=False)
    c = Cli(home)
    assert c("init", "--admin", "root", "--security", "secofficer", "--auditor", "audit1").exit_code == 0
    assert c("user", "add", "wang", "--role", "archivist", "--clearance", "secret", user="secofficer").exit_code == 0
    assert c("project", "add", "A", "--name", "翠湖花园", "--type", "residential", user="root").exit_code == 0
    return c


def one_line_error(result, text: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.stderr.count("\n") == 1 and text in result.stderr, result.stderr


def test_an_unattended_backup_sealed_for_a_recipient_restores_with_the_offline_identity(
        cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, other_db: str) -> None:
    offline = tmp_path / "offline"
    offline.mkdir()
    monkeypatch.setenv("DANGAN_IDENTITY_PASSPHRASE", "the offline key's passphrase")
    made = cli("keys", "recipient", "new", "-o", str(offline / "backup-key.pem"), "--protect")
    assert made.exit_code == 0, made.output
    line = made.stdout.strip().splitlines()[-1]
    assert line.startswith("dangan-x25519:") and line in (offline / "backup-key.pub").read_text()
    assert (offline / "backup-key.pem").stat().st_mode & 0o777 == 0o600
    again = cli("keys", "recipient", "new", "-o", str(offline / "backup-key.pem"))
    one_line_error(again, "已存在")
    shown = cli.json("keys", "recipient", "show", str(offline / "backup-key.pem"))
    assert shown["recipient"] == line
    monkeypatch.delenv("DANGAN_IDENTITY_PASSPHRASE")

    pdf = render.text_pdf(tmp_path / "a.pdf", ["维修工单\n电梯门机皮带更换"])
    [rec] = cli.json("ingest", str(pdf), "--category", "maintenance", "--location", "A-01-001-0101", user="wang")
    bak = str(tmp_path / "bak")
    one_line_error(cli("backup", bak, "--recipient", line[:-3], user="root"), "校验码")
    one_line_error(cli("backup", bak, "--recipient", str(offline / "backup-key.pem"), user="root"), "是私钥")
    one_line_error(cli("backup", bak, "--recipient", line, "--no-keyring", user="root"), "--no-keyring")
    assert not Path(bak).exists()  # refused before anything was written
    one_line_error(cli("backup", bak, user="root"), "DANGAN_BACKUP_RECIPIENT")  # no passphrase, no recipient

    monkeypatch.setenv("DANGAN_BACKUP_RECIPIENT", str(offline / "backup-key.pub"))  # the nightly job's setting
    report = cli.json("backup", bak, user="root")
    assert report["keyring"] == "sealed" and report["sealed_for"] == [shown["fingerprint"]]
    assert b"PRIVATE" not in b"".join(p.read_bytes() for p in Path(bak).rglob("*") if p.is_file())

    monkeypatch.setenv("DANGAN_DATABASE_URL", other_db)
    new = Cli(tmp_path / "new")
    one_line_error(new("restore", bak, user="root"), "--identity")
    stranger = cli.json("keys", "recipient", "new", "-o", str(tmp_path / "stranger.pem"))
    one_line_error(new("restore", bak, "--identity", str(tmp_path / "stranger.pem"), user="root"),
                   stranger["fingerprint"])
    one_line_error(new("restore", bak, "--identity", str(offline / "backup-key.pem"), user="root"), "有口令保护")
    monkeypatch.setenv("DANGAN_IDENTITY_PASSPHRASE", "not the key's passphrase")
    one_line_error(new("restore", bak, "--identity", str(offline / "backup-key.pem"), user="root"), "口令错误")
    one_line_error(new("restore", bak, "--identity", str(tmp_path / "missing.pem"), user="root"), "无法读取")
    assert not (tmp_path / "new").exists()

    monkeypatch.setenv("DANGAN_IDENTITY_PASSPHRASE", "the offline key's passphrase")
    restored = new.json("restore", bak, "--identity", str(offline / "backup-key.pem"), user="root")
    assert restored["snapshot"] == report["snapshot"]
    [checked] = new.json("verify", rec["archive_no"], user="audit1")
    assert checked["ok"], checked
    log = new.json("audit", "log", "--action", "backup.restore", user="audit1")
    assert [e["outcome"] for e in log] == ["ok"] and restored["keyring"] == shown["fingerprint"]
    assert json.loads(log[0]["detail"])["keyring"] == shown["fingerprint"]
    assert "PRIVATE" not in json.dumps(log)
