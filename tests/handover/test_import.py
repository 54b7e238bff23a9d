"""接管: a sound package arrives whole, with its 档号; a bad one is refused whole."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import zipfile
from pathlib import Path

import bagit
import pytest

from dangan.archive.records import RecordInput
from dangan.demo import render
from dangan.errors import InvalidInput
from tests.handover.conftest import add_record, count_records, edit_metadata, estate, rehash

SAME = ("archive_no", "title", "category", "location", "year", "date", "security", "sha256", "pages",
        "media_type", "size", "original_name", "responsible", "custody", "retention")


def export(system, tmp: Path, location: str = "A") -> Path:
    out = tmp / "pkg"
    system.handover.export(system.actor("wang"), out, location=location)
    return out


# -- round trip -------------------------------------------------------------------------

def test_round_trip_keeps_bytes_metadata_and_archive_numbers(system, receiver, tmp_path: Path) -> None:
    numbers = estate(system, tmp_path)
    pkg = export(system, tmp_path)
    report = receiver.handover.takeover(receiver.actor("chen"), pkg)
    assert report["ok"] is True, report["findings"]
    assert sorted(a["archive_no"] for a in report["imported"]) == sorted(numbers)
    [warning] = [f for f in report["findings"] if f["check"] == "project_registered"]
    assert warning["level"] == "warning" and "翠湖花园" in warning["message"]  # A is not registered there yet
    for no in numbers:
        before = system.records.show(system.actor("wang"), no, with_text=True)
        after = receiver.records.show(receiver.actor("chen"), no, with_text=True)
        assert {k: after[k] for k in SAME} == {k: before[k] for k in SAME}
        assert after["text"] == before["text"]
        system.records.get(system.actor("wang"), no, tmp_path / "a.bin")
        receiver.records.get(receiver.actor("chen"), no, tmp_path / "b.bin")
        assert (tmp_path / "a.bin").read_bytes() == (tmp_path / "b.bin").read_bytes()
    verified = receiver.verify.run(receiver.actor("aud2"))
    assert verified["failed"] == 0, [r for r in verified["results"] if not r["ok"]]


def test_numbers_after_a_takeover_continue_past_the_kept_ones(system, receiver, tmp_path: Path) -> None:
    add_record(system, tmp_path, "电梯维修记录一", "maintenance", "A-01-001-0101", "2024-05-04")
    kept = add_record(system, tmp_path, "电梯维修记录二", "maintenance", "A-01-001-0101", "2024-05-05")
    assert receiver.handover.takeover(receiver.actor("chen"), export(system, tmp_path))["ok"]
    new = add_record(receiver, tmp_path, "电梯维修记录三", "maintenance", "A-01-001-0101", "2024-06-01",
                     user="chen")
    assert new.rsplit("-", 1)[1] > kept.rsplit("-", 1)[1]


def test_takeover_is_audited_and_kept_in_each_records_history(system, receiver, tmp_path: Path) -> None:
    [no] = [add_record(system, tmp_path, "电梯设备台账", "equipment", "A-01")]
    report = receiver.handover.takeover(receiver.actor("chen"), export(system, tmp_path, "A-01"))
    with receiver.db.read() as s:
        rec = receiver.records.find(s, no)
    [event] = receiver.handover.history(rec.id)
    assert event["direction"] == "import" and event["package_id"] == report["package_id"]
    entries = receiver.audit_log(receiver.actor("aud2"), action="handover.import")
    assert [e["target"] for e in entries] == [no]


def test_a_package_in_a_zip_is_taken_over_too(system, receiver, tmp_path: Path) -> None:
    no = add_record(system, tmp_path, "电梯设备台账", "equipment", "A-01")
    pkg = export(system, tmp_path, "A-01")
    archive = shutil.make_archive(str(tmp_path / "pkg"), "zip", tmp_path, "pkg")
    report = receiver.handover.takeover(receiver.actor("chen"), Path(archive))
    assert report["ok"] and [a["archive_no"] for a in report["imported"]] == [no]
    assert pkg.exists()


def test_a_number_this_archive_cannot_express_is_renumbered_and_kept_as_alias(system, receiver,
                                                                              tmp_path: Path) -> None:
    add_record(system, tmp_path, "电梯设备台账", "equipment", "A-01")
    pkg = export(system, tmp_path, "A-01")
    edit_metadata(pkg, lambda f: f["records"][0].update(archive_no="OLD/SB/2019/7"))
    report = receiver.handover.takeover(receiver.actor("chen"), pkg)
    assert report["ok"], report["findings"]
    [arrived] = report["imported"]
    assert arrived["source_no"] == "OLD/SB/2019/7" and arrived["archive_no"].startswith("SB-A-01-")
    shown = receiver.records.show(receiver.actor("chen"), "OLD/SB/2019/7")  # the old number resolves
    assert shown["archive_no"] == arrived["archive_no"] and "OLD/SB/2019/7" in shown["aliases"]


# -- bad packages: clear findings, nothing imported ------------------------------------

def refused(system, pkg: Path, needle: str) -> dict:
    before = count_records(system)
    report = system.handover.takeover(system.actor("wang"), pkg)
    assert report["ok"] is False
    messages = " ".join(f"{f['target']}：{f['message']}" for f in report["findings"] if f["level"] == "error")
    assert needle in messages, messages
    assert count_records(system) == before and report["imported"] == []
    return report


@pytest.fixture
def package(tmp_path: Path, system, receiver) -> Path:
    """A sound two-record package made by the receiver's peer; imported into `system`."""
    add_record(receiver, tmp_path, "电梯设备台账", "equipment", "A-01", user="chen")
    add_record(receiver, tmp_path, "1号楼建筑竣工图", "equipment", "A-01", "2019-01-12", user="chen")
    out = tmp_path / "pkg"
    receiver.handover.export(receiver.actor("chen"), out, location="A-01")
    return out


