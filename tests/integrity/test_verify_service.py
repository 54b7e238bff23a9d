"""四性检测 over stored records: named checks, reports, and incremental periodic runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update

from dangan.archive.models import AuditEntry, Record, Sequence
from dangan.archive.records import object_key
from dangan.errors import PermissionDenied
from dangan.ingest import checks as lib
from dangan.integrity.service import report_pdf
from tests.handover.conftest import add_record

REQUIRED_CHECKS = {
    "fixity", "sha256_recorded", "size_matches", "file_name_recorded", "format_matches", "dates_plausible",
    "metadata_values", "no_forbidden_characters", "archive_no_rule", "required_metadata", "opens_and_renders",
    "archival_format", "metadata_readable", "decrypts", "no_active_content", "audit_trail", "objects_present",
    "archive_no_unique", "no_duplicate_files", "duplicate_titles", "counts_match", "sequence_continuity",
    "pages_complete"}


def test_the_library_names_each_check_in_chinese_with_its_category_and_stages() -> None:
    rows = {c["id"]: c for c in lib.catalogue()}
    assert set(rows) >= REQUIRED_CHECKS
    for c in rows.values():
        assert c["category"] in lib.CATEGORIES and c["stages"] and any("\u4e00" <= ch <= "\u9fff" for ch in c["name"])


def test_a_full_run_reports_every_check_beside_the_four_categories(system, tmp_path: Path) -> None:
    no = add_record(system, tmp_path, "电梯设备台账", "equipment", "A-01")
    report = system.verify.run(system.actor("audit1"))
    [row] = report["results"]
    assert row["archive_no"] == no and row["ok"] is True
    assert set(row["checks"]) == {"authenticity", "integrity", "usability", "security"}
    assert {"fixity", "decrypts", "audit_trail", "opens_and_renders", "archive_no_unique"} <= set(row["details"])
    assert report["mode"] == "full" and report["checked"] == 1 and report["failed"] == 0


def test_a_tampered_object_fails_and_names_the_check(system, tmp_path: Path) -> None:
    no = add_record(system, tmp_path, "电梯设备台账", "equipment", "A-01")
    with system.db.read() as s:
        rid = system.records.find(s, no).id
    system.store.put(object_key(rid, "original"), [b"not what was stored" * 10])
    [row] = system.verify.run(system.actor("audit1"), [no])["results"]
    assert row["ok"] is False and row["details"]["decrypts"] is not True
    assert row["checks"]["security"] is not True
    assert not list((system.settings.home / "tmp").iterdir())  # no plaintext left behind


def test_a_missing_object_fails_integrity(system, tmp_path: Path) -> None:
    no = add_record(system, tmp_path, "电梯设备台账", "equipment", "A-01")
    with system.db.read() as s:
        rid = system.records.find(s, no).id
    system.store.delete(object_key(rid, "original"))
    [row] = system.verify.run(system.actor("audit1"), [no])["results"]
    assert "缺失" in row["checks"]["integrity"]


def test_an_incremental_run_reads_only_what_is_new_changed_or_due(system, tmp_path: Path) -> None:
    a = add_record(system, tmp_path, "电梯设备台账", "equipment", "A-01")
    b = add_record(system, tmp_path, "水泵设备台账", "equipment", "A-01")
    auditor = system.actor("audit1")
    assert system.verify.run(auditor, mode="incremental")["checked"] == 2
    assert system.verify.run(auditor, mode="incremental")["checked"] == 0  # nothing changed
    system.records.edit(system.actor("wang"), a, {"title": "电梯设备台账（修订）"}, reason="更正题名")
    c = add_record(system, tmp_path, "消防设备台账", "equipment", "A-01")
    again = system.verify.run(auditor, mode="incremental")
    assert sorted(r["archive_no"] for r in again["results"]) == sorted([a, c])
    assert again["skipped"] == 1 and b not in [r["archive_no"] for r in again["results"]]
    assert system.verify.run(auditor, mode="incremental", due_days=0)["checked"] == 3  # all due


def test_a_record_that_failed_is_read_again_by_the_next_incremental_run(system, tmp_path: Path) -> None:
    no = add_record(system, tmp_path, "电梯设备台账", "equipment", "A-01")
    with system.db.read() as s:
        rid = system.records.find(s, no).id
    system.store.delete(object_key(rid, "original"))
    auditor = system.actor("audit1")
    assert system.verify.run(auditor, mode="incremental")["failed"] == 1
    assert system.verify.run(auditor, mode="incremental")["checked"] == 1


def test_a_record_with_no_audit_entry_fails_the_audit_trail_check(system, tmp_path: Path) -> None:
    no = add_record(system, tmp_path, "电梯设备台账", "equipment", "A-01")
    with system.db.session() as s:  # simulate a record slipped in around the service
        s.execute(update(AuditEntry).where(AuditEntry.target == no).values(target="someone-else"))
    [row] = system.verify.run(system.actor("audit1"), [no])["results"]
    assert "入库记录" in row["details"]["audit_trail"]


def test_a_gap_in_the_item_numbers_fails_unless_a_destruction_explains_it(system, tmp_path: Path) -> None:
    first = add_record(system, tmp_path, "维修记录一", "maintenance", "A-01-001-0101", "2024-05-01")
    second = add_record(system, tmp_path, "维修记录二", "maintenance", "A-01-001-0101", "2024-05-02")
    third = add_record(system, tmp_path, "维修记录三", "maintenance", "A-01-001-0101", "2024-05-03")
    auditor = system.actor("audit1")
    with system.db.session() as s:  # the second record is destroyed: its number stays taken
        s.execute(update(Record).where(Record.archive_no == second).values(status="destroyed"))
    assert system.verify.run(auditor)["failed"] == 0
    with system.db.session() as s:  # a number handed out and lost
        s.execute(update(Sequence).where(Sequence.scope.like("WX|2024%")).values(last=Sequence.last + 1))
    fourth = add_record(system, tmp_path, "维修记录四", "maintenance", "A-01-001-0101", "2024-05-04")
    report = system.verify.run(auditor)
    bad = {r["archive_no"]: r for r in report["results"] if not r["ok"]}
    assert list(bad) == [fourth] and "件号不连续" in bad[fourth]["details"]["sequence_continuity"]
    assert first and third


def test_the_report_is_kept_and_printable(system, tmp_path: Path) -> None:
    add_record(system, tmp_path, "电梯设备台账", "equipment", "A-01")
    run = system.verify.run(system.actor("audit1"))
    latest = system.verify.latest(system.actor("audit1"))
    assert latest["run_id"] == run["run_id"] and latest["failures"] == []
    blob = report_pdf(latest)
    assert blob[:5] == b"%PDF-" and len(blob) > 2000
    assert system.verify.runs(system.actor("audit1"))[0]["run_id"] == run["run_id"]


def test_staff_may_not_run_the_checks(system, tmp_path: Path) -> None:
    add_record(system, tmp_path, "电梯设备台账", "equipment", "A-01")
    with pytest.raises(PermissionDenied):
        system.verify.run(system.actor("li"))


def test_metadata_checks_catch_forbidden_characters_and_implausible_dates(sqlite_system) -> None:
    ctx = lib.CheckContext(metadata={"title": "电梯\x07台账", "security": "internal", "date": "1850-01-01",
                                     "year": 1850}, scheme=sqlite_system.scheme)
    found = lib.run_checks(ctx, ["no_forbidden_characters", "dates_plausible", "metadata_values"])
    assert "控制字符" in found["no_forbidden_characters"] and "1900" in found["dates_plausible"]
    assert found["metadata_values"] is None


def test_an_archive_number_that_disagrees_with_its_metadata_fails(sqlite_system) -> None:
    ctx = lib.CheckContext(metadata={"archive_no": "WX-A-01-2024-0001", "category": "equipment",
                                     "location": "A-01", "year": 2024}, scheme=sqlite_system.scheme)
    assert "类别代码" in lib.run_checks(ctx, ["archive_no_rule"])["archive_no_rule"]
