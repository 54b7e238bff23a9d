"""The records service: custody, duplicates, clearance, corrections, fixity and keys."""

from __future__ import annotations

import datetime as dt
import os
import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from dangan.archive.models import AuditEntry, Record
from dangan.archive.records import RecordInput, object_key
from dangan.errors import InvalidInput, NotFound, PermissionDenied


def new_input(**kw) -> RecordInput:
    base = dict(original_name="scan.pdf", media_type="application/pdf", title="电梯维修记录",
                category="maintenance", location="A-01-001-0101", doc_date=dt.date(2024, 3, 5),
                text_pages=[{"page": 1, "text": "电梯维修 漏水", "confidence": 1.0}])
    base.update(kw)
    return RecordInput(**base)


def make_file(tmp_path: Path, content: bytes, name: str = "f.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def test_record_gets_archive_number_and_original_round_trips(system, tmp_path: Path) -> None:
    src = make_file(tmp_path, os.urandom(300_000))
    wang = system.actor("wang")
    created = system.records.create(wang, src, new_input())
    assert created.status == "ingested"
    assert created.archive_no == "WX-A-01-001-0101-2024-0001"
    out = tmp_path / "out.bin"
    info = system.records.get(wang, created.archive_no, out)
    assert out.read_bytes() == src.read_bytes() and info["size"] == 300_000


def test_objects_in_the_store_are_ciphertext(system, tmp_path: Path) -> None:
    marker = "电梯维修记录独特标记".encode() * 100
    src = make_file(tmp_path, marker)
    created = system.records.create(system.actor("wang"), src, new_input())
    stored = b"".join(system.store.get(object_key(created.record_id, "original")))
    text = b"".join(system.store.get(object_key(created.record_id, "text")))
    assert marker[:30] not in stored and "漏水".encode() not in text


def test_sequence_counts_per_category_and_year(system, tmp_path: Path) -> None:
    wang = system.actor("wang")
    nos = [system.records.create(wang, make_file(tmp_path, os.urandom(100), f"{i}"),
                                 new_input(location=f"A-01-001-010{i}")).archive_no for i in range(3)]
    other = system.records.create(wang, make_file(tmp_path, os.urandom(100), "x"),
                                  new_input(category="safety")).archive_no
    assert [n.rsplit("-", 1)[1] for n in nos] == ["0001", "0002", "0003"]
    assert other == "AQ-A-01-001-0101-2024-0001"


def test_duplicate_is_reported_with_existing_number_and_not_stored_twice(system, tmp_path: Path) -> None:
    wang = system.actor("wang")
    first = system.records.create(wang, make_file(tmp_path, b"same bytes", "a"), new_input())
    again = system.records.create(wang, make_file(tmp_path, b"same bytes", "b"), new_input(title="另一个名字"))
    assert again.status == "duplicate" and again.archive_no == first.archive_no
    assert sorted(k.split("/")[1] for k in system.store.keys("records/")) == [first.record_id] * 2


def test_failed_commit_leaves_no_object_and_no_row(system, tmp_path: Path) -> None:
    def boom(session, result):
        raise RuntimeError("crash inside the transaction")

    with pytest.raises(RuntimeError):
        system.records.create(system.actor("wang"), make_file(tmp_path, b"x" * 5000), new_input(),
                              within=boom)
    assert list(system.store.keys("records/")) == []
    with system.db.session() as s:
        assert s.execute(select(Record)).first() is None


def test_wrong_location_segment_is_refused_before_anything_is_stored(system, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="楼栋"):
        system.records.create(system.actor("wang"), make_file(tmp_path, b"abc"),
                              new_input(location="A-1-001-0101"))
    assert list(system.store.keys()) == []


def test_unknown_category_is_refused(system, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="未知类别"):
        system.records.create(system.actor("wang"), make_file(tmp_path, b"abc"), new_input(category="lunch"))


def test_staff_cannot_ingest_and_the_refusal_is_audited(system, tmp_path: Path) -> None:
    with pytest.raises(PermissionDenied):
        system.records.create(system.actor("li"), make_file(tmp_path, b"abc"), new_input())
    with system.db.session() as s:
        last = s.execute(select(AuditEntry).order_by(AuditEntry.id.desc())).scalars().first()
        assert (last.actor, last.outcome) == ("li", "denied")


def test_clearance_hides_confidential_records(system, tmp_path: Path) -> None:
    created = system.records.create(system.actor("wang"), make_file(tmp_path, b"owner form"),
                                    new_input(category="owner", title="业主登记表"))
    assert system.records.show(system.actor("zhao"), created.archive_no)["security"] == "confidential"
    with pytest.raises(PermissionDenied):
        system.records.show(system.actor("li"), created.archive_no)
    with pytest.raises(PermissionDenied):
        system.records.get(system.actor("guest"), created.archive_no, tmp_path / "o")
    total, rows = system.records.list(system.actor("li"))
    assert total == 0 and rows == []


def test_auditor_sees_metadata_but_never_content(system, tmp_path: Path) -> None:
    created = system.records.create(system.actor("wang"), make_file(tmp_path, b"abc"),
                                    new_input(security="public"))
    system.records.show(system.actor("audit1"), created.archive_no)
    with pytest.raises(PermissionDenied):
        system.records.show(system.actor("audit1"), created.archive_no, with_text=True)
    with pytest.raises(PermissionDenied):
        system.records.get(system.actor("audit1"), created.archive_no, tmp_path / "o")


def test_correction_makes_a_new_version_and_keeps_old_number_as_alias(system, tmp_path: Path) -> None:
    wang = system.actor("wang")
    created = system.records.create(wang, make_file(tmp_path, b"abc"), new_input())
    after = system.records.edit(wang, created.archive_no, {"location": "A-01-001-0102"}, "房号录错")
    assert after["archive_no"] == "WX-A-01-001-0102-2024-0002" and after["version"] == 2
    shown = system.records.show(wang, created.archive_no)  # the old number still resolves
    assert shown["archive_no"] == after["archive_no"] and created.archive_no in shown["aliases"]
    assert shown["history"][0]["reason"] == "房号录错"
    assert shown["history"][0]["changes"]["location"] == ["A-01-001-0101", "A-01-001-0102"]


def test_edit_needs_a_reason(system, tmp_path: Path) -> None:
    created = system.records.create(system.actor("wang"), make_file(tmp_path, b"abc"), new_input())
    with pytest.raises(InvalidInput, match="原因"):
        system.records.edit(system.actor("wang"), created.archive_no, {"title": "新题名"}, " ")


def test_queued_record_gets_its_number_when_confirmed(system, tmp_path: Path) -> None:
    wang = system.actor("wang")
    created = system.records.create(wang, make_file(tmp_path, b"abc"), new_input(category=None))
    assert created.status == "queued" and created.archive_no is None
    assert created.provisional_no.startswith("DFL-")
    assert [r["provisional_no"] for r in system.records.review_queue(wang)] == [created.provisional_no]
    confirmed = system.records.edit(wang, created.provisional_no, {"category": "service"}, "确认分类")
    assert confirmed["archive_no"] == "KF-A-01-001-0101-2024-0001" and confirmed["status"] == "active"
    assert system.records.review_queue(wang) == []


def test_unknown_archive_number_is_not_found(system) -> None:
    with pytest.raises(NotFound):
        system.records.show(system.actor("wang"), "WX-A-01-001-0101-2024-9999")


def test_verify_finds_a_tampered_object(system, tmp_path: Path) -> None:
    created = system.records.create(system.actor("wang"), make_file(tmp_path, os.urandom(50_000)), new_input())
    root = Path(system.settings.store_url)
    obj = root / object_key(created.record_id, "original")
    data = bytearray(obj.read_bytes())
    data[len(data) // 2] ^= 0x01
    obj.write_bytes(bytes(data))
    [result] = system.records.verify(system.actor("audit1"), [created.archive_no])
    assert result["ok"] is False and isinstance(result["checks"]["security"], str)


def test_key_rotation_rewraps_every_key_and_content_still_opens(system, tmp_path: Path) -> None:
    wang = system.actor("wang")
    nos = [system.records.create(wang, make_file(tmp_path, os.urandom(1000), str(i)),
                                 new_input()).archive_no for i in range(3)]
    before = system.keyring.active_id
    out = system.rotate_keys(system.actor("root"))
    assert out["rewrapped"] == 3 and out["active"] != before
    assert before not in system.keyring.ids  # retired once nothing uses it
    assert all(r["ok"] for r in system.records.verify(system.actor("audit1"), nos))


def test_only_admin_rotates_keys(system) -> None:
    with pytest.raises(PermissionDenied):
        system.rotate_keys(system.actor("wang"))


def test_concurrent_creates_never_share_a_number(system, tmp_path: Path) -> None:
    wang = system.actor("wang")
    files = [make_file(tmp_path, os.urandom(64), f"c{i}") for i in range(12)]
    numbers: list[str] = []

    def work(chunk):
        for f in chunk:
            numbers.append(system.records.create(wang, f, new_input()).archive_no)

    threads = [threading.Thread(target=work, args=(files[i::3],)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(numbers)) == 12


def test_paper_original_is_a_record_without_bytes(system, tmp_path: Path) -> None:
    wang = system.actor("wang")
    created = system.records.create(wang, None, new_input(media_type="paper", text_pages=None,
                                                          custody="档案室 3 号柜 2 层"))
    shown = system.records.show(wang, created.archive_no)
    assert shown["sha256"] is None and shown["custody"] == "档案室 3 号柜 2 层"
    with pytest.raises(InvalidInput, match="纸质原件"):
        system.records.get(wang, created.archive_no, tmp_path / "o")
    [check] = system.records.verify(system.actor("audit1"), [created.archive_no])
    assert check["ok"] is True
    assert list(system.store.keys("records/")) == []


def test_register_many_numbers_and_audits_every_paper_record(system) -> None:
    wang = system.actor("wang")
    items = [new_input(media_type="paper", text_pages=None, custody="档案室 1 号柜", title=f"纸质卷 {i}")
             for i in range(7)]
    results = system.records.register_many(wang, items, batch=3)
    assert [r.archive_no.rsplit("-", 1)[1] for r in results] == [f"{i:04d}" for i in range(1, 8)]
    assert system.verify_audit(system.actor("audit1")).ok
    with pytest.raises(InvalidInput):
        system.records.register_many(wang, [new_input(media_type="paper", text_pages=None, location="A-1")])