def test_a_changed_file_is_refused(system, package: Path) -> None:
    victim = next((package / "data" / "originals").iterdir())
    victim.write_bytes(victim.read_bytes().replace(b"%%EOF", b"%%EOF\n% changed"))
    refused(system, package, "被改动过")


def test_a_changed_file_with_a_rewritten_manifest_is_still_refused(system, package: Path) -> None:
    victim = next((package / "data" / "originals").iterdir())
    victim.write_bytes(victim.read_bytes() + b"\n% appended")
    rehash(package)  # the bag is self-consistent now; the record's own digest is not
    refused(system, package, "SHA-256")


def test_a_missing_file_is_refused(system, package: Path) -> None:
    next((package / "data" / "originals").iterdir()).unlink()
    refused(system, package, "不存在")


def test_an_extra_file_is_refused(system, package: Path) -> None:
    (package / "data" / "originals" / "stowaway.pdf").write_bytes(b"%PDF-1.4 hidden")
    refused(system, package, "多出的文件")


def test_a_manifest_that_lies_about_sizes_is_refused(system, package: Path) -> None:
    info = package / "bag-info.txt"
    text = info.read_text(encoding="utf-8")
    octets, count = text.split("Payload-Oxum: ")[1].split()[0].split(".")
    info.write_text(text.replace(f"Payload-Oxum: {octets}.{count}", f"Payload-Oxum: {int(octets) + 999}.{count}"),
                    encoding="utf-8")
    refused(system, package, "清单与内容不符")


def test_metadata_that_lies_about_a_files_size_is_refused(system, package: Path) -> None:
    edit_metadata(package, lambda f: f["records"][0].update(size=f["records"][0]["size"] + 10))
    refused(system, package, "字节")


