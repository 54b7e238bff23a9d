"""OCR engines behind one interface: tesseract, RapidOCR, and a cascade of the two.

Why two engines: tesseract (Debian's small ``chi_sim`` model) is fast but misreads a few
characters per hundred; RapidOCR (PP-OCRv4) is nearly exact on clean pages but several
times slower. The cascade reads the page with tesseract and sends only the lines
tesseract is unsure of to RapidOCR's recogniser, which keeps most of tesseract's speed
and most of RapidOCR's accuracy. Which engine runs is a setting (``IngestSettings.ocr_engine``,
default "cascade"; measured figures in bench/bench_ocr.py's output).

Parallelism is the pipeline's job (one process per core), so every engine here is
single-threaded: tesseract runs with ``OMP_THREAD_LIMIT=1`` and onnxruntime with one
intra-op thread. Engines are cached per process (`get_engine`): RapidOCR takes ~1 s and
~300 MB to load, which must happen once per worker, not once per page.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from PIL import Image

# Debian's tesseract is built with OpenMP; with its default threading it is 5-6x slower on
# two cores. The variable must be in our environment because pytesseract's subprocess
# inherits it.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

ENGINES = ("tesseract", "rapidocr", "cascade")

#: Tesseract lines whose confidence is below this are re-read by RapidOCR in the cascade.
CASCADE_LINE_THRESHOLD = 0.90
#: Below this page confidence the cascade re-reads the whole page with RapidOCR.
CASCADE_PAGE_THRESHOLD = 0.60


@dataclass(frozen=True)
class OcrResult:
    """What an engine read on one page image.

    `confidence` is 0..1, the character-weighted mean of the line confidences; 0 when
    nothing was read. `lines` are (text, confidence) in reading order. `engine` names
    what produced the text ("tesseract", "rapidocr", or "tesseract+rapidocr" when the
    cascade replaced some lines).
    """

    text: str
    confidence: float
    lines: list[tuple[str, float]] = field(default_factory=list)
    engine: str = ""
    rotation: int = 0  # a turn the engine found and undid itself (RapidOCR: upside-down pages)


@dataclass
class Draft:
    """A first reading of a page, which an engine may finish without reading it again.

    Lets the caller judge the page (is it upside down?) from the cheap first pass of a
    two-stage engine before the expensive second stage runs.
    """

    result: OcrResult
    state: Any = None


def first_pass(engine: OcrEngine, image: Image.Image) -> Draft:
    """The engine's cheap first reading (its full reading for one-stage engines)."""
    method = getattr(engine, "first_pass", None)
    return method(image) if method else Draft(engine.recognize(image))


def finish(engine: OcrEngine, image: Image.Image, draft: Draft) -> OcrResult:
    """Complete a `first_pass` reading of the same image."""
    method = getattr(engine, "finish", None)
    return method(image, draft) if method else draft.result


class OcrEngine(Protocol):
    """One page image in, its text out."""

    name: str

    def recognize(self, image: Image.Image) -> OcrResult:
        """Read the text on an upright, deskewed page image."""
        ...


# --- text clean-up shared by the engines ----------------------------------------------

_CJK = r"\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_SPACE_NEAR_CJK = re.compile(rf"(?<=[{_CJK}])[ \t]+|[ \t]+(?=[{_CJK}])")
_FULLWIDTH = {",": "，", ":": "：", ";": "；", "(": "（", ")": "）", "!": "！", "?": "？"}
_LONE_MARKS = set("\"'`“”‘’„|_~^")
_QUOTES = set("\"“”„")


def _is_cjk(ch: str) -> bool:
    return bool(ch) and ("\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff")


