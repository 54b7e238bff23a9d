"""移交: a location's or a query's records as a BagIt package that outside tools accept."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import bagit
import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from dangan.archive.models import AuditEntry
from dangan.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from tests.handover.conftest import add_record, estate


def test_export_writes_a_bag_the_library_of_congress_validator_accepts(system, tmp_path: Path) -> None:
    numbers = estate(system, tmp_path)
    out = tmp_path / "pkg"
    facts = system.handover.export(system.actor("wang"), out, location="A", receiver="业主委员会")
    bag = bagit.Bag(str(out))
    bag.validate()  # raises on any fault
    assert facts["items"] == len(numbers) and sorted(facts["archive_nos"]) == sorted(numbers)
    assert bag.info["Dangan-Estate"] == "A 翠湖花园" and bag.info["Dangan-Receiver"] == "业主委员会"
    assert "Bagging-Date" in bag.info and bag.info["Source-Organization"]
    for name in ("metadata.json", "metadata.csv", "metadata.xlsx", "report/verify.json",
                 "report/verify.pdf", "report/transfer-list.pdf"):
        assert (out / "data" / name).is_file(), name
    for no in numbers:
        assert (out / "data" / "originals" / f"{no}.pdf").read_bytes()[:5] == b"%PDF-"


def test_exported_originals_are_the_ingested_bytes_unencrypted(system, tmp_path: Path) -> None:
    no = add_record(system, tmp_path, "电梯设备台账", "equipment", "A-01")
    out = tmp_path / "pkg"
    system.handover.export(system.actor("wang"), out, location="A-01")
    system.records.get(system.actor("wang"), no, tmp_path / "direct.pdf")
    assert (out / "data" / "originals" / f"{no}.pdf").read_bytes() == (tmp_path / "direct.pdf").read_bytes()


def test_metadata_lists_have_chinese_headers(system, tmp_path: Path) -> None:
    no = add_record(system, tmp_path, "电梯设备台账", "equipment", "A-01")
    out = tmp_path / "pkg"
    system.handover.export(system.actor("wang"), out, location="A-01")
    rows = list(csv.reader((out / "data" / "metadata.csv").read_text(encoding="utf-8-sig").splitlines()))
    assert rows[0][:3] == ["档号", "题名", "类别"] and rows[1][0] == no
    sheet = load_workbook(out / "data" / "metadata.xlsx").active
    assert sheet["A1"].value == "档号" and sheet["A2"].value == no
    facts = json.loads((out / "data" / "metadata.json").read_text(encoding="utf-8"))
    assert facts["records"][0]["title"] == "电梯设备台账"


def test_export_is_audited_per_record_and_kept_in_the_records_handover_history(system, tmp_path: Path) -> None:
    numbers = estate(system, tmp_path)
    facts = system.handover.export(system.actor("wang"), tmp_path / "pkg", location="A-01")
    with system.db.read() as s:
        targets = set(s.execute(select(AuditEntry.target).where(AuditEntry.action == "handover.export")).scalars())
        rec = system.records.find(s, numbers[1])
    assert targets == set(facts["archive_nos"])
    [event] = system.handover.history(rec.id)
    assert event["direction"] == "export" and event["package_id"] == facts["package_id"]


def test_export_refuses_a_destination_that_is_not_empty_and_leaves_nothing(system, tmp_path: Path) -> None:
    add_record(system, tmp_path, "电梯设备台账", "equipment", "A-01")
    out = tmp_path / "pkg"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(Conflict):
        system.handover.export(system.actor("wang"), out, location="A-01")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".pkg")) == []
    assert system.handover.packages(system.actor("wang")) == []


def test_export_of_an_empty_location_or_a_bad_code_is_refused_clearly(system, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="没有可移交的档案"):
        system.handover.export(system.actor("wang"), tmp_path / "p1", location="B")
    with pytest.raises(InvalidInput):
        system.handover.export(system.actor("wang"), tmp_path / "p2", location="A-1x")
    assert not (tmp_path / "p1").exists() and not (tmp_path / "p2").exists()


def test_staff_may_not_export(system, tmp_path: Path) -> None:
    add_record(system, tmp_path, "电梯设备台账", "equipment", "A-01")
    with pytest.raises(PermissionDenied):
        system.handover.export(system.actor("li"), tmp_path / "pkg", location="A-01")


def test_zip_stream_holds_the_same_bag_uncompressed(system, tmp_path: Path) -> None:
    import io
    import zipfile

    add_record(system, tmp_path, "电梯设备台账", "equipment", "A-01")
    facts, chunks = system.handover.export_zip(system.actor("wang"), location="A-01")
    blob = b"".join(chunks)
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        names = zf.namelist()
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())
        zf.extractall(tmp_path / "unzipped")
    top = names[0].split("/")[0]
    bagit.Bag(str(tmp_path / "unzipped" / top)).validate()
    assert not list((system.settings.home / "tmp").glob("dangan-handover-*"))  # cleaned up
    assert facts["items"] == 1
