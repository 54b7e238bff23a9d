"""`extract(path, settings)`: the one call the pipeline makes per file to get its text.

Sniff the type from the bytes; for a PDF, refuse what must not enter (locked, active
content), keep each page's text layer when it is plausible and OCR the pages that have
none or carry garbage; for TIFF/PNG/JPEG, OCR every page. Pages are rendered, decoded
and read one at a time so memory stays flat whatever the file's length.

The function is plain and picklable (module-level, arguments and result are simple
dataclasses) so the pipeline can run it in a `ProcessPoolExecutor` worker, one file
per process; the OCR engine is loaded once per worker process and reused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from typing import Any

from PIL import Image

from dangan.errors import InvalidInput
from dangan.ingest import detect, images, ocr, preprocess

#: Pages below this OCR confidence are flagged for review (measured on the evaluation
#: set: tesseract's clean pages score 0.88-0.93, pages with several misreads below 0.8).
LOW_CONFIDENCE = 0.80
#: Below this first-pass confidence the page may be sideways or upside down: ask OSD.
ORIENTATION_CHECK_BELOW = 0.60
#: Below this first-pass confidence (Simplified model) a file's first OCR'd page is tested
#: for Traditional script (`ocr.looks_traditional`). Measured: Traditional forms read at
#: 0.80-0.88 with the Simplified model, Simplified pages at 0.88-0.93.
TRADITIONAL_CHECK_BELOW = 0.90
#: A page with less ink than this share of its area is blank.
BLANK_INK = 0.002


@dataclass(frozen=True)
class IngestSettings:
    """What `extract` may be told; every field has a safe default.

    Field names match `dangan.config.Settings` where both exist, so the pipeline can
    pass its settings object directly (see `coerce`).
    """

    # cascade: the engine that met the CER targets (≤1.5 % clean, ≤3 % degraded) on the
    # evaluation set, at ~25 % more time per page than tesseract alone (bench/bench_ocr.py)
    ocr_engine: str = "cascade"
    refuse_active_content: bool = True
    max_megapixels: int = 200
    max_pages: int = 5000
    dpi: int = 300
    low_confidence: float = LOW_CONFIDENCE
    orientation_check_below: float = ORIENTATION_CHECK_BELOW
    osd_min_confidence: float = preprocess.OSD_MIN_CONFIDENCE
    traditional_check_below: float = TRADITIONAL_CHECK_BELOW
    deskew: bool = True
    verify_render: bool = True  # render text-layer pages as thumbnails: every page must draw

    @property
    def max_pixels(self) -> int:
        return int(self.max_megapixels * 1_000_000)

    @classmethod
    def coerce(cls, settings: Any = None) -> IngestSettings:
        """These settings from None, an IngestSettings, or any object with matching attributes."""
        if settings is None:
            return cls()
        if isinstance(settings, cls):
            return settings
        values = {f.name: getattr(settings, f.name) for f in fields(cls) if hasattr(settings, f.name)}
        return cls(**values)


@dataclass(frozen=True)
class PageText:
    """The text of one page and how it was obtained.

    `method` is "text" (the PDF's own text layer), "tesseract", "rapidocr",
    "tesseract+rapidocr" (cascade), or "blank". `rotation` is the quarter turn applied
    (degrees counter-clockwise, from EXIF or OSD) and `skew` the small correction in
    degrees. `low_confidence` pages should be reviewed by a person. `lang` is the OCR
    model used ("chi_sim" or "chi_tra"; "" when nothing was OCR'd).
    """

    number: int
    text: str
    confidence: float
    method: str
    rotation: int = 0
    skew: float = 0.0
    low_confidence: bool = False
    lang: str = ""


@dataclass(frozen=True)
class Extraction:
    """A file's text, page by page, with what the checks need to know about it."""

    media_type: str
    pages: list[PageText]
    page_count: int
    warnings: list[str] = field(default_factory=list)
    declared_pages: int | None = None  # what the PDF's page tree claims
    rendered_pages: int | None = None  # what pdfium counts (PDF) / decodes (images)
    encrypted: bool = False
    active_content: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """All pages' text, pages separated by a form feed line."""
        return "\n\f\n".join(p.text for p in self.pages)

    @property
    def needs_review(self) -> bool:
        return any(p.low_confidence for p in self.pages)

    @property
    def ocr_pages(self) -> int:
        return sum(p.method not in ("text", "blank") for p in self.pages)


def extract(path: str | os.PathLike[str], settings: Any = None) -> Extraction:
    """Text of every page of the file at `path`; InvalidInput (one sentence) if it is refused."""
    s = IngestSettings.coerce(settings)
    media = detect.sniff(path)
    if media == detect.PDF:
        return _extract_pdf(path, s)
    return _extract_raster(path, media, s)


def _extract_pdf(path: str | os.PathLike[str], s: IngestSettings) -> Extraction:
    from dangan.ingest import pdf
    from dangan.ingest.render import PdfRenderer

    doc = pdf.open_pdf(path)
    warnings = list(doc.warnings)
    if doc.page_count > s.max_pages:
        raise InvalidInput(f"PDF 共 {doc.page_count} 页，超过 {s.max_pages} 页的上限，已拒绝。")
    active = pdf.find_active_content(doc)
    if active:
        if s.refuse_active_content:
            pdf.refuse_active_content(active)
        warnings.append(f"PDF 含有活动内容（{'、'.join(active)}），按设置允许接收。")
    if doc.declared_pages is not None and doc.declared_pages != doc.page_count:
        warnings.append(f"PDF 页面树声明 {doc.declared_pages} 页，实际找到 {doc.page_count} 页。")
    pages: list[PageText] = []
    lang: str | None = None  # decided on the first OCR'd page, kept for the whole file
    with PdfRenderer(path, s.max_pixels) as renderer:
        rendered = len(renderer)
        if rendered != doc.page_count:
            warnings.append(f"PDF 结构中有 {doc.page_count} 页，渲染器只能打开 {rendered} 页。")
        for index, page in enumerate(doc.pages()):
            number = index + 1
            text = pdf.page_text(page)
            if pdf.text_is_usable(text, pdf.page_has_images(page)):
                if s.verify_render:
                    renderer.render(index, dpi=18)
                pages.append(PageText(number, text.strip(), 1.0, "text"))
                continue
            image = renderer.render(index, dpi=s.dpi)
            page = ocr_page(image, s, number, lang=lang)
            lang = lang or page.lang or None
            pages.append(page)
            del image
    if any(p.method not in ("text", "blank") for p in pages) and any(p.method == "text" for p in pages):
        warnings.append("PDF 部分页面没有可用的文字层，这些页面已做 OCR 识别。")
    _review_warning(pages, warnings)
    return Extraction(detect.PDF, pages, doc.page_count, warnings, doc.declared_pages, rendered,
                      doc.encrypted, active)


def _extract_raster(path: str | os.PathLike[str], media: str, s: IngestSettings) -> Extraction:
    count = images.page_count(path, media, s.max_pixels)
    if count > s.max_pages:
        raise InvalidInput(f"图像共 {count} 页，超过 {s.max_pages} 页的上限，已拒绝。")
    pages: list[PageText] = []
    warnings: list[str] = []
    lang: str | None = None  # decided on the first OCR'd page, kept for the whole file
    for number, raster in enumerate(images.iter_pages(path, media, s.max_pixels, s.max_pages), start=1):
        page = ocr_page(raster.image, s, number, raster.dpi, lang=lang)
        lang = lang or page.lang or None
        if raster.rotation:
            page = replace(page, rotation=(page.rotation + raster.rotation) % 360)
        pages.append(page)
        del raster
    if len(pages) != count:
        warnings.append(f"图像页目录声明 {count} 页，实际解码 {len(pages)} 页。")
    _review_warning(pages, warnings)
    return Extraction(media, pages, count, warnings, count, len(pages))


def _review_warning(pages: list[PageText], warnings: list[str]) -> None:
    low = [str(p.number) for p in pages if p.low_confidence]
    if low:
        shown = "、".join(low[:10]) + ("等" if len(low) > 10 else "")
        warnings.append(f"第 {shown} 页的识别置信度偏低，建议人工核对。")


def ocr_page(image: Image.Image, settings: Any = None, number: int = 1,
             dpi: float | None = None, lang: str | None = None) -> PageText:
    """OCR one page image: blank check, photo flattening, orientation, deskew, engine.

    Orientation costs little on upright pages. A page whose ink runs in vertical lines
    (seen in the same ~0.1 s look that measures tilt and line height) is turned before
    reading; otherwise the engine's cheap first pass is
    the test: an upright page reads at confidence ≥ 0.85, an upside-down one at ~0.2
    (measured), and only then is tesseract's OSD (as costly as reading the page) asked.
    A turn is kept only if the page then reads with clearly higher confidence.

    `lang` is the model decided on an earlier page of the same file; when None, a page
    that the Simplified model reads with low confidence is also read with the
    Traditional one, and the better reading decides (tesseract-based engines only).
    """
    s = IngestSettings.coerce(settings)
    gray = preprocess.to_gray(image)
    gray = _normalise_resolution(gray, dpi)
    gray, _ = preprocess.flatten_photo(gray)
    layout = preprocess.analyse(gray)
    if layout.ink < BLANK_INK:
        return PageText(number, "", 1.0, "blank")
    engine = ocr.get_engine(s.ocr_engine, lang or "chi_sim")

    def read(page: Any, layout: preprocess.Layout | None = None) -> tuple[Any, float, ocr.Draft]:
        layout = layout or preprocess.analyse(page)
        work, skew = preprocess.deskew(page, skew=layout.skew) if s.deskew else (page, 0.0)
        image = Image.fromarray(work)
        if layout.line_height:
            image.info["line_height"] = layout.line_height
        return image, skew, ocr.first_pass(engine, image)

    tried: set[int] = set()
    best: tuple[int, Any, float, ocr.Draft] | None = None

    def attempt(degrees: int, layout: preprocess.Layout | None = None) -> None:
        nonlocal best
        tried.add(degrees)
        work, skew, draft = read(preprocess.rotate(gray, degrees), layout)
        margin = 0.05 if best is not None and best[0] == 0 else 0.0
        if best is None or draft.result.confidence > best[3].result.confidence + margin:
            best = (degrees, work, skew, draft)

    if layout.sideways:
        turn = preprocess.detect_orientation(gray, s.osd_min_confidence).degrees
        for degrees in [turn] if turn in (90, 270) else [270, 90]:
            attempt(degrees)
            if best and best[3].result.confidence >= s.orientation_check_below:
                break
    else:
        attempt(0, layout)
    assert best is not None
    if best[3].result.confidence < s.orientation_check_below:
        turn = preprocess.detect_orientation(gray, s.osd_min_confidence).degrees
        if turn not in tried:
            attempt(turn)
    rotation, work, skew, draft = best
    if lang is None:  # first OCR'd page of the file: Simplified or Traditional?
        lang = "chi_sim"
        if (s.ocr_engine != "rapidocr" and draft.result.text
                and draft.result.confidence < s.traditional_check_below
                and ocr.looks_traditional(work, draft)):
            engine = ocr.get_engine(s.ocr_engine, "chi_tra")
            draft, lang = ocr.first_pass(engine, work), "chi_tra"
    result = ocr.finish(engine, work, draft)
    low = result.confidence < s.low_confidence
    return PageText(number, result.text, round(result.confidence, 4), result.engine or engine.name,
                    (rotation + result.rotation) % 360, round(skew, 2), low, lang)


def _normalise_resolution(gray: Any, dpi: float | None) -> Any:
    """Bring very high resolution scans down to ~300 dpi: OCR gains nothing above it."""
    if not dpi or dpi <= 400:
        return gray
    import cv2

    scale = 300.0 / dpi
    return cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