def tidy_line(text: str) -> str:
    """Normalise a recognised line the way Chinese documents are written.

    Tesseract's chi_sim model writes ASCII punctuation (":" for "：") and separates CJK
    characters with spaces; both are wrong in a Chinese line and both cost CER and
    search precision. Punctuation next to a CJK character becomes full-width; digits on
    both sides (9:20, 1,200) keep the ASCII form.
    """
    text = text.strip()
    chars = list(text)
    for i, ch in enumerate(chars):
        if ch not in _FULLWIDTH:
            continue
        before = next((c for c in reversed(chars[:i]) if c != " "), "")
        after = next((c for c in chars[i + 1:] if c != " "), "")
        if before.isdigit() and after.isdigit():
            continue
        if ch == "(":
            near_cjk = _is_cjk(after) or _is_cjk(before)
        elif ch == ")":
            near_cjk = _is_cjk(before) or _is_cjk(after) or before == "）"
        else:
            near_cjk = _is_cjk(before) or _is_cjk(after)
        if near_cjk:
            chars[i] = _FULLWIDTH[ch]
    text = "".join(chars)
    text = _SPACE_NEAR_CJK.sub("", text)
    return re.sub(r"[ \t]{2,}", " ", text)


def _join(lines: list[tuple[str, float]]) -> tuple[str, float]:
    text = "\n".join(t for t, _ in lines)
    weight = sum(max(1, len(t)) for t, _ in lines)
    conf = sum(max(1, len(t)) * c for t, c in lines) / weight if lines else 0.0
    return text, conf


def _gray(image: Image.Image) -> np.ndarray:
    if image.mode != "L":
        image = image.convert("L")
    return np.asarray(image)


# --- tesseract ------------------------------------------------------------------------


@dataclass
class _Line:
    text: str
    confidence: float
    box: tuple[int, int, int, int]  # left, top, right, bottom in the caller's pixels


class TesseractEngine:
    """Tesseract through pytesseract: ``chi_sim``, ``--psm 6`` (one uniform block).

    The page is scaled so that text lines are ~`line_px` high before recognition: at
    300 dpi body text is larger than tesseract needs, and shrinking it is both faster and
    (measured) slightly more accurate. A measured line height may come with the image
    as ``image.info["line_height"]``.
    """

    name = "tesseract"

    def __init__(self, lang: str = "chi_sim", psm: int = 6, line_px: int | None = 30,
                 binarize: bool = False, timeout: float = 300) -> None:
        self.timeout = timeout
        self.lang = lang
        self.psm = psm
        self.line_px = line_px
        self.binarize = binarize

    def recognize(self, image: Image.Image) -> OcrResult:
        return self.first_pass(image).result

    def first_pass(self, image: Image.Image) -> Draft:
        """The reading, with its line boxes kept for `looks_traditional`."""
        lines = self.read_lines(image)
        pairs = [(ln.text, ln.confidence) for ln in lines]
        text, conf = _join(pairs)
        return Draft(OcrResult(text, conf, pairs, self.name), lines)

    def finish(self, image: Image.Image, draft: Draft) -> OcrResult:
        return draft.result

    def read_lines(self, image: Image.Image) -> list[_Line]:
        """Lines with confidences and boxes (in `image` pixels), for the cascade."""
        import pytesseract

        from dangan.ingest import preprocess

        gray = _gray(image)
        scale = 1.0
        if self.line_px:
            # the caller may have measured it already (`preprocess.analyse`)
            height = image.info.get("line_height") or preprocess.line_height(gray)
            if height:
                scale = min(2.0, max(0.3, self.line_px / height))
        work = gray
        if abs(scale - 1.0) > 0.05:
            import cv2

            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
            work = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=interp)
        if self.binarize:
            work = preprocess.binarize(work)
        pil = Image.fromarray(work)
        # pytesseract writes the image to a temporary file in `format`; BMP costs ~10 ms
        # where its default PNG costs ~120 ms per 300 dpi page.
        pil.format = "BMP"
        try:
            data = pytesseract.image_to_data(
                pil, lang=self.lang,
                config=f"--psm {self.psm} -c preserve_interword_spaces=1",
                output_type=pytesseract.Output.DICT, timeout=self.timeout)
        except (pytesseract.TesseractError, RuntimeError):
            # a page tesseract cannot read (or a timeout) reads as nothing: confidence 0
            # sends it to review instead of failing the whole file
            return []
        return _tesseract_lines(data, 1.0 / scale)


