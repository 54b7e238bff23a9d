"""dangan backup / restore as specifications: a restored archive is the same archive
(every record verifies, the audit chain continues), backups are incremental, the keyring
is sealed under the passphrase, and a destroyed record never comes back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from dangan.archive.models import Record
from dangan.archive.shred import forget_key, purge_objects
from dangan.backup.service import list_snapshots, restore
from dangan.errors import Conflict, InvalidInput, PermissionDenied
from dangan.system import open_dangan
from tests.backup.conftest import PASS


def destroy(system, archive_no: str) -> str:
    """What the retention slice's `destroy execute` does to one record (archive.shred)."""
    with system.db.session() as s:
        rec = system.records.find(s, archive_no)
        forget_key(s, rec)
        rid = rec.id
    purge_objects(system.store, rid)
    return rid


def test_restore_brings_back_every_record_verified_and_the_audit_chain_continues(
        system, add_record, tmp_path: Path, elsewhere: Path) -> None:
    numbers = [add_record() for _ in range(5)]
    report = system.backups.backup(system.actor("root"), str(tmp_path / "bak"), PASS)
    assert report.objects_copied == 10 and report.objects_total == 10  # original + text each
    assert report.keyring == "sealed"

    assert system.audit_log(system.actor("audit1"), action="backup.create")[0]["target"] == report.snapshot
    restored = restore(str(tmp_path / "bak"), elsewhere, "root", PASS)
    assert restored.objects_restored == 10 and restored.destructions_reapplied == []
    copy = open_dangan(elsewhere)
    try:
        results = copy.records.verify(copy.actor("audit1"))
        assert sorted(r["archive_no"] for r in results) == sorted(numbers)
        assert all(r["ok"] for r in results), results
        report = copy.verify_audit(copy.actor("audit1"))
        assert report.ok
        actions = [e["action"] for e in copy.audit_log(copy.actor("audit1"))]
        assert "backup.restore" in actions and "backup.create" not in actions  # it follows its snapshot
        hits = copy.search_service.search(copy.actor("wang"), "电梯")
        assert hits["total"] == 5  # the index was rebuilt from the restored database
    finally:
        copy.close()


def test_second_backup_copies_only_the_new_objects(system, add_record, tmp_path: Path) -> None:
    for _ in range(4):
        add_record(size=20_000)
    first = system.backups.backup(system.actor("root"), str(tmp_path / "bak"), PASS)
    add_record(size=30_000)
    second = system.backups.backup(system.actor("root"), str(tmp_path / "bak"), PASS)
    assert first.objects_copied == 8
    assert second.objects_copied == 2 and second.objects_skipped == 8
    assert 30_000 < second.bytes_copied < first.bytes_copied
    assert [s["name"] for s in list_snapshots(str(tmp_path / "bak"))] == [first.snapshot, second.snapshot]


def test_the_keyring_in_a_backup_is_sealed_under_the_passphrase(system, add_record, tmp_path: Path,
                                                                elsewhere: Path) -> None:
    add_record()
    report = system.backups.backup(system.actor("root"), str(tmp_path / "bak"), PASS)
    sealed = (tmp_path / "bak" / "snapshots" / report.snapshot / "keyring.sealed").read_bytes()
    ring = json.loads(system.settings.keyring_path.read_bytes())
    assert ring["keks"]["k1"]["key"].encode() not in sealed
    assert ring["audit_key"].encode() not in sealed
    assert json.loads(sealed)["kdf"]["name"] == "scrypt"
    with pytest.raises(InvalidInput, match="口令错误"):
        restore(str(tmp_path / "bak"), elsewhere, "root", "not the passphrase")
    assert not elsewhere.exists()  # nothing half-done


def test_a_restored_old_snapshot_does_not_resurrect_a_destroyed_record(
        system, add_record, tmp_path: Path, elsewhere: Path) -> None:
    keep, doomed = add_record(), add_record()
    old = system.backups.backup(system.actor("root"), str(tmp_path / "bak"), PASS)
    rid = destroy(system, doomed)
    later = system.backups.backup(system.actor("root"), str(tmp_path / "bak"), PASS)
    assert later.objects_pruned == 2  # its ciphertext leaves the backup too
    assert not list((tmp_path / "bak" / "objects" / "records").glob(f"{rid}*"))

    report = restore(str(tmp_path / "bak"), elsewhere, "root", PASS, snapshot=old.snapshot)
    assert report.destructions_reapplied == [doomed]
    copy = open_dangan(elsewhere)
    try:
        with copy.db.read() as s:
            rec = s.execute(select(Record).where(Record.id == rid)).scalar_one()
            assert rec.status == "destroyed" and rec.wrapped_dek is None
        assert list(copy.store.keys(f"records/{rid}/")) == []
        assert copy.search_service.search(copy.actor("wang"), doomed)["total"] == 0
        assert [r["ok"] for r in copy.records.verify(copy.actor("audit1"), [keep])] == [True]
        assert copy.verify_audit(copy.actor("audit1")).ok
        entries = copy.audit_log(copy.actor("audit1"), action="backup.reapply_destruction")
        assert [e["target"] for e in entries] == [doomed]
    finally:
        copy.close()


def test_backup_and_restore_are_for_the_admin_only(system, add_record, tmp_path: Path, elsewhere: Path) -> None:
    add_record()
    with pytest.raises(PermissionDenied):
        system.backups.backup(system.actor("wang"), str(tmp_path / "bak"), PASS)
    system.backups.backup(system.actor("root"), str(tmp_path / "bak"), PASS)
    with pytest.raises(PermissionDenied, match="不是该档案库的系统管理员"):
        restore(str(tmp_path / "bak"), elsewhere, "wang", PASS)
    assert not elsewhere.exists()


def test_restore_refuses_a_data_directory_in_use(system, add_record, tmp_path: Path) -> None:
    add_record()
    system.backups.backup(system.actor("root"), str(tmp_path / "bak"), PASS)
    with pytest.raises(Conflict, match="不是空目录"):
        restore(str(tmp_path / "bak"), system.settings.home, "root", PASS)
    assert system.records.verify(system.actor("audit1"))[0]["ok"]


def test_backup_refuses_a_destination_that_is_not_a_backup(system, tmp_path: Path) -> None:
    (tmp_path / "bak").mkdir()
    (tmp_path / "bak" / "backup.json").write_text('{"something": "else"}')
    with pytest.raises(Conflict, match="不是 Dangan 备份位置"):
        system.backups.backup(system.actor("root"), str(tmp_path / "bak"), PASS)


def test_off_site_backup_to_a_second_bucket_restores_onto_minio(
        system, add_record, s3_url: str, elsewhere: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    numbers = [add_record(size=100_000) for _ in range(3)]
    offsite = s3_url + "/offsite"
    report = system.backups.backup(system.actor("root"), offsite, PASS)
    assert report.objects_copied == 6
    monkeypatch.setenv("DANGAN_STORAGE_URL", s3_url.replace("s3://", "s3://") + "/archive")
    restore(offsite, elsewhere, "root", PASS)
    copy = open_dangan(elsewhere)
    try:
        assert type(copy.store).__name__ == "S3Store"
        results = copy.records.verify(copy.actor("audit1"))
        assert sorted(r["archive_no"] for r in results) == sorted(numbers) and all(r["ok"] for r in results)
    finally:
        copy.close()
