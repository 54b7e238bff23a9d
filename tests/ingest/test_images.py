"""Raster scans: bombs refused before decoding, damage reported, pages upright and all present."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dangan.demo import render
from dangan.errors import InvalidInput
from dangan.ingest import detect, images
from dangan.ingest.text import IngestSettings, extract
from tests.ingest.conftest import bomb_png, bomb_tiff, small_scan


def test_png_claiming_huge_dimensions_is_refused_before_decoding(make_file) -> None:
    bomb = make_file("bomb.png", bomb_png(100_000, 100_000))  # 10 gigapixels in 69 bytes
    assert bomb.stat().st_size < 200
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(InvalidInput, match=r"100000×100000 像素.*解压炸弹"):
        extract(bomb)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert time.perf_counter() - start < 5
    assert peak < 50_000_000


def test_tiff_claiming_huge_dimensions_is_refused(make_file) -> None:
    bomb = make_file("bomb.tif", bomb_tiff(30_000, 30_000))
    with pytest.raises(InvalidInput, match="解压炸弹"):
        extract(bomb)


def test_pixel_limit_is_a_setting(tmp_path: Path) -> None:
    scan = render.png(tmp_path / "a.png", small_scan())  # 1748 × 1240 ≈ 2.2 MP
    with pytest.raises(InvalidInput, match="超过 1 百万像素的上限"):
        extract(scan, IngestSettings(max_megapixels=1))


def test_truncated_jpeg_is_refused(tmp_path: Path, make_file) -> None:
    data = render.jpeg(tmp_path / "a.jpg", small_scan()).read_bytes()
    cut = make_file("cut.jpg", data[: len(data) // 2])
    with pytest.raises(InvalidInput, match="JPEG 图像被截断或损坏"):
        extract(cut)


def test_truncated_tiff_is_refused(tmp_path: Path, make_file) -> None:
    data = render.tiff(tmp_path / "a.tif", [small_scan()], compression="raw").read_bytes()
    cut = make_file("cut.tif", data[: len(data) // 2])
    with pytest.raises(InvalidInput, match="TIFF"):
        extract(cut)


def test_multi_page_tiff_yields_every_page_in_order(tmp_path: Path) -> None:
    pages = [Image.new("L", (300 + 10 * i, 400), 255) for i in range(5)]
    tif = render.tiff(tmp_path / "five.tif", pages)
    assert images.page_count(tif, detect.TIFF) == 5
    widths = [p.image.width for p in images.iter_pages(tif, detect.TIFF)]
    assert widths == [300, 310, 320, 330, 340]


def test_tiff_pages_are_independent_images(tmp_path: Path) -> None:
    pages = [Image.new("L", (50, 50), v) for v in (0, 128, 255)]
    tif = render.tiff(tmp_path / "three.tif", pages)
    decoded = list(images.iter_pages(tif, detect.TIFF))
    assert [int(np.asarray(p.image).mean()) for p in decoded] == [0, 128, 255]


@pytest.mark.parametrize("orientation, degrees", [(3, 180), (6, 270), (8, 90)])
def test_exif_orientation_is_applied(tmp_path: Path, orientation: int, degrees: int) -> None:
    upright = Image.new("L", (200, 100), 255)
    upright.paste(0, (0, 0, 20, 20))  # a black mark in the top-left corner
    jpg = render.jpeg(tmp_path / "phone.jpg", upright, exif_orientation=orientation, quality=95)
    assert Image.open(jpg).size != upright.size or orientation == 3
    (page,) = images.iter_pages(jpg, detect.JPEG)
    assert page.image.size == (200, 100)
    assert page.rotation == degrees
    arr = np.asarray(page.image)
    assert arr[:20, :20].mean() < 60 and arr[-20:, -20:].mean() > 200


@pytest.mark.parametrize("mode", ["1", "P", "RGBA", "LA", "I;16", "CMYK"])
def test_unusual_modes_become_grey_or_rgb(tmp_path: Path, mode: str) -> None:
    img = Image.new("L", (64, 64), 255).convert(mode) if mode != "I;16" else Image.new("I;16", (64, 64), 60000)
    path = tmp_path / "m.tif"
    img.save(path, format="TIFF")
    (page,) = images.iter_pages(path, detect.TIFF)
    assert page.image.mode in ("L", "RGB")