def _tesseract_lines(data: dict[str, list], unscale: float) -> list[_Line]:
    groups: dict[tuple[int, int, int], list[int]] = {}
    for i, level in enumerate(data["level"]):
        if level != 5:
            continue
        word = str(data["text"][i]).strip()
        conf = float(data["conf"][i])
        if not word or conf < 0:
            continue
        groups.setdefault((data["block_num"][i], data["par_num"][i], data["line_num"][i]), []).append(i)
    lines: list[_Line] = []
    for idx in groups.values():
        words: list[str] = []
        weights: list[tuple[int, float]] = []
        raw = "".join(str(data["text"][i]) for i in idx)
        paired = ("“" in raw and "”" in raw) or raw.count('"') >= 2
        for i in idx:
            word = str(data["text"][i]).strip()
            conf = float(data["conf"][i]) / 100.0
            # A wide gap between two form fields (an ideographic space) comes back as a
            # lone or glued-on quote mark with low confidence: noise unless it is paired.
            if conf < 0.9 and not paired and any(c in _QUOTES for c in word):
                word = "".join(c for c in word if c not in _QUOTES)
            if not word or (len(word) == 1 and word in _LONE_MARKS and conf < 0.9):
                continue
            words.append(word)
            weights.append((len(word), conf))
        if not words:
            continue
        text = tidy_line(" ".join(words))
        if not text:
            continue
        total = sum(n for n, _ in weights)
        conf = sum(n * c for n, c in weights) / total
        left = min(data["left"][i] for i in idx)
        top = min(data["top"][i] for i in idx)
        right = max(data["left"][i] + data["width"][i] for i in idx)
        bottom = max(data["top"][i] + data["height"][i] for i in idx)
        box = (round(left * unscale), round(top * unscale), round(right * unscale), round(bottom * unscale))
        lines.append(_Line(text, conf, box))
    return lines


# --- RapidOCR -------------------------------------------------------------------------


