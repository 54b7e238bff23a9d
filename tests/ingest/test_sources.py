"""Where files come from: folders, ZIP archives, CSV manifests and the scanner inbox.

Every hostile input becomes an item carrying its reason (never an exception that stops
the batch, never a path outside where the user pointed)."""

from __future__ import annotations

import io
import os
import stat
import threading
import time
import zipfile
from pathlib import Path

import pytest

from dangan.errors import InvalidInput
from dangan.ingest.sources import (
    Inbox,
    expand_paths,
    expand_zip,
    fit_name,
    member_problem,
    read_manifest,
)

LONG_CHINESE = "物业维修记录" * 41 + "表单.pdf"  # 250 characters, 750 bytes of UTF-8


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def by_name(items):
    return {i.name: i for i in items}


# -- names -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../evil.pdf", "a/../../evil.pdf", "..\\evil.pdf", "a\\..\\..\\b.pdf"])
def test_member_with_dotdot_is_refused(name: str) -> None:
    assert "“..”" in member_problem(name)


@pytest.mark.parametrize("name", ["/etc/passwd", "\\\\server\\share\\x.pdf", "C:\\x.pdf", "c:x.pdf"])
def test_absolute_member_is_refused(name: str) -> None:
    assert "绝对路径" in member_problem(name)


def test_member_with_nul_is_refused() -> None:
    assert "空字符" in member_problem("a\x00.pdf")


def test_long_name_is_fine_inside_a_zip_but_not_on_disk() -> None:
    assert member_problem(LONG_CHINESE, on_disk=False) is None
    assert "255 字节" in member_problem(LONG_CHINESE)


def test_fit_name_keeps_extension_within_byte_limit() -> None:
    fitted = fit_name(LONG_CHINESE, 200)
    assert len(fitted.encode()) <= 200 and fitted.endswith("….pdf")
    assert fit_name("short.pdf") == "short.pdf"


# -- folders -----------------------------------------------------------------------------


def test_folder_is_walked_in_name_order_skipping_hidden(tmp_path: Path) -> None:
    root = tmp_path / "in"
    (root / "b").mkdir(parents=True)
    (root / ".git").mkdir()
    for rel in ("b/2.pdf", "a.pdf", "b/1.pdf", ".hidden.pdf", ".git/x.pdf"):
        (root / rel).write_bytes(b"%PDF-1.4")
    items = expand_paths([root], {"category": "maintenance"}, tmp_path / "work")
    assert [i.name for i in items] == ["in/a.pdf", "in/b/1.pdf", "in/b/2.pdf"]
    assert all(i.error is None and i.explicit == {"category": "maintenance"} for i in items)


def test_symlinks_in_a_folder_are_refused_not_followed(tmp_path: Path) -> None:
    secret = tmp_path / "secret.pdf"
    secret.write_bytes(b"%PDF-1.4 secret")
    root = tmp_path / "in"
    root.mkdir()
    (root / "link.pdf").symlink_to(secret)
    (root / "dirlink").symlink_to(tmp_path, target_is_directory=True)
    items = by_name(expand_paths([root], {}, tmp_path / "work"))
    assert items["in/link.pdf"].path is None and "符号链接" in items["in/link.pdf"].error
    assert not any(name.startswith("in/dirlink/") for name in items)


def test_missing_path_is_an_item_with_a_reason(tmp_path: Path) -> None:
    [item] = expand_paths([tmp_path / "nope.pdf"], {}, tmp_path)
    assert item.path is None and item.error == "文件不存在"


def test_shell_metacharacters_in_names_are_just_characters(tmp_path: Path) -> None:
    name = "$(rm -rf x);|&`id`.pdf"
    (tmp_path / name).write_bytes(b"%PDF-1.4")
    [item] = expand_paths([tmp_path / name], {}, tmp_path / "work")
    assert item.error is None and item.path == tmp_path / name


# -- ZIP ---------------------------------------------------------------------------------


