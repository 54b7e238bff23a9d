"""Raster scans (TIFF, PNG, JPEG): page by page, upright, and never a decompression bomb.

Why the care: a 60 KB PNG can declare 100 000 × 100 000 pixels and take 10 GB to
decode. Pillow's `Image.open` only parses the header, so the page's dimensions are
checked against the configured limit *before* any pixel is decoded, per TIFF page.
Pages are yielded one at a time so a 500-page TIFF never sits in memory at once. EXIF
orientation (phones, some scanners) is applied so OCR sees the page the way a person
would.
"""

from __future__ import annotations

import contextlib
import os
import struct
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

from PIL import Image, ImageOps

from dangan.errors import InvalidInput
from dangan.ingest import detect

DEFAULT_MAX_PIXELS = 200_000_000
DEFAULT_MAX_PAGES = 5000

_FORMATS = {detect.TIFF: "TIFF", detect.PNG: "PNG", detect.JPEG: "JPEG"}
_NAMES = {detect.TIFF: "TIFF", detect.PNG: "PNG", detect.JPEG: "JPEG"}

# EXIF orientation → degrees counter-clockwise the viewer turns the stored pixels
_EXIF_DEGREES = {1: 0, 2: 0, 3: 180, 4: 180, 5: 270, 6: 270, 7: 90, 8: 90}


@dataclass
class RasterPage:
    """One decoded page, upright, with the turn EXIF asked for (degrees counter-clockwise)."""

    image: Image.Image
    rotation: int
    dpi: float | None


@contextlib.contextmanager
def _pillow_limit(max_pixels: int) -> Iterator[None]:
    """Make Pillow's own bomb check agree with ours while we open and decode.

    Pillow refuses above 2 × MAX_IMAGE_PIXELS (~179 MP by default), which would refuse
    pages our configured limit allows; its warning between 1× and 2× is noise once we
    have checked the size ourselves. The pipeline runs one file per process, so the
    temporary change of the module setting cannot race another open.
    """
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def _check_size(size: tuple[int, int], max_pixels: int, page: int | None) -> None:
    width, height = size
    where = f"第 {page} 页" if page is not None else ""
    if width <= 0 or height <= 0:
        raise InvalidInput(f"图像{where}的尺寸无效（{width}×{height}），文件已损坏。")
    if width * height > max_pixels:
        raise InvalidInput(
            f"图像{where}尺寸过大（{width}×{height} 像素，超过 {max_pixels // 1_000_000} 百万像素的上限），"
            "疑似解压炸弹，已拒绝。")


def _open(path: str | os.PathLike[str], media_type: str, max_pixels: int) -> Image.Image:
    # Opening parses the header only; our own check (with the dimensions in the message)
    # runs on every page before it is decoded, so Pillow's open-time check is off here.
    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        return Image.open(os.fspath(path), formats=[_FORMATS[media_type]])
    except (OSError, SyntaxError, ValueError, struct.error, EOFError) as exc:
        raise InvalidInput(f"{_NAMES[media_type]} 图像损坏，无法读取文件头。") from exc
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def page_count(path: str | os.PathLike[str], media_type: str,
               max_pixels: int = DEFAULT_MAX_PIXELS) -> int:
    """How many pages the file holds (TIFF IFDs; 1 for PNG and JPEG), without decoding pixels."""
    with _pillow_limit(max_pixels):
        img = _open(path, media_type, max_pixels)
        try:
            return int(getattr(img, "n_frames", 1)) if media_type == detect.TIFF else 1
        except (OSError, SyntaxError, ValueError, struct.error, EOFError) as exc:
            raise InvalidInput("TIFF 图像的页目录损坏，无法确定页数。") from exc
        finally:
            img.close()


def iter_pages(path: str | os.PathLike[str], media_type: str,
               max_pixels: int = DEFAULT_MAX_PIXELS,
               max_pages: int = DEFAULT_MAX_PAGES) -> Iterator[RasterPage]:
    """Decode the file's pages one at a time, each checked, upright, greyscale or RGB."""
    with _pillow_limit(max_pixels):
        img = _open(path, media_type, max_pixels)
        try:
            index = 0
            while True:
                if index >= max_pages:
                    raise InvalidInput(f"图像页数超过 {max_pages} 页的上限，已拒绝。")
                number = index + 1 if media_type == detect.TIFF else None
                _check_size(img.size, max_pixels, number)
                yield _decode(img, media_type, number)
                index += 1
                if media_type != detect.TIFF:
                    return
                try:
                    img.seek(index)
                except EOFError:
                    return
                except (OSError, SyntaxError, ValueError, struct.error) as exc:
                    raise InvalidInput(f"TIFF 图像第 {index + 1} 页的页目录损坏。") from exc
        finally:
            img.close()


def _decode(img: Image.Image, media_type: str, number: int | None) -> RasterPage:
    where = f"第 {number} 页" if number is not None else ""
    try:
        img.load()
        orientation = 1
        with contextlib.suppress(Exception):
            orientation = int(img.getexif().get(0x0112, 1) or 1)
        upright = ImageOps.exif_transpose(img) if orientation != 1 else img
        out = _normalise_mode(upright)
    except Image.DecompressionBombError as exc:
        raise InvalidInput(f"图像{where}尺寸过大，疑似解压炸弹，已拒绝。") from exc
    except (OSError, SyntaxError, ValueError, struct.error, EOFError) as exc:
        raise InvalidInput(f"{_NAMES[media_type]} 图像{where}被截断或损坏，无法解码。") from exc
    dpi = None
    info_dpi = img.info.get("dpi")
    if info_dpi:
        with contextlib.suppress(TypeError, ValueError, IndexError):
            dpi = float(info_dpi[0]) or None
    return RasterPage(out, _EXIF_DEGREES.get(orientation, 0), dpi)


def _normalise_mode(img: Image.Image) -> Image.Image:
    """A new greyscale or RGB image, on white where there was transparency: what OCR reads.

    Always a copy: the caller closes the file (and a TIFF moves to its next page) while
    the page is still in use.
    """
    if img.mode in ("L", "RGB"):
        return img.copy()
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if img.mode.startswith("I") or img.mode == "F":  # 16/32-bit scans: scale to 8 bits
        import numpy as np

        arr = np.asarray(img)
        top = float(arr.max()) or 1.0
        return Image.fromarray((arr.astype(np.float32) * (255.0 / top)).astype(np.uint8))
    if img.mode in ("1", "P"):
        return img.convert("L")
    return img.convert("RGB")
