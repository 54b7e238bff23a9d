"""`dangan verify` runs the 四性 checks on the decrypted originals of stored records."""

from __future__ import annotations

from pathlib import Path

from pypdf import PdfReader, PdfWriter
from pypdf.generic import DictionaryObject, NameObject, TextStringObject

from dangan.archive.records import RecordInput
from dangan.demo import render
from dangan.ingest.verify import verify_records


def store(system, path: Path, media_type: str) -> str:
    data = RecordInput(original_name=path.name, media_type=media_type, title="测试", category="maintenance",
                       location="A-01-001-0101")
    return system.records.create(system.actor("wang"), path, data).archive_no


def test_a_sound_pdf_passes_every_check(sqlite_system, tmp_path: Path) -> None:
    no = store(sqlite_system, render.text_pdf(tmp_path / "ok.pdf", ["电梯维修记录"]), "application/pdf")
    [result] = verify_records(sqlite_system, sqlite_system.actor("audit1"), [no])
    assert result["ok"] is True


def test_recorded_format_that_does_not_match_the_bytes_fails_authenticity(sqlite_system, tmp_path: Path) -> None:
    no = store(sqlite_system, render.text_pdf(tmp_path / "x.pdf", ["电梯"]), "image/png")
    [result] = verify_records(sqlite_system, sqlite_system.actor("audit1"), [no])
    assert result["ok"] is False and "image/png" in result["checks"]["authenticity"]


def test_active_content_in_a_stored_pdf_fails_security(sqlite_system, tmp_path: Path) -> None:
    src = render.text_pdf(tmp_path / "js.pdf", ["漏水"])
    writer = PdfWriter(clone_from=PdfReader(src))
    writer._root_object[NameObject("/OpenAction")] = writer._add_object(DictionaryObject({
        NameObject("/S"): NameObject("/JavaScript"), NameObject("/JS"): TextStringObject("app.alert(1)")}))
    bad = tmp_path / "with-js.pdf"
    with open(bad, "wb") as fh:
        writer.write(fh)
    no = store(sqlite_system, bad, "application/pdf")
    [result] = verify_records(sqlite_system, sqlite_system.actor("audit1"), [no])
    assert result["ok"] is False and "活动内容" in result["checks"]["security"]
    assert not list((sqlite_system.settings.home / "tmp").iterdir())  # no plaintext left behind
