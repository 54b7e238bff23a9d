"""Render synthetic property documents as the files an archive receives.

Tests, the OCR evaluation and the demo samples all need the same things: born-digital
PDFs with a proper text layer, scans (image-only PDFs, TIFF, PNG, JPEG), and the
defects real scans have (a slight tilt, noise, blur, JPEG artefacts, a page fed in
sideways, a phone photo taken at an angle under a desk lamp). Everything here is
deterministic for a given seed so a failing test or a benchmark figure can be
reproduced.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_PATH = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"
A4_MM = (210.0, 297.0)
MM_PER_INCH = 25.4
PT_PER_INCH = 72.0

# EXIF orientation → the transpose that turns the upright page into the stored pixels
# (the inverse of what a viewer applies when it honours the tag).
_EXIF_STORE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


@lru_cache(maxsize=16)
def _font(size_px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(FONT_PATH, size_px, index=0)


def _wrap(line: str, fits: Callable[[str], bool]) -> list[str]:
    """Break one logical line into pieces that fit; CJK text may break between any two characters."""
    if not line or fits(line):
        return [line]
    out: list[str] = []
    current = ""
    for ch in line:
        if fits(current + ch):
            current += ch
        else:
            out.append(current)
            current = ch.lstrip() if ch.isspace() else ch
    if current:
        out.append(current)
    return out


def page_image(
    text: str,
    *,
    dpi: int = 300,
    font_pt: float = 12.0,
    margin_mm: float = 20.0,
    line_spacing: float = 1.6,
    paper_mm: tuple[float, float] = A4_MM,
) -> Image.Image:
    """A clean greyscale scan of `text` on one page (lines that do not fit are dropped).

    Drawing with Pillow is ~50× faster than reportlab + pdfium and looks the same to OCR.
    """
    width = round(paper_mm[0] / MM_PER_INCH * dpi)
    height = round(paper_mm[1] / MM_PER_INCH * dpi)
    img = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(img)
    size = max(6, round(font_pt / PT_PER_INCH * dpi))
    font = _font(size)
    margin = round(margin_mm / MM_PER_INCH * dpi)
    usable = width - 2 * margin
    step = round(size * line_spacing)
    y = margin
    for logical in text.split("\n"):
        for line in _wrap(logical, lambda s: draw.textlength(s, font=font) <= usable):
            if y + step > height - margin:
                return img
            if line:
                draw.text((margin, y), line, fill=0, font=font)
            y += step
    return img


def wrapped_lines(text: str, *, font_pt: float = 12.0, margin_mm: float = 20.0,
                  paper_mm: tuple[float, float] = A4_MM) -> list[str]:
    """The lines `page_image` / `text_pdf` draw for `text` (to build OCR ground truth)."""
    size = 200  # measure at a large size: widths scale linearly
    font = _font(size)
    usable = (paper_mm[0] - 2 * margin_mm) / MM_PER_INCH * PT_PER_INCH / font_pt * size
    out: list[str] = []
    for logical in text.split("\n"):
        out.extend(_wrap(logical, lambda s: font.getlength(s) <= usable))
    return out


# --- PDFs -----------------------------------------------------------------------------


@lru_cache(maxsize=2)
def _register_font(kind: str) -> str:
    from reportlab.pdfbase import pdfmetrics

    if kind == "wqy":
        from reportlab.pdfbase.ttfonts import TTFont

        pdfmetrics.registerFont(TTFont("wqy", FONT_PATH, subfontIndex=0))
        return "wqy"
    if kind == "stsong":
        from reportlab.pdfbase.cidfonts import UnicodeCIDFont

        pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
        return "STSong-Light"
    raise ValueError(f"unknown font {kind!r}")


def pdf(
    path: str | Path,
    pages: Sequence[str | Image.Image],
    *,
    font: str = "wqy",
    font_pt: float = 12.0,
    margin_mm: float = 20.0,
    dpi: int = 300,
    title: str | None = None,
) -> Path:
    """Write a PDF whose pages are text (a str: a real text layer) or scans (an Image).

    A list mixing both gives the "mixed" PDF a scanning office produces when it inserts
    scanned signature pages into a born-digital contract.
    """
    from reportlab.lib.units import mm
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfgen import canvas

    path = Path(path)
    page_w, page_h = A4_MM[0] * mm, A4_MM[1] * mm
    c = canvas.Canvas(str(path), pagesize=(page_w, page_h), invariant=True)
    if title:
        c.setTitle(title)
    face = _register_font(font)
    usable = page_w - 2 * margin_mm * mm
    step = font_pt * 1.6
    for page in pages:
        if isinstance(page, Image.Image):
            w_pt = page.width / dpi * PT_PER_INCH
            h_pt = page.height / dpi * PT_PER_INCH
            c.setPageSize((w_pt, h_pt))
            c.drawImage(ImageReader(page), 0, 0, width=w_pt, height=h_pt)
            c.showPage()
            c.setPageSize((page_w, page_h))
            continue
        c.setFont(face, font_pt)
        y = page_h - margin_mm * mm - font_pt
        for logical in page.split("\n"):
            for line in _wrap(logical, lambda s: pdfmetrics.stringWidth(s, face, font_pt) <= usable):
                if y < margin_mm * mm:
                    break
                if line:
                    c.drawString(margin_mm * mm, y, line)
                y -= step
        c.showPage()
    c.save()
    return path


def text_pdf(path: str | Path, pages: Sequence[str], **kw: Any) -> Path:
    """A born-digital PDF: every page carries an extractable text layer."""
    return pdf(path, list(pages), **kw)


def scanned_pdf(path: str | Path, images: Sequence[Image.Image], *, dpi: int = 300) -> Path:
    """An image-only PDF, as a scanner writes it: no text layer at all."""
    return pdf(path, list(images), dpi=dpi)


# --- raster files ---------------------------------------------------------------------


def tiff(path: str | Path, images: Sequence[Image.Image], *, dpi: int = 300,
         compression: str = "tiff_lzw") -> Path:
    """A multi-page TIFF (one IFD per page), the usual output of document scanners."""
    path = Path(path)
    pages = list(images)
    if compression in ("group3", "group4"):  # fax codecs take bilevel pages only
        pages = [p.convert("L").point(lambda v: 255 if v > 128 else 0).convert("1") for p in pages]
    first, *rest = pages
    first.save(path, format="TIFF", save_all=True, append_images=rest,
               compression=compression, dpi=(dpi, dpi))
    return path


def png(path: str | Path, img: Image.Image, *, dpi: int = 300) -> Path:
    """A PNG scan."""
    path = Path(path)
    img.save(path, format="PNG", dpi=(dpi, dpi))
    return path


def jpeg(path: str | Path, img: Image.Image, *, quality: int = 90, dpi: int = 300,
         exif_orientation: int | None = None) -> Path:
    """A JPEG; with `exif_orientation` the pixels are stored turned and the tag says how to
    turn them back, as phones do."""
    path = Path(path)
    exif = Image.Exif()
    if exif_orientation and exif_orientation != 1:
        img = img.transpose(_EXIF_STORE[exif_orientation])
        exif[0x0112] = exif_orientation
    img.convert("RGB" if img.mode not in ("L", "RGB") else img.mode).save(
        path, format="JPEG", quality=quality, dpi=(dpi, dpi), exif=exif.tobytes())
    return path


# --- defects --------------------------------------------------------------------------


def rotate_page(img: Image.Image, degrees: int) -> Image.Image:
    """The page fed in sideways or upside down (90/180/270° counter-clockwise)."""
    turns = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180,
             270: Image.Transpose.ROTATE_270}
    return img.transpose(turns[degrees % 360]) if degrees % 360 else img.copy()


def degrade(
    img: Image.Image,
    *,
    seed: int = 0,
    rotation: float | None = None,
    noise: float | None = None,
    blur: float | None = None,
    jpeg_quality: int | None = None,
) -> Image.Image:
    """A worse scan of the same page: tilted 0.5–3°, speckled, slightly blurred, JPEG'd.

    Unset parameters are drawn from the seed so an evaluation set gets a spread of defects.
    """
    rng = np.random.default_rng(seed)
    if rotation is None:
        rotation = float(rng.uniform(0.5, 3.0) * rng.choice([-1, 1]))
    if noise is None:
        noise = float(rng.uniform(6, 18))
    if blur is None:
        blur = float(rng.uniform(0.4, 1.0))
    if jpeg_quality is None:
        jpeg_quality = int(rng.integers(35, 70))
    out = img.convert("L")
    if rotation:
        out = out.rotate(rotation, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    if blur:
        out = out.filter(ImageFilter.GaussianBlur(blur))
    if noise:
        arr: np.ndarray = np.asarray(out, dtype=np.float32)
        arr = arr + rng.normal(0, noise, arr.shape)
        # salt-and-pepper specks, as dust on the glass leaves
        specks = rng.random(arr.shape) < 0.0008
        arr[specks] = rng.choice([0.0, 255.0], size=int(specks.sum()))
        out = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    if jpeg_quality:
        buf = io.BytesIO()
        out.save(buf, format="JPEG", quality=jpeg_quality)
        buf.seek(0)
        out = Image.open(buf)
        out.load()
    return out


def phone_photo(img: Image.Image, *, seed: int = 0, tilt: float = 0.06) -> Image.Image:
    """A phone photo of the printed page: perspective, a darker corner, a desk around it.

    `tilt` is how far (as a share of the page size) the corners move towards each other.
    """
    import cv2

    rng = np.random.default_rng(seed)
    page = np.asarray(img.convert("L"), dtype=np.uint8)
    h, w = page.shape
    pad = round(0.06 * max(w, h))
    out_w, out_h = w + 2 * pad, h + 2 * pad
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    jitter = rng.uniform(0.2, 1.0, size=(4, 2)) * tilt * np.array([w, h])
    # squeeze one edge more than the other: the camera is nearer one side of the page
    sign = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], dtype=np.float32)
    if rng.random() < 0.5:
        jitter[2:] *= 0.3
    else:
        jitter[:2] *= 0.3
    dst = src + sign * jitter + pad
    matrix = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    desk = int(rng.integers(60, 110))
    warped = cv2.warpPerspective(page, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=desk)
    mask = cv2.warpPerspective(np.full_like(page, 255), matrix, (out_w, out_h))
    warped = np.where(mask > 0, warped, desk).astype(np.float32)
    # uneven lighting: a linear gradient from a random direction plus a soft vignette
    yy, xx = np.mgrid[0:out_h, 0:out_w].astype(np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    grad = (np.cos(angle) * (xx / out_w - 0.5) + np.sin(angle) * (yy / out_h - 0.5))
    strength = rng.uniform(0.15, 0.3)
    light = 1.0 - strength * (grad + 0.5)
    r2 = ((xx / out_w - 0.5) ** 2 + (yy / out_h - 0.5) ** 2)
    light *= 1.0 - 0.25 * r2
    warped = warped * light
    warped = cv2.GaussianBlur(warped, (0, 0), rng.uniform(0.6, 1.2))
    warped += rng.normal(0, 4.0, warped.shape)
    return Image.fromarray(np.clip(warped, 0, 255).astype(np.uint8))