def test_zip_members_are_extracted_under_safe_names(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    archive = write_zip(tmp_path / "scans.zip", {
        "ok.pdf": b"%PDF-1.4 ok", "../escape.pdf": b"x", "/abs.pdf": b"x", "dir\\..\\..\\win.pdf": b"x",
        LONG_CHINESE: b"%PDF-1.4 long", "$(rm -rf x);|&.pdf": b"%PDF-1.4 meta"})
    items = expand_paths([archive], {}, work)
    assert len(items) == 6
    good = [i for i in items if i.error is None]
    assert {i.path.read_bytes() for i in good} == {b"%PDF-1.4 ok", b"%PDF-1.4 long", b"%PDF-1.4 meta"}
    assert all(i.path.parent == work for i in good)
    refused = [i for i in items if i.error]
    assert len(refused) == 3 and all("拒绝处理" in i.error for i in refused)
    assert not (tmp_path / "escape.pdf").exists() and not Path("/abs.pdf").exists()
    long_item = next(i for i in good if "物业维修记录" in i.name)
    assert len(long_item.name) <= 200  # bounded for reports


def test_zip_symlink_member_is_refused(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("link.pdf")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    (tmp_path / "l.zip").write_bytes(buf.getvalue())
    [item] = expand_zip(tmp_path / "l.zip", "l.zip", {}, tmp_path)
    assert item.path is None and "符号链接" in item.error


def test_encrypted_zip_member_is_refused(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "e.zip", {"a.pdf": b"%PDF-1.4"})
    data = bytearray(archive.read_bytes())
    # set the "encrypted" flag bit in the local header and the central directory entry
    data[6] |= 1
    central = data.rfind(b"PK\x01\x02")
    data[central + 8] |= 1
    archive.write_bytes(bytes(data))
    [item] = expand_zip(archive, "e.zip", {}, tmp_path)
    assert item.path is None and "加密" in item.error


def test_zip_declaring_huge_content_is_refused_before_extraction(tmp_path: Path, monkeypatch) -> None:
    import dangan.ingest.sources as sources

    monkeypatch.setattr(sources, "MAX_ZIP_TOTAL", 1000)
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.pdf", b"\0" * 100_000)
    work = tmp_path / "work"
    work.mkdir()
    [item] = expand_zip(archive, "bomb.zip", {}, work)
    assert "压缩炸弹" in item.error and not list(work.iterdir())


def test_corrupt_zip_is_one_refused_item(tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04" + b"\x00" * 50)
    items = expand_paths([bad], {}, tmp_path)
    assert len(items) == 1 and "ZIP" in items[0].error


# -- manifests ---------------------------------------------------------------------------


def manifest(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "manifest.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_manifest_rows_carry_explicit_values(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.pdf").write_bytes(b"%PDF")
    path = manifest(folder, "\ufeffpath,category,location,title,date,security\n"
                            'sub/a.pdf,maintenance,A-01-001-0101,"两行\n题名",2024-03-05,internal\n')
    [item] = read_manifest(path)
    assert item.error is None and item.path == folder / "sub" / "a.pdf"
    assert item.explicit == {"category": "maintenance", "location": "A-01-001-0101", "title": "两行\n题名",
                             "date": "2024-03-05", "security": "internal"}


def test_manifest_only_path_is_required(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "a.pdf").write_bytes(b"%PDF")
    [item] = read_manifest(manifest(folder, "path\na.pdf\n"))
    assert item.error is None and item.explicit == {}


@pytest.mark.parametrize("raw", ["../outside.pdf", "sub/../../outside.pdf", "/etc/passwd"])
def test_manifest_row_outside_its_folder_is_refused(tmp_path: Path, raw: str) -> None:
    (tmp_path / "outside.pdf").write_bytes(b"%PDF")
    [item] = read_manifest(manifest(tmp_path / "m", f"path\n{raw}\n"))
    assert item.path is None and "第 2 行" in item.error and "拒绝处理" in item.error


def test_manifest_row_escaping_through_a_symlink_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "x.pdf").write_bytes(b"%PDF")
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "door").symlink_to(outside, target_is_directory=True)
    (folder / "file.pdf").symlink_to(outside / "x.pdf")
    items = read_manifest(manifest(folder, "path\ndoor/x.pdf\nfile.pdf\n"))
    assert [i.path for i in items] == [None, None]
    assert all("之外" in i.error and "符号链接" in i.error for i in items)


def test_manifest_symlink_inside_its_folder_is_still_refused(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "real.pdf").write_bytes(b"%PDF")
    (folder / "alias.pdf").symlink_to(folder / "real.pdf")
    [item] = read_manifest(manifest(folder, "path\nalias.pdf\n"))
    assert item.path is None and "符号链接" in item.error


def test_manifest_symlink_loop_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "loop").symlink_to(folder / "loop")
    [item] = read_manifest(manifest(folder, "path\nloop/a.pdf\n"))
    assert item.path is None and item.error


def test_manifest_path_with_overlong_name_is_refused_with_reason(tmp_path: Path) -> None:
    [item] = read_manifest(manifest(tmp_path / "m", f"path\n{LONG_CHINESE}\n"))
    assert "255 字节" in item.error


def test_manifest_bad_rows_do_not_stop_the_rest(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "a.pdf").write_bytes(b"%PDF")
    items = read_manifest(manifest(folder, "path,date\n,2024-01-01\na.pdf,2024-13-45\na.pdf,\nmissing.pdf,\n"))
    assert [bool(i.error) for i in items] == [True, True, False, True]
    assert "没有 path" in items[0].error and "日期" in items[1].error and items[3].error == "文件不存在"