class RapidOcrEngine:
    """RapidOCR (PP-OCRv4 detection + recognition, ONNX) with one thread per process."""

    name = "rapidocr"
    _last_directions: list[str]  # set per page by recognize() and the text_cls hook

    def __init__(self, threads: int = 1, max_side: int = 2000) -> None:
        self.threads = threads
        self.max_side = max_side
        self._ocr = None

    @property
    def ocr(self) -> Any:
        """The loaded RapidOCR object (loaded on first use: ~1 s, ~300 MB)."""
        if self._ocr is None:
            import cv2
            from rapidocr_onnxruntime import RapidOCR

            cv2.setNumThreads(1)
            engine = RapidOCR(intra_op_num_threads=self.threads, inter_op_num_threads=1,
                              max_side_len=self.max_side)
            # Keep the direction classifier's verdicts (RapidOCR uses and drops them): they
            # tell an upside-down page, whose lines it reads right but lists bottom-up.
            classify = engine.text_cls

            def recording(crops: Any) -> Any:
                out = classify(crops)
                self._last_directions = [str(label) for label, _ in out[1]]
                return out

            engine.text_cls = recording
            self._ocr = engine
        return self._ocr

    def recognize(self, image: Image.Image) -> OcrResult:
        rgb = np.asarray(image.convert("RGB"))
        self._last_directions = []
        result, _ = self.ocr(rgb)
        flipped = self._last_directions.count("180") > len(self._last_directions) / 2
        if flipped and result:
            # turn the box coordinates with the page so lines come out top-down
            h, w = rgb.shape[:2]
            result = [([[w - x, h - y] for x, y in quad], text, score) for quad, text, score in result]
        pairs = _rapid_lines(result or [])
        text, conf = _join(pairs)
        return OcrResult(text, conf, pairs, self.name, 180 if flipped else 0)

    def read_crops(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        """Recognise single-line crops (no detection): the cascade's second opinion."""
        if not crops:
            return []
        rgb = [c if c.ndim == 3 else np.stack([c] * 3, axis=-1) for c in crops]
        res, _ = self.ocr.text_rec(rgb)
        return [(tidy_line(str(t)), float(s)) for t, s in res]


def _rapid_lines(result: list) -> list[tuple[str, float]]:
    """Group RapidOCR's text boxes into lines (boxes that overlap vertically), left to right."""
    boxes = []
    for quad, text, score in result:
        pts = np.asarray(quad, dtype=np.float32)
        top, bottom = float(pts[:, 1].min()), float(pts[:, 1].max())
        left = float(pts[:, 0].min())
        boxes.append((top, bottom, left, str(text), float(score)))
    boxes.sort(key=lambda b: (b[0] + b[1]) / 2)
    rows: list[list[tuple[float, float, float, str, float]]] = []
    for box in boxes:
        centre = (box[0] + box[1]) / 2
        if rows:
            last = rows[-1]
            top = sum(b[0] for b in last) / len(last)
            bottom = sum(b[1] for b in last) / len(last)
            if top <= centre <= bottom:
                last.append(box)
                continue
        rows.append([box])
    lines: list[tuple[str, float]] = []
    for row in rows:
        row.sort(key=lambda b: b[2])
        text = tidy_line(" ".join(b[3] for b in row))
        total = sum(max(1, len(b[3])) for b in row)
        conf = sum(max(1, len(b[3])) * b[4] for b in row) / total
        if text:
            lines.append((text, conf))
    return lines


# --- cascade --------------------------------------------------------------------------


class CascadeEngine:
    """Tesseract first; RapidOCR re-reads the lines (or the whole page) tesseract doubts."""

    name = "cascade"

    def __init__(self, tesseract: TesseractEngine | None = None, rapid: RapidOcrEngine | None = None,
                 line_threshold: float = CASCADE_LINE_THRESHOLD,
                 page_threshold: float = CASCADE_PAGE_THRESHOLD) -> None:
        self.tesseract = tesseract or TesseractEngine()
        self.rapid = rapid or RapidOcrEngine()
        self.line_threshold = line_threshold
        self.page_threshold = page_threshold
        self.lines_rerun = 0  # statistics for the benchmark
        self.pages_rerun = 0

    def recognize(self, image: Image.Image) -> OcrResult:
        return self.finish(image, self.first_pass(image))

    def first_pass(self, image: Image.Image) -> Draft:
        """Tesseract's reading: cheap, and enough to judge the page's orientation."""
        lines = self.tesseract.read_lines(image)
        pairs = [(ln.text, ln.confidence) for ln in lines]
        text, conf = _join(pairs)
        return Draft(OcrResult(text, conf, pairs, self.tesseract.name), lines)

    def finish(self, image: Image.Image, draft: Draft) -> OcrResult:
        """Send doubtful lines (or the whole page, if most of it is doubtful) to RapidOCR."""
        lines: list[_Line] = draft.state
        pairs = [(ln.text, ln.confidence) for ln in lines]
        page_conf = draft.result.confidence
        if not lines or page_conf < self.page_threshold:
            self.pages_rerun += 1
            result = self.rapid.recognize(image)
            return result if result.confidence >= page_conf else draft.result
        doubtful = [i for i, ln in enumerate(lines) if ln.confidence < self.line_threshold]
        if not doubtful:
            return draft.result
        gray = _gray(image)
        crops = [_crop(gray, lines[i].box) for i in doubtful]
        second = self.rapid.read_crops(crops)
        self.lines_rerun += len(doubtful)
        replaced = False
        for i, (text, score) in zip(doubtful, second, strict=True):
            if text and score > lines[i].confidence:
                pairs[i] = (text, score)
                replaced = True
        text, conf = _join(pairs)
        engine = "tesseract+rapidocr" if replaced else self.tesseract.name
        return OcrResult(text, conf, pairs, engine)


def _crop(gray: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    left, top, right, bottom = box
    pad = max(4, (bottom - top) // 4)
    h, w = gray.shape
    return gray[max(0, top - pad):min(h, bottom + pad), max(0, left - pad):min(w, right + pad)]


# --- Simplified or Traditional ----------------------------------------------------------

#: Traditional when tesseract's Traditional model reads the script-sensitive lines with a
#: confidence this much higher than the Simplified model does. Measured on rendered
#: A4 pages (scans, degraded scans, phone photos): Traditional +0.07 to +0.14 (one form
#: at -0.05), Simplified -0.08 to +0.06. Erring towards Simplified costs little: search
#: folds the two scripts, so a Traditional page read in Simplified forms is still found.
TRADITIONAL_MARGIN = 0.07
#: Fewer script-sensitive characters than this on a page decide nothing: on five-line
#: forms the two models' confidences differ by ±0.06 either way.
MIN_VARIANTS = 40


def looks_traditional(image: Image.Image, draft: Draft, lines: int = 6) -> bool:
    """Is this page (read by the Simplified model as `draft`) printed in Traditional Chinese?"""
    margin = traditional_margin(image, draft, lines)
    return margin is not None and margin >= TRADITIONAL_MARGIN


def traditional_margin(image: Image.Image, draft: Draft, lines: int = 6) -> float | None:
    """How much better the Traditional model reads the page's script-sensitive lines.

    None when the page has too few such characters to tell. Both tesseract models "translate": chi_sim reads 業 as 业 and chi_tra reads 业 as 業, so
    the text tells nothing. Their confidence does, on the lines where the scripts
    differ: the `lines` lines with the most characters that have a Traditional form are
    cut out, stacked, and read by both models (two calls on a few lines, ~0.4 s).
    """
    from opencc import OpenCC

    found: list[_Line] = [ln for ln in (draft.state or []) if isinstance(ln, _Line)]
    s2t = OpenCC("s2t")

    def variants(text: str) -> int:
        return sum(s2t.convert(ch) != ch for ch in text)

    chosen = [ln for ln in sorted(found, key=lambda ln: -variants(ln.text))[:lines] if variants(ln.text)]
    if sum(variants(ln.text) for ln in chosen) < MIN_VARIANTS:
        return None  # too little evidence (a short form): keep the Simplified reading
    gray = _gray(image)
    crops = [_crop(gray, ln.box) for ln in chosen]
    gap = max(20, max(c.shape[0] for c in crops) * 3 // 5)
    width = max(c.shape[1] for c in crops) + 2 * gap
    canvas = np.full((sum(c.shape[0] + gap for c in crops) + gap, width), 255, dtype=np.uint8)
    y = gap
    for crop in crops:
        canvas[y:y + crop.shape[0], gap:gap + crop.shape[1]] = crop
        y += crop.shape[0] + gap
    stacked = Image.fromarray(canvas)
    stacked.info.update(image.info)
    simplified = TesseractEngine(lang="chi_sim").recognize(stacked).confidence
    traditional = TesseractEngine(lang="chi_tra").recognize(stacked).confidence
    return traditional - simplified


# --- per-process engine cache ---------------------------------------------------------

_CACHE: dict[tuple[str, str], OcrEngine] = {}

#: Tesseract models: Simplified (the default) and Traditional Chinese.
LANGS = ("chi_sim", "chi_tra")


def get_engine(name: str, lang: str = "chi_sim") -> OcrEngine:
    """The process's engine called `name` (one of `ENGINES`) for `lang`, created on first use.

    Traditional documents (``chi_tra``) are read by tesseract's Traditional model under
    every tesseract-based engine: RapidOCR's PP-OCRv4 model reads Traditional characters
    as their Simplified look-alikes (~17 % CER measured), so the cascade's second opinion
    would make Traditional lines worse, not better.
    """
    if name not in ENGINES:
        from dangan.errors import InvalidInput

        raise InvalidInput(f"未知的 OCR 引擎“{name}”，可选：{'、'.join(ENGINES)}。")
    if lang not in LANGS:
        raise ValueError(f"unknown OCR language {lang!r}")
    engine = _CACHE.get((name, lang))
    if engine is None:
        if name == "rapidocr":
            engine = _CACHE.get(("rapidocr", "chi_sim")) or RapidOcrEngine()
        elif name == "tesseract" or lang != "chi_sim":
            engine = TesseractEngine(lang=lang)
        else:
            tess = _CACHE.get(("tesseract", lang))
            rapid = _CACHE.get(("rapidocr", "chi_sim"))
            engine = CascadeEngine(tess if isinstance(tess, TesseractEngine) else None,
                                   rapid if isinstance(rapid, RapidOcrEngine) else None)
        _CACHE[(name, lang)] = engine
    return engine


def normalise_for_cer(text: str) -> str:
    """Text as CER compares it: whitespace removed (NFC, nothing else folded)."""
    return "".join(unicodedata.normalize("NFC", text).split())