def test_a_path_escaping_the_package_is_refused(system, package: Path, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("outside")
    manifest = package / "manifest-sha256.txt"
    manifest.write_text(manifest.read_text() + "0" * 64 + "  data/../../secret.txt\n", encoding="utf-8")
    refused(system, package, "超出了包")


def test_metadata_pointing_outside_the_package_is_refused(system, package: Path) -> None:
    edit_metadata(package, lambda f: f["records"][0].update(file="data/../../../etc/passwd"))
    refused(system, package, "超出了包")


def test_a_zip_with_a_member_escaping_it_is_refused(system, package: Path, tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in package.rglob("*"):
            if p.is_file():
                zf.write(p, p.relative_to(package).as_posix())
        zf.writestr("../../escaped.txt", "boo")
    refused(system, archive, "超出了包")
    assert not (tmp_path.parent / "escaped.txt").exists()


def test_duplicate_archive_numbers_in_a_package_are_refused(system, package: Path) -> None:
    def same_number(f: dict) -> None:
        f["records"][1]["archive_no"] = f["records"][0]["archive_no"]
    edit_metadata(package, same_number)
    refused(system, package, "出现了 2 次")


def test_a_number_already_taken_here_is_refused(system, package: Path) -> None:
    assert system.handover.takeover(system.actor("wang"), package)["ok"]
    refused(system, package, "已被使用")


def test_a_package_that_is_not_valid_for_bagit_is_refused_by_both(system, package: Path) -> None:
    (package / "data" / "originals" / "stowaway.pdf").write_bytes(b"%PDF-1.4 hidden")
    with pytest.raises(bagit.BagValidationError):
        bagit.Bag(str(package)).validate()
    refused(system, package, "多出的文件")


# -- plain folders with a CSV list ----------------------------------------------------------

def folder(tmp: Path, encoding: str, rows: list[list[str]]) -> Path:
    root = tmp / "folder"
    (root / "图纸").mkdir(parents=True)
    render.text_pdf(root / "图纸" / "总平面图.pdf", ["竣工总平面图"])
    render.text_pdf(root / "台账.pdf", ["电梯设备台账"])
    lines = ["文件,题名,类别,位置,日期"] + [",".join(r) for r in rows]
    (root / "清单.csv").write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return root


ROWS = [["图纸/总平面图.pdf", "翠湖花园竣工总平面图", "基础资料", "A", "2019-01-10"],
        ["台账.pdf", "电梯设备台账", "SB", "A-01", "2020-03-01"]]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_a_plain_folder_with_a_csv_list_is_taken_over_in_any_usual_encoding(system, tmp_path: Path,
                                                                              encoding: str) -> None:
    report = system.handover.takeover(system.actor("wang"), folder(tmp_path, encoding, ROWS))
    assert report["ok"], report["findings"]
    titles = sorted(a["title"] for a in report["imported"])
    assert titles == ["电梯设备台账", "翠湖花园竣工总平面图"]
    assert all(a["archive_no"].startswith(("JC-A-2019-", "SB-A-01-2020-")) for a in report["imported"])
    assert (report["encoding"] == "GBK") == (encoding == "gbk")


def test_a_csv_list_in_an_unreadable_encoding_is_refused_clearly(system, tmp_path: Path) -> None:
    root = folder(tmp_path, "utf-8", ROWS)
    (root / "清单.csv").write_bytes("文件,题名\n台账.pdf,".encode() + b"\x81\xff\xfe\x80\n")
    refused(system, root, "既不是 UTF-8 也不是 GBK")


def test_a_csv_list_naming_a_file_outside_the_folder_is_refused(system, tmp_path: Path) -> None:
    refused(system, folder(tmp_path, "utf-8", [*ROWS, ["../secret.pdf", "x", "SB", "A-01", "2020-01-01"]]),
            "超出了包")


def test_a_csv_list_with_an_unknown_category_is_refused(system, tmp_path: Path) -> None:
    refused(system, folder(tmp_path, "utf-8", [ROWS[0], ["台账.pdf", "电梯设备台账", "杂项", "A-01", "2020-03-01"]]),
            "未知类别")


def test_a_file_in_a_format_outside_the_archival_list_is_refused(system, tmp_path: Path) -> None:
    root = folder(tmp_path, "utf-8", [*ROWS, ["说明.docx", "说明", "SB", "A-01", "2020-03-01"]])
    (root / "说明.docx").write_bytes(b"PK\x03\x04 not an archival format")
    refused(system, root, "说明.docx")


def test_a_dry_run_reports_without_importing(system, tmp_path: Path) -> None:
    before = count_records(system)
    report = system.handover.takeover(system.actor("wang"), folder(tmp_path, "utf-8", ROWS), dry_run=True)
    assert report["ok"] and report["imported"] == [] and count_records(system) == before


def test_a_missing_source_is_an_error_not_a_finding(system, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="不存在"):
        system.handover.takeover(system.actor("wang"), tmp_path / "nowhere")


def test_dates_in_the_future_fail_the_receiving_checks(system, tmp_path: Path) -> None:
    soon = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    refused(system, folder(tmp_path, "utf-8", [ROWS[0], ["台账.pdf", "电梯设备台账", "SB", "A-01", soon]]),
            "晚于今天")


def test_takeover_report_pdf_is_written(system, tmp_path: Path) -> None:
    report = system.handover.takeover(system.actor("wang"), folder(tmp_path, "utf-8", ROWS))
    blob = system.handover.report_pdf(report)
    assert blob[:5] == b"%PDF-" and len(blob) > 2000
    json.dumps(report, ensure_ascii=False, default=str)


def test_records_still_in_the_review_queue_travel_and_wait_in_the_receivers_queue(system, receiver,
                                                                                  tmp_path: Path) -> None:
    """A handover is the estate's whole file: an undated record waiting in 待分类 goes too,
    under its provisional number, and the receiving archive queues it for its archivists."""
    numbers = estate(system, tmp_path)
    waiting = system.records.create(
        system.actor("wang"), render.text_pdf(tmp_path / "undated.pdf", ["1号楼消防巡查记录"]),
        RecordInput(original_name="undated.pdf", media_type="application/pdf", title="1号楼消防巡查记录",
                    category="safety", location="A-01", pages=1, queue=True,
                    text_pages=[{"page": 1, "text": "1号楼消防巡查记录", "method": "text"}]))
    assert waiting.archive_no is None
    pkg = export(system, tmp_path)
    assert json.loads((pkg / "data" / "metadata.json").read_text())["items"] == len(numbers) + 1
    report = receiver.handover.takeover(receiver.actor("chen"), pkg)
    assert report["ok"] is True, report["findings"]
    [queued] = [a for a in report["imported"] if a["status"] == "queued"]
    assert queued["title"] == "1号楼消防巡查记录"
    assert [r["title"] for r in receiver.records.review_queue(receiver.actor("chen"))] == ["1号楼消防巡查记录"]
    assert receiver.verify.run(receiver.actor("aud2"))["failed"] == 0