def test_manifest_header_problems_are_refused_as_a_whole(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="path"):
        read_manifest(manifest(tmp_path / "a", "file,category\nx.pdf,basic\n"))
    with pytest.raises(InvalidInput, match="未知列"):
        read_manifest(manifest(tmp_path / "b", "path,colour\nx.pdf,red\n"))
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "gbk.csv").write_bytes("path,title\nx.pdf,维修\n".encode("gbk"))
    with pytest.raises(InvalidInput, match="UTF-8"):
        read_manifest(tmp_path / "c" / "gbk.csv")
    with pytest.raises(InvalidInput, match="不存在"):
        read_manifest(tmp_path / "none.csv")


# -- inbox -------------------------------------------------------------------------------


def age(path: Path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t), follow_symlinks=False)


def test_inbox_takes_a_file_only_after_it_stood_still(tmp_path: Path) -> None:
    box = Inbox(tmp_path, settle=1.0)
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(b"%PDF-1.4 page")
    age(scan, 5)
    assert box.ready() == []  # first sight: not yet known to be still
    assert box.ready() == [scan]
    scan.write_bytes(b"%PDF-1.4 page two")
    age(scan, 5)
    assert box.ready() == []  # changed since the last look


def test_inbox_leaves_too_recent_temp_and_hidden_files(tmp_path: Path) -> None:
    box = Inbox(tmp_path, settle=2.0)
    for name in ("fresh.pdf", "x.pdf.part", "y.tmp", ".hidden.pdf", "z.pdf.reason.txt"):
        (tmp_path / name).write_bytes(b"data")
    for name in ("x.pdf.part", "y.tmp", ".hidden.pdf", "z.pdf.reason.txt"):
        age(tmp_path / name, 60)
    box.ready()
    assert box.ready() == []


def test_inbox_ignores_a_file_being_appended(tmp_path: Path) -> None:
    box = Inbox(tmp_path, settle=0.3)
    scan = tmp_path / "scan.tif"
    stop = threading.Event()

    def writer() -> None:
        with open(scan, "ab") as fh:
            while not stop.is_set():
                fh.write(b"x" * 100)
                fh.flush()
                time.sleep(0.05)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        seen = []
        for _ in range(12):
            seen += box.ready()
            time.sleep(0.1)
        assert seen == []
    finally:
        stop.set()
        thread.join()
    deadline = time.time() + 5
    while scan not in box.ready():
        assert time.time() < deadline
        time.sleep(0.1)


def test_inbox_claim_and_finish_move_exactly_once(tmp_path: Path) -> None:
    box = Inbox(tmp_path, settle=0)
    (tmp_path / "a.pdf").write_bytes(b"1")
    claimed = box.claim(tmp_path / "a.pdf")
    assert claimed.parent == box.processing and box.pending_claims() == [claimed]
    assert Inbox.original_name(claimed) == "a.pdf"
    (tmp_path / "a.pdf").write_bytes(b"2")  # a new scan with the same name: a new claim
    second = box.claim(tmp_path / "a.pdf")
    assert box.finish(claimed, True) == box.done / "a.pdf"
    assert box.finish(second, False, "坏文件") == box.rejected / "a.pdf"
    (tmp_path / "b.pdf").write_bytes(b"3")
    third = box.claim(tmp_path / "b.pdf")
    (box.done / "b.pdf").write_bytes(b"older")
    assert box.finish(third, True) == box.done / "b.1.pdf"
    assert (box.rejected / "a.pdf.reason.txt").read_text(encoding="utf-8") == "坏文件\n"
    assert box.pending_claims() == []


def test_inbox_long_names_fit_the_file_system(tmp_path: Path) -> None:
    box = Inbox(tmp_path, settle=0)
    name = "物业维修记录" * 14 + ".pdf"  # 88 characters, 256 bytes with the extension … close to the limit
    name = name[: len(name) - 5] + ".pdf"
    assert len(name.encode()) <= 255
    (tmp_path / name).write_bytes(b"x")
    claimed = box.claim(tmp_path / name)
    rejected = box.finish(claimed, False, "原因")
    assert rejected.exists() and rejected.with_name(rejected.name + ".reason.txt").exists()


def test_inbox_offers_symlinks_so_they_can_be_refused(tmp_path: Path) -> None:
    target = tmp_path.parent / f"{tmp_path.name}-target.pdf"
    target.write_bytes(b"%PDF")
    box = Inbox(tmp_path, settle=0)
    (tmp_path / "link.pdf").symlink_to(target)
    assert box.ready() == [tmp_path / "link.pdf"]
