"""The core commands as CONTRACT.md states them, and the bad inputs of the core issue:
each gets one clear sentence on stderr, exit status 1, and leaves nothing behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from dangan.system import open_dangan

SHOW_FIELDS = {"archive_no", "title", "category", "location", "year", "date", "security", "status",
               "sha256", "pages", "media_type", "retention"}
INGEST_FIELDS = {"file", "status", "archive_no", "category", "location", "title", "pages", "error"}


def nothing_stored(home: Path) -> bool:
    system = open_dangan(home)
    try:
        with system.db.read() as s:
            rows = s.execute(sa.text("SELECT count(*) FROM records")).scalar_one()
        return rows == 0 and not list(system.store.keys("records/"))
    finally:
        system.close()


def assert_refused(result, *needles: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    err = result.stderr.strip()
    assert err.startswith("错误：") and len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err


def test_ingest_show_get_verify_round_trip(cli, text_pdf: Path, tmp_path: Path) -> None:
    [out] = cli.json("ingest", str(text_pdf), "--category", "maintenance", user="wang")
    assert out.keys() >= INGEST_FIELDS and out["status"] == "ingested"
    assert out["archive_no"] == "WX-A-01-001-0101-2024-0001" and out["location"] == "A-01-001-0101"
    shown = cli.json("show", out["archive_no"], user="wang")
    assert shown.keys() >= SHOW_FIELDS and shown["date"] == "2024-03-05" and shown["pages"] == 1
    assert shown["retention"]["period"] == "D10" and shown["retention"]["until"] == "2034-03-05"
    with_text = cli.json("show", out["archive_no"], "--text", user="wang")
    assert "卫生间水管漏水" in with_text["text"]
    target = tmp_path / "copy.pdf"
    assert cli("get", out["archive_no"], "-o", str(target), user="wang").exit_code == 0
    assert target.read_bytes() == text_pdf.read_bytes()
    [check] = cli.json("verify", out["archive_no"], user="audit1")
    assert {k: check[k] for k in ("archive_no", "ok", "checks")} == {"archive_no": out["archive_no"], "ok": True,
                     "checks": {"authenticity": True, "integrity": True, "usability": True, "security": True}}


def test_duplicate_under_another_name_reports_the_existing_number(cli, text_pdf: Path, tmp_path: Path) -> None:
    [first] = cli.json("ingest", str(text_pdf), user="wang")
    copy = tmp_path / "另一个名字.pdf"
    copy.write_bytes(text_pdf.read_bytes())
    [again] = cli.json("ingest", str(copy), user="wang")
    assert again["status"] == "duplicate" and again["archive_no"] == first["archive_no"]


def test_init_is_idempotent(cli) -> None:
    again = cli("init", "--admin", "root", "--security", "secofficer", "--auditor", "audit1")
    assert again.exit_code == 0 and "已存在" in again.stdout


def test_second_init_with_a_different_key_is_refused(cli, monkeypatch) -> None:
    monkeypatch.setenv("DANGAN_KEK", "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=")
    assert_refused(cli("init", "--admin", "root", "--security", "secofficer", "--auditor", "audit1"), "密钥")


def test_zero_byte_file_is_refused(cli, tmp_path: Path) -> None:
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    result = cli("ingest", str(empty), user="wang")
    assert result.exit_code == 1 and "为空" in result.stdout
    assert nothing_stored(cli.home)


def test_truncated_pdf_is_refused(cli, text_pdf: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(text_pdf.read_bytes()[: len(text_pdf.read_bytes()) // 2])
    result = cli("ingest", str(cut), "--json", user="wang")
    assert result.exit_code == 1
    [row] = json.loads(result.stdout)
    assert row["status"] == "rejected" and ("截断" in row["error"] or "损坏" in row["error"])
    assert nothing_stored(cli.home)


def test_file_that_only_claims_to_be_a_pdf_is_refused(cli, tmp_path: Path) -> None:
    fake = tmp_path / "invoice.pdf"
    fake.write_text("这不是 PDF，只是改了扩展名的文本。" * 20, encoding="utf-8")
    result = cli("ingest", str(fake), "--json", user="wang")
    [row] = json.loads(result.stdout)
    assert result.exit_code == 1 and row["status"] == "rejected" and row["error"]
    assert nothing_stored(cli.home)


def test_password_protected_pdf_is_refused(cli, text_pdf: Path, tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(text_pdf))
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="AES-256")
    locked = tmp_path / "locked.pdf"
    with open(locked, "wb") as fh:
        writer.write(fh)
    result = cli("ingest", str(locked), "--json", user="wang")
    [row] = json.loads(result.stdout)
    assert result.exit_code == 1 and "加密" in row["error"]
    assert nothing_stored(cli.home)


def test_unsupported_file_type_is_refused(cli, tmp_path: Path) -> None:
    exe = tmp_path / "setup.pdf"
    exe.write_bytes(b"MZ\x90\x00" + os.urandom(4000))
    result = cli("ingest", str(exe), "--json", user="wang")
    [row] = json.loads(result.stdout)
    assert result.exit_code == 1 and row["status"] == "rejected"
    assert nothing_stored(cli.home)


def test_location_with_a_wrong_segment_is_named(cli, text_pdf: Path) -> None:
    assert_refused(cli("ingest", str(text_pdf), "--location", "A-01-1-0101", user="wang"), "单元")
    assert nothing_stored(cli.home)


def test_unknown_category_is_refused(cli, text_pdf: Path) -> None:
    assert_refused(cli("ingest", str(text_pdf), "--category", "lunch", user="wang"), "未知类别")
    assert nothing_stored(cli.home)


def test_unknown_user_is_refused(cli, text_pdf: Path) -> None:
    assert_refused(cli("ingest", str(text_pdf), user="nobody"), "未知用户")
    assert nothing_stored(cli.home)


def test_user_without_the_right_is_refused(cli, text_pdf: Path) -> None:
    assert_refused(cli("ingest", str(text_pdf), user="li"), "li")
    assert nothing_stored(cli.home)
    assert_refused(cli("user", "add", "x", "--role", "staff", user="root"), "安全保密员")


def test_missing_user_is_a_clear_error(cli, text_pdf: Path) -> None:
    assert_refused(cli("ingest", str(text_pdf)), "--as")


def test_bad_usage_exits_2(cli) -> None:
    assert cli("show").exit_code == 2


def test_audit_verify_names_the_first_edited_entry(cli, text_pdf: Path) -> None:
    cli.json("ingest", str(text_pdf), user="wang")
    ok = cli.json("audit", "verify", user="audit1")
    assert ok["ok"] is True and ok["first_bad"] is None and ok["entries"] > 5
    system = open_dangan(cli.home)
    with system.db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_log SET target = 'forged' WHERE id = 4"))
    system.close()
    bad = cli("audit", "verify", "--json", user="audit1")
    assert bad.exit_code == 1 and json.loads(bad.stdout)["first_bad"] == 4


def test_audit_log_lists_actions(cli, text_pdf: Path) -> None:
    cli.json("ingest", str(text_pdf), user="wang")
    rows = cli.json("audit", "log", "--action", "record.ingest", user="audit1")
    assert [r["actor"] for r in rows] == ["wang"]


def test_keys_rotate_keeps_every_record_readable(cli, text_pdf: Path, tmp_path: Path) -> None:
    [out] = cli.json("ingest", str(text_pdf), user="wang")
    rotated = cli.json("keys", "rotate", user="root")
    assert rotated["rewrapped"] == 1
    assert cli("get", out["archive_no"], "-o", str(tmp_path / "x.pdf"), user="wang").exit_code == 0
    assert (tmp_path / "x.pdf").read_bytes() == text_pdf.read_bytes()


def test_console_script_prints_no_traceback(home: Path) -> None:
    exe = Path(sys.executable).with_name("dangan")
    proc = subprocess.run([str(exe), "--home", str(home), "--as", "x", "show", "X"], capture_output=True,
                          text=True, env={**os.environ, "DANGAN_HOME": str(home)})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "dangan init" in proc.stderr
