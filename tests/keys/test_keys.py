"""Keys kept apart from the data: an external KEK (DANGAN_KEK) rotates like the key file —
old keys kept for unwrapping, every data key re-wrapped, the audit chain verifiable across
the change — and the key file can live outside the data directory."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import pytest

from dangan.archive.records import RecordInput
from dangan.backup.service import restore
from dangan.errors import DanganError
from dangan.system import init_archive, open_dangan


def b64key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def add(system, n: int) -> list[str]:
    out = []
    for i in range(n):
        data = RecordInput(original_name=f"{i}.pdf", media_type="application/pdf", title=f"巡查记录 {i}",
                           category="safety", location="A-01", text_pages=[{"page": 1, "text": "消防巡查"}])
        out.append(system.records.create(system.actor("wang"), io.BytesIO(os.urandom(3000)), data).archive_no)
    return out


def start(home: Path):
    system, _ = init_archive(home, "root", "secofficer", "audit1")
    system.users.add(system.actor("secofficer"), "wang", ["archivist"], "secret")
    return system


def test_an_external_kek_rotates_and_the_old_one_can_then_go(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = b64key(), b64key()
    monkeypatch.setenv("DANGAN_AUDIT_KEY", b64key())
    monkeypatch.setenv("DANGAN_KEK", old)
    system = start(home)
    numbers = add(system, 3)
    system.close()
    assert not (home / "keyring.json").exists()  # the key lives in the environment only

    # the operator puts the new key in place and keeps the old one for unwrapping
    monkeypatch.setenv("DANGAN_KEK", new)
    monkeypatch.setenv("DANGAN_KEK_PREVIOUS", old)
    system = open_dangan(home)
    assert all(r["ok"] for r in system.records.verify(system.actor("audit1")))  # old wraps still open
    result = system.rotate_keys(system.actor("root"))
    assert result["rewrapped"] == 3 and result["active"] == system.keyring.active_id
    [gone] = result["removable"]  # no data key needs the old KEK any more
    assert gone != result["active"] and gone in system.keyring.ids
    system.close()

    # the old key goes; everything still opens, and the audit chain runs on unbroken
    monkeypatch.delenv("DANGAN_KEK_PREVIOUS")
    system = open_dangan(home)
    try:
        results = system.records.verify(system.actor("audit1"), numbers)
        assert all(r["ok"] for r in results), results
        assert system.verify_audit(system.actor("audit1")).ok
        actions = [e["action"] for e in system.audit_log(system.actor("audit1"), action="keys.rotate")]
        assert actions == ["keys.rotate"]
    finally:
        system.close()


def test_without_an_audit_key_the_oldest_kek_keeps_the_chain(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = b64key(), b64key()
    monkeypatch.delenv("DANGAN_AUDIT_KEY", raising=False)
    monkeypatch.setenv("DANGAN_KEK", first)
    system = start(home)
    add(system, 1)
    system.close()
    monkeypatch.setenv("DANGAN_KEK", second)
    monkeypatch.setenv("DANGAN_KEK_PREVIOUS", first)
    system = open_dangan(home)
    try:
        system.rotate_keys(system.actor("root"))
        assert system.verify_audit(system.actor("audit1")).ok
    finally:
        system.close()


def test_an_unknown_external_kek_is_refused(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DANGAN_KEK", b64key())
    start(home).close()
    monkeypatch.setenv("DANGAN_KEK", b64key())
    with pytest.raises(DanganError, match="密钥与该档案库不匹配"):
        open_dangan(home)


def test_the_key_file_can_live_outside_the_data_directory_and_outside_backups(
        home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keyfile = tmp_path / "secrets" / "dangan-keyring.json"
    keyfile.parent.mkdir(mode=0o700)
    monkeypatch.delenv("DANGAN_KEK", raising=False)
    monkeypatch.setenv("DANGAN_KEYRING_FILE", str(keyfile))
    system = start(home)
    numbers = add(system, 2)
    assert keyfile.exists() and not (home / "keyring.json").exists()
    report = system.backups.backup(system.actor("root"), str(tmp_path / "bak"), None, keyring=False)
    assert report.keyring == "omitted"
    assert not any(p.name.startswith("keyring") for p in (tmp_path / "bak").rglob("*"))
    system.close()

    # a new machine: the key file is brought separately
    monkeypatch.delenv("DANGAN_KEYRING_FILE")
    monkeypatch.setenv("DANGAN_DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    with pytest.raises(DanganError, match="--keyring"):
        restore(str(tmp_path / "bak"), tmp_path / "new", "root", None)
    restore(str(tmp_path / "bak"), tmp_path / "new", "root", None, keyring_file=str(keyfile))
    copy = open_dangan(tmp_path / "new")
    try:
        assert all(r["ok"] for r in copy.records.verify(copy.actor("audit1"), numbers))
    finally:
        copy.close()


def test_elasticsearch_credentials_come_from_the_environment() -> None:
    from dangan.system import elastic_client_options

    assert elastic_client_options({}) == {}
    assert elastic_client_options({"DANGAN_ES_API_KEY": "k", "DANGAN_ES_CA_CERTS": "/etc/ca.pem"}) == {
        "api_key": "k", "ca_certs": "/etc/ca.pem"}
    assert elastic_client_options({"DANGAN_ES_USERNAME": "dangan", "DANGAN_ES_PASSWORD": "pw"}) == {
        "basic_auth": ("dangan", "pw")}
