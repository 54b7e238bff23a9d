"""Demo rendering: the files tests and benchmarks are built from are what they claim to be."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pypdf import PdfReader

from dangan.demo import render

FORM = "维修工单\n维修编码：010023\n报修位置：B区3号楼1单元1202室卫生间"


def test_page_image_is_a_300dpi_a4_greyscale_page() -> None:
    img = render.page_image(FORM)
    assert img.mode == "L" and img.size == (2480, 3508)
    arr = np.asarray(img)
    assert arr.min() == 0 and (arr == 255).mean() > 0.9


def test_long_lines_wrap_within_the_margins() -> None:
    line = "业主已阅读并同意临时管理规约及前期物业服务合同的全部条款" * 4
    lines = render.wrapped_lines(line)
    assert len(lines) > 1 and "".join(lines) == line
    arr = np.asarray(render.page_image(line))
    margin = round(20 / 25.4 * 300)
    assert arr[:, : margin - 5].min() == 255 and arr[:, -margin + 5:].min() == 255


@pytest.mark.parametrize("font", ["wqy", "stsong"])
def test_text_pdf_carries_an_exact_text_layer(tmp_path: Path, font: str) -> None:
    pdf = render.text_pdf(tmp_path / "a.pdf", [FORM, "第二页"], font=font)
    reader = PdfReader(pdf)
    assert len(reader.pages) == 2
    assert reader.pages[0].extract_text().splitlines() == FORM.splitlines()


def test_scanned_pdf_has_no_text_layer(tmp_path: Path) -> None:
    pdf = render.scanned_pdf(tmp_path / "s.pdf", [render.page_image(FORM)])
    assert PdfReader(pdf).pages[0].extract_text().strip() == ""


def test_mixed_pdf_keeps_page_order(tmp_path: Path) -> None:
    pdf = render.pdf(tmp_path / "m.pdf", [FORM, render.page_image("扫描页")])
    texts = [p.extract_text().strip() for p in PdfReader(pdf).pages]
    assert texts[0].startswith("维修工单") and texts[1] == ""


def test_tiff_holds_one_ifd_per_page(tmp_path: Path) -> None:
    pages = [Image.new("L", (100, 140), 255) for _ in range(3)]
    for compression in ("tiff_lzw", "group4"):
        tif = render.tiff(tmp_path / f"{compression}.tif", pages, compression=compression)
        assert Image.open(tif).n_frames == 3


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_jpeg_exif_orientation_round_trips(tmp_path: Path, orientation: int) -> None:
    from PIL import ImageOps

    upright = Image.new("L", (120, 80), 255)
    upright.paste(0, (0, 0, 10, 10))
    jpg = render.jpeg(tmp_path / "p.jpg", upright, exif_orientation=orientation, quality=95)
    stored = Image.open(jpg)
    assert stored.getexif()[0x0112] == orientation
    shown = np.asarray(ImageOps.exif_transpose(stored))
    assert shown.shape == (80, 120) and shown[:10, :10].mean() < 60


def test_degrade_is_deterministic_and_changes_the_page() -> None:
    clean = render.page_image(FORM, paper_mm=(148, 105))
    a = render.degrade(clean, seed=3)
    b = render.degrade(clean, seed=3)
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert a.size != clean.size  # the tilt expands the canvas


def test_rotate_page_turns_quarter_turns() -> None:
    clean = render.page_image(FORM, paper_mm=(148, 105))
    assert render.rotate_page(clean, 90).size == (clean.height, clean.width)
    assert render.rotate_page(clean, 180).size == clean.size


def test_phone_photo_puts_the_page_on_a_darker_desk() -> None:
    clean = render.page_image(FORM, paper_mm=(148, 105))
    photo = np.asarray(render.phone_photo(clean, seed=1))
    assert photo.shape[0] > clean.height and photo.shape[1] > clean.width
    assert photo[:5, :5].mean() < 130  # the desk in the corner
