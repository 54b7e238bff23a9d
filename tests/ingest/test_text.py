"""`extract`: every kind of input gives its text, page by page, upright, with how it was read."""

from __future__ import annotations

import concurrent.futures as cf
import pickle
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from dangan.demo import render
from dangan.ingest import detect
from dangan.ingest.text import Extraction, IngestSettings, extract, ocr_page
from tests.ingest.conftest import COMPLAINT_FORM, OWNER_FORM, REPAIR_FORM, small_scan

FAST = IngestSettings(ocr_engine="tesseract")


def squash(text: str) -> str:
    return "".join(text.split())


def test_scanned_pdf_is_read_by_ocr(tmp_path: Path) -> None:
    scanned = render.scanned_pdf(tmp_path / "scan.pdf", [small_scan(REPAIR_FORM)])
    result = extract(scanned)
    (page,) = result.pages
    assert result.media_type == detect.PDF and result.page_count == 1
    assert page.method in ("tesseract", "tesseract+rapidocr", "rapidocr")
    assert "卫生间地漏堵塞" in squash(page.text)
    assert not page.low_confidence


def test_png_scan_is_read_by_ocr(tmp_path: Path) -> None:
    png = render.png(tmp_path / "form.png", small_scan(OWNER_FORM))
    result = extract(png, FAST)
    assert result.media_type == detect.PNG
    assert "业主已领取钥匙三把" in squash(result.pages[0].text)


def test_exif_rotated_phone_jpeg_is_turned_upright(tmp_path: Path) -> None:
    jpg = render.jpeg(tmp_path / "phone.jpg", small_scan(REPAIR_FORM), exif_orientation=6)
    (page,) = extract(jpg, FAST).pages
    assert page.rotation == 270
    assert "维修编码：010023" in squash(page.text)


def test_sideways_scan_is_turned_upright(tmp_path: Path) -> None:
    page_image = render.page_image(OWNER_FORM + "\n" + REPAIR_FORM)
    png = render.png(tmp_path / "sideways.png", render.rotate_page(page_image, 90))
    (page,) = extract(png, FAST).pages
    assert page.rotation == 270  # a quarter turn clockwise undoes the counter-clockwise one
    assert "业主姓名：张建国" in squash(page.text)
    assert not page.low_confidence


def test_tilted_scan_is_straightened(tmp_path: Path) -> None:
    tilted = render.degrade(small_scan(COMPLAINT_FORM), rotation=2.5, noise=8, blur=0.5, jpeg_quality=60)
    (page,) = extract(render.png(tmp_path / "tilted.png", tilted), FAST).pages
    assert page.skew == pytest.approx(-2.5, abs=0.25)
    assert "夜间装修噪音影响休息" in squash(page.text)


def test_multi_page_tiff_yields_every_page(tmp_path: Path) -> None:
    forms = [OWNER_FORM, REPAIR_FORM, COMPLAINT_FORM]
    tif = render.tiff(tmp_path / "three.tif", [small_scan(f) for f in forms], compression="group4")
    result = extract(tif, FAST)
    assert result.page_count == 3 and [p.number for p in result.pages] == [1, 2, 3]
    for page, phrase in zip(result.pages, ["联系电话", "维修编码", "投诉处理记录"], strict=True):
        assert phrase in squash(page.text)


def test_mixed_pdf_keeps_text_pages_and_reads_scanned_ones(tmp_path: Path) -> None:
    mixed = render.pdf(tmp_path / "mixed.pdf", [OWNER_FORM, small_scan(COMPLAINT_FORM)])
    result = extract(mixed, FAST)
    assert [p.method for p in result.pages] == ["text", "tesseract"]
    assert result.pages[0].text.splitlines() == OWNER_FORM.splitlines()
    assert "已通知装修户停止夜间施工" in squash(result.pages[1].text)
    assert any("OCR" in w for w in result.warnings)


def test_text_layer_without_unicode_map_is_ocrd(tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    base = render.text_pdf(tmp_path / "base.pdf", [REPAIR_FORM])
    writer = PdfWriter(clone_from=PdfReader(base))
    for font in writer.pages[0]["/Resources"]["/Font"].values():
        font = font.get_object()
        font.pop("/ToUnicode", None)
        for descendant in font.get("/DescendantFonts", []):
            descendant.get_object().pop("/ToUnicode", None)
    broken = tmp_path / "no-tounicode.pdf"
    with open(broken, "wb") as fh:
        writer.write(fh)
    (page,) = extract(broken, FAST).pages
    assert page.method == "tesseract"
    assert "卫生间地漏堵塞" in squash(page.text)


def test_blank_page_is_blank_not_doubtful(tmp_path: Path) -> None:
    png = render.png(tmp_path / "blank.png", Image.new("L", (1240, 1754), 255))
    (page,) = extract(png, FAST).pages
    assert page.method == "blank" and page.text == "" and not page.low_confidence


def test_unreadable_page_is_flagged_for_review() -> None:
    import numpy as np

    noise = Image.fromarray((np.random.default_rng(1).random((600, 900)) * 255).astype("uint8"))
    page = ocr_page(noise, FAST)
    assert page.low_confidence


def test_settings_come_from_any_object_with_matching_fields() -> None:
    @dataclass
    class AppSettings:
        ocr_engine: str = "rapidocr"
        refuse_active_content: bool = False
        max_megapixels: int = 50
        web_port: int = 8000

    s = IngestSettings.coerce(AppSettings())
    assert (s.ocr_engine, s.refuse_active_content, s.max_pixels) == ("rapidocr", False, 50_000_000)
    assert IngestSettings.coerce(None) == IngestSettings()


def test_extract_runs_in_a_worker_process_and_pickles(tmp_path: Path, text_pdf) -> None:
    pdf = text_pdf(OWNER_FORM)
    with cf.ProcessPoolExecutor(1) as pool:
        result = pool.submit(extract, pdf, FAST).result(timeout=120)
    assert isinstance(result, Extraction)
    assert pickle.loads(pickle.dumps(result)) == result
    assert "张建国" in result.text


# a Traditional Chinese passage (from the property-archive management plan in reference/)
TRADITIONAL_PROSE = (
    "隨著城市化進程的加快和社區建設的不斷推進，物業服務在居民日常生活中的作用日益凸顯。"
    "為了更好地提供優質的物業服務，確保服務質量和效率，物業服務檔案的建立與管理顯得尤為重要。"
    "物業服務檔案是物業服務過程中的重要記錄，涵蓋了物業服務中的各項數據和信息，"
    "包括物業設施設備的維護、保養記錄，業主的投訴與建議，日常的服務工作記錄等。"
    "這些檔案不僅有助於物業公司進行內部管理，提高工作效率，同時也是解決物業糾紛、"
    "提升服務質量的重要依據。建立物業服務檔案，有利於規範物業服務流程，確保服務工作的連續性和系統性。"
)


def test_traditional_page_is_read_with_the_traditional_model(tmp_path: Path) -> None:
    png = render.png(tmp_path / "trad.png", render.page_image(TRADITIONAL_PROSE))
    (page,) = extract(png, FAST).pages
    assert page.lang == "chi_tra"
    assert "物業服務檔案的建立與管理顯得尤為重要" in squash(page.text)


def test_short_form_stays_with_the_simplified_model(tmp_path: Path) -> None:
    # too few script-sensitive characters to tell: the Simplified reading is kept
    png = render.png(tmp_path / "form.png", small_scan(REPAIR_FORM))
    (page,) = extract(png, FAST).pages
    assert page.lang == "chi_sim"
