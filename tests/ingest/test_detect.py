"""The media type comes from the bytes; misleading, damaged and two-faced files are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from dangan.demo import render
from dangan.errors import InvalidInput
from dangan.ingest import detect
from tests.ingest.conftest import OWNER_FORM, docx_bytes, small_scan, small_zip


def refusal(path: Path) -> str:
    with pytest.raises(InvalidInput) as info:
        detect.sniff(path)
    return str(info.value)


def test_type_comes_from_content_not_name(tmp_path: Path) -> None:
    scan = small_scan()
    png = render.png(tmp_path / "scan.pdf", scan)
    jpg = render.jpeg(tmp_path / "scan.png", scan)
    tif = render.tiff(tmp_path / "scan.jpg", [scan])
    pdf = render.text_pdf(tmp_path / "contract.tif", [OWNER_FORM])
    assert detect.sniff(png) == detect.PNG
    assert detect.sniff(jpg) == detect.JPEG
    assert detect.sniff(tif) == detect.TIFF
    assert detect.sniff(pdf) == detect.PDF


def test_zero_byte_file_is_refused_as_empty(make_file) -> None:
    assert "文件为空" in refusal(make_file("empty.pdf", b""))


def test_word_document_renamed_pdf_is_named(make_file) -> None:
    message = refusal(make_file("contract.pdf", docx_bytes()))
    assert "不支持的文件类型" in message and "Word" in message


def test_zip_archive_is_refused(make_file) -> None:
    assert "ZIP 压缩包" in refusal(make_file("scans.pdf", small_zip()))


def test_plain_text_renamed_pdf_is_refused(make_file) -> None:
    message = refusal(make_file("notice.pdf", "物业服务中心通知：本周六停水。\n".encode() * 20))
    assert "纯文本文件" in message


def test_html_page_is_refused(make_file) -> None:
    assert "HTML" in refusal(make_file("page.pdf", b"<!DOCTYPE html><html><body>hi</body></html>"))


def test_unknown_binary_is_refused(make_file) -> None:
    assert "无法识别" in refusal(make_file("blob.pdf", bytes(range(256)) * 8))


def test_truncated_pdf_is_refused(text_pdf, make_file) -> None:
    data = text_pdf(OWNER_FORM).read_bytes()
    message = refusal(make_file("cut.pdf", data[: len(data) * 2 // 3]))
    assert "PDF 文件被截断或损坏" in message


def test_pdf_with_broken_header_is_refused(text_pdf, make_file) -> None:
    data = text_pdf(OWNER_FORM).read_bytes()
    message = refusal(make_file("bad.pdf", b"%PFD-1.4" + data[8:]))
    assert "缺少有效的 %PDF- 文件头" in message


def test_pdf_with_invalid_xref_offset_is_refused(text_pdf, make_file) -> None:
    data = text_pdf(OWNER_FORM).read_bytes()
    head, _, _ = data.rpartition(b"startxref")
    message = refusal(make_file("xref.pdf", head + b"startxref\n99999999\n%%EOF\n"))
    assert "PDF 文件被截断或损坏" in message


def test_pdf_with_zip_appended_is_refused_as_polyglot(text_pdf, make_file) -> None:
    data = text_pdf(OWNER_FORM).read_bytes()
    message = refusal(make_file("poly.pdf", data + small_zip()))
    assert "ZIP" in message and "多重格式" in message


def test_pdf_with_html_prepended_is_refused_as_polyglot(text_pdf, make_file) -> None:
    data = text_pdf(OWNER_FORM).read_bytes()
    message = refusal(make_file("poly.pdf", b"<html><script>x()</script>" + data))
    assert "多重格式" in message


def test_pdf_with_script_after_eof_is_refused(text_pdf, make_file) -> None:
    data = text_pdf(OWNER_FORM).read_bytes()
    message = refusal(make_file("poly.pdf", data + b"<script>alert(1)</script>"))
    assert "网页或脚本代码" in message


def test_png_with_zip_appended_is_refused(tmp_path: Path, make_file) -> None:
    data = render.png(tmp_path / "a.png", small_scan()).read_bytes()
    assert "多重格式" in refusal(make_file("poly.png", data + small_zip()))


def test_jpeg_with_script_appended_is_refused(tmp_path: Path, make_file) -> None:
    data = render.jpeg(tmp_path / "a.jpg", small_scan()).read_bytes()
    assert "多重格式" in refusal(make_file("poly.jpg", data + b"<script>evil()</script>"))


def test_truncated_png_is_refused(tmp_path: Path, make_file) -> None:
    data = render.png(tmp_path / "a.png", small_scan()).read_bytes()
    assert "PNG 图像被截断或损坏" in refusal(make_file("cut.png", data[: len(data) // 2]))


def test_refusals_never_echo_file_content(make_file) -> None:
    secret = "身份证号110105198003154321".encode()
    message = refusal(make_file("x.pdf", secret * 50))
    assert "110105" not in message
