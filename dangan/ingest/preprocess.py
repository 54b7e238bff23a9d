"""Page clean-up before OCR: turn the page upright, straighten a small tilt, measure text.

Why: tesseract reads a page turned 90° or 180° as garbage and loses accuracy on every
degree of tilt; scanners feed pages sideways and phone photos are never level.
Orientation comes from tesseract's OSD (only trusted above a confidence), skew from a
projection profile of the ink (the angle at which text rows are sharpest).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from PIL import Image

#: OSD orientation confidence below which its answer is not even tried. Measured on
#: Chinese pages: full pages score 8-22, sparse five-line pages 2.5-6 and were still
#: right; the caller keeps a turn only if OCR then reads the page better.
OSD_MIN_CONFIDENCE = 1.5
MAX_SKEW_DEGREES = 5.0


@dataclass(frozen=True)
class Orientation:
    """How far to turn the page counter-clockwise to make it upright, and how sure we are."""

    degrees: int
    confidence: float
    method: str  # "osd", "none"


def to_gray(image: Image.Image) -> np.ndarray:
    """A uint8 greyscale array (no copy when the image already is one)."""
    if image.mode != "L":
        image = image.convert("L")
    return np.asarray(image)


def binarize(gray: np.ndarray) -> np.ndarray:
    """Black text on white via Otsu after flattening the background (uneven lighting)."""
    import cv2

    flat = flatten_background(gray)
    _, out = cv2.threshold(flat, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return out


def flatten_background(gray: np.ndarray) -> np.ndarray:
    """Divide by an estimate of the paper's brightness so shadows and gradients vanish.

    The background is a heavy blur of a morphological closing (which removes the text);
    both run on a 1/8 size copy so this costs a few milliseconds per page.
    """
    import cv2

    h, w = gray.shape
    small = cv2.resize(gray, (max(1, w // 8), max(1, h // 8)), interpolation=cv2.INTER_AREA)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (9, 9))
    bg = cv2.morphologyEx(small, cv2.MORPH_CLOSE, kernel)
    bg = cv2.GaussianBlur(bg, (0, 0), 3)
    bg = cv2.resize(bg, (w, h), interpolation=cv2.INTER_LINEAR)
    out = cv2.divide(gray, np.maximum(bg, 1), scale=255)
    return out


def find_page(gray: np.ndarray) -> np.ndarray | None:
    """The four corners of a photographed page lying on a darker background, or None.

    A scan is all page (the paper fills the frame) and gets None; a phone photo shows the
    page as the largest bright convex quadrilateral covering 20-93 % of the frame.
    Corners are returned top-left, top-right, bottom-right, bottom-left in `gray` pixels.
    """
    import cv2

    h, w = gray.shape
    scale = min(1.0, 800 / max(h, w))
    small = cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    blur = cv2.GaussianBlur(small, (0, 0), 3)
    _, bright = cv2.threshold(blur, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    bright = cv2.morphologyEx(bright, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (15, 15)))
    contours, _ = cv2.findContours(bright, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    outline = max(contours, key=cv2.contourArea)
    share = cv2.contourArea(outline) / float(small.shape[0] * small.shape[1])
    corners = cv2.approxPolyDP(outline, 0.02 * cv2.arcLength(outline, True), True)
    if len(corners) != 4 or not 0.2 <= share <= 0.93 or not cv2.isContourConvex(corners):
        return None
    pts = corners.reshape(4, 2).astype(np.float32) / scale
    by_sum = pts.sum(axis=1)
    by_diff = np.diff(pts, axis=1).ravel()
    return np.array([pts[np.argmin(by_sum)], pts[np.argmin(by_diff)],
                     pts[np.argmax(by_sum)], pts[np.argmax(by_diff)]], dtype=np.float32)


def flatten_photo(gray: np.ndarray) -> tuple[np.ndarray, bool]:
    """A phone photo of a page as if scanned: perspective undone, lighting evened out.

    Returns the page and whether anything was done (scans come back unchanged).
    """
    import cv2

    corners = find_page(gray)
    if corners is None:
        return gray, False
    tl, tr, br, bl = corners
    width = int(max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl)))
    height = int(max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr)))
    target = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(corners, target)
    page = cv2.warpPerspective(gray, matrix, (width, height), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
    return flatten_background(page), True


def _ink(gray: np.ndarray, max_side: int = 1200) -> tuple[np.ndarray, float]:
    """A boolean ink mask on a copy no larger than `max_side`, and the scale used."""
    import cv2

    h, w = gray.shape
    scale = min(1.0, max_side / max(h, w))
    small = gray if scale == 1.0 else cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))),
                                                 interpolation=cv2.INTER_AREA)
    flat = flatten_background(small) if min(small.shape) >= 16 else small
    thresh, _ = cv2.threshold(flat, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    # Otsu on an almost blank page splits paper noise; demand real contrast
    mask = flat < min(thresh, 160)
    return mask, scale


def ink_ratio(gray: np.ndarray) -> float:
    """Share of the page covered by ink: a blank page is under ~0.2%."""
    mask, _ = _ink(gray, 1000)
    return float(mask.mean()) if mask.size else 0.0


def line_height(gray: np.ndarray) -> float | None:
    """Median height in pixels of the text rows (None on a blank page).

    Used to scale pages so tesseract sees text of the size it was trained on, whatever
    the scan resolution.
    """
    return analyse(gray).line_height


@dataclass(frozen=True)
class Layout:
    """What one look at the page's ink tells (all from a ≤1000 px copy, ~0.1 s a page).

    `skew` is the tilt of the text rows in degrees counter-clockwise (0.0 if unsure),
    `sideways` whether the lines run vertically (None: cannot tell), `line_height` the
    median height of a text line in the page's own pixels, measured across the tilt.
    """

    ink: float
    skew: float
    sideways: bool | None
    line_height: float | None


def analyse(gray: np.ndarray, max_degrees: float = MAX_SKEW_DEGREES) -> Layout:
    """Ink share, tilt, direction of the lines and their height, from one ink mask."""
    mask, scale = _ink(gray, 1000)
    ink = float(mask.mean()) if mask.size else 0.0
    if ink < 0.0005:
        return Layout(ink, 0.0, None, None)
    bar = _bar(mask)
    angle, _, rows, hist = _line_profile(mask, bar, max_degrees)
    _, _, columns, _ = _line_profile(np.ascontiguousarray(mask.T), bar, max_degrees)
    skew = round(angle, 2) if rows >= 1.02 else 0.0
    # How much sharper the profile gets at the best angle: text lines give 1.6-1.8 along
    # them and 1.1-1.25 across (measured on scans, degraded scans and photos); noise ~1.0.
    undecided = max(rows, columns) < 1.1 or 0.83 < columns / rows < 1.2
    sideways = None if undecided else columns > rows
    return Layout(ink, skew, sideways, _runs_median(hist, scale))


def _runs_median(hist: np.ndarray, scale: float) -> float | None:
    """Median length of the runs of text rows in a row histogram, in original pixels."""
    if not hist.size or hist.max() <= 0:
        return None
    on = hist > 0.1 * float(np.percentile(hist[hist > 0], 90))
    edges = np.flatnonzero(np.diff(np.concatenate(([0], on.astype(np.int8), [0]))))
    runs = edges[1::2] - edges[0::2]
    runs = runs[runs >= 3]
    if not runs.size:
        return None
    return float(np.median(runs)) / scale


def _line_profile(mask: np.ndarray, bar: int,
                  max_degrees: float) -> tuple[float, float, float, np.ndarray]:
    """Text rows of an ink mask: (tilt in degrees, contrast of the row profile, sharpness
    gain, the row histogram at that tilt).

    Projection-profile search: close the gaps between characters so each text line is
    one solid bar (otherwise, on pages with few lines, the slight upward slant of CJK
    horizontal strokes biases the answer by ~0.2°), then rotate the ink pixels'
    coordinates (not the image) and keep the angle whose row histogram is sharpest
    (largest sum of squares): 0.5° steps, then 0.05° around the best. The contrast is
    the coefficient of variation of that histogram; the gain is best over worst score.
    """
    import cv2

    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (bar, 1))
    closed = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, kernel)
    ys, xs = np.nonzero(closed)
    if ys.size < 200:
        return 0.0, 0.0, 1.0, np.zeros(0)
    if ys.size > 150_000:  # a sample is as good and keeps this ~20 ms
        pick = np.random.default_rng(0).choice(ys.size, 150_000, replace=False)
        ys, xs = ys[pick], xs[pick]
    ys = ys.astype(np.float32)
    xs = xs.astype(np.float32) - mask.shape[1] / 2
    n_bins = mask.shape[0] * 2

    def histogram(deg: float) -> np.ndarray:
        t = np.deg2rad(deg)
        proj = ys * np.cos(t) + xs * np.sin(t) + mask.shape[0] / 2
        return np.bincount(np.clip(proj, 0, n_bins - 1).astype(np.int32), minlength=n_bins).astype(np.float64)

    def score(deg: float) -> float:
        hist = histogram(deg)
        return float((hist * hist).sum())

    coarse = np.arange(-max_degrees, max_degrees + 1e-6, 0.5)
    scores = [score(a) for a in coarse]
    best = float(coarse[int(np.argmax(scores))])
    fine = np.arange(best - 0.5, best + 0.5 + 1e-6, 0.05)
    fscores = [score(a) for a in fine]
    angle = float(fine[int(np.argmax(fscores))])
    full = histogram(angle)
    inked = np.flatnonzero(full)
    hist = full[inked[0]: inked[-1] + 1]
    contrast = float(hist.std() / max(hist.mean(), 1e-9))
    gain = max(fscores) / min(scores) if min(scores) > 0 else 1.0
    return angle, contrast, gain, hist


def _bar(mask: np.ndarray) -> int:
    return max(15, max(mask.shape) // 33)


def estimate_skew(gray: np.ndarray, max_degrees: float = MAX_SKEW_DEGREES) -> float:
    """The tilt of the text rows in degrees (positive: counter-clockwise), 0.0 if unsure.

    Measured within ±0.1° on A4 and A6 pages (see `_line_profile`).
    """
    return analyse(gray, max_degrees).skew


def rotate(gray: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate counter-clockwise by `degrees`, keeping the whole page, filling with paper."""
    import cv2

    if degrees % 360 == 0:
        return gray
    quarter = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_CLOCKWISE}
    if degrees % 90 == 0:
        return cv2.rotate(gray, quarter[int(degrees) % 360])
    h, w = gray.shape
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_w, new_h = int(h * sin + w * cos + 0.5), int(h * cos + w * sin + 0.5)
    matrix[0, 2] += new_w / 2 - w / 2
    matrix[1, 2] += new_h / 2 - h / 2
    paper = int(np.percentile(gray[:: 16, :: 16], 95)) if gray.size else 255
    return cv2.warpAffine(gray, matrix, (new_w, new_h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=paper)


def deskew(gray: np.ndarray, max_degrees: float = MAX_SKEW_DEGREES,
           skew: float | None = None) -> tuple[np.ndarray, float]:
    """The page with its tilt removed, and the correction applied in degrees.

    `skew` is a tilt already measured (by `analyse`), to avoid measuring twice.
    """
    angle = estimate_skew(gray, max_degrees) if skew is None else skew
    if abs(angle) < 0.15:
        return gray, 0.0
    # the rows are sharpest when the coordinates are turned by `angle`; turning the
    # image the other way straightens it
    return rotate(gray, -angle), -angle


def looks_sideways(gray: np.ndarray) -> bool | None:
    """Do the text lines run vertically (a page turned 90°)? None when the page cannot tell.

    Characters closed into bars along the rows give a row profile that sharpens much
    more at its best angle than the column profile does (and the other way round for
    a page turned sideways); each profile is searched over its own tilt, so a tilted
    scan still tells.
    """
    return analyse(gray).sideways


_OSD_ROTATE = re.compile(r"Rotate:\s*(\d+)")
_OSD_CONF = re.compile(r"Orientation confidence:\s*([\d.]+)")


def detect_orientation(gray: np.ndarray, min_confidence: float = OSD_MIN_CONFIDENCE) -> Orientation:
    """Tesseract OSD's answer for how to turn the page upright, trusted above `min_confidence`.

    Costs ~1-2 s per 300 dpi page, so the caller runs it only when a first OCR pass looks
    wrong (see `dangan.ingest.text`). A page OSD cannot judge stays as it is.
    """
    import pytesseract

    import dangan.ingest.ocr  # noqa: F401  (sets OMP_THREAD_LIMIT for the subprocess)

    if ink_ratio(gray) < 0.002:
        return Orientation(0, 0.0, "none")
    img = Image.fromarray(gray)
    img.format = "BMP"
    try:
        out = pytesseract.image_to_osd(img, config="--psm 0", timeout=120)
    except (pytesseract.TesseractError, RuntimeError):
        return Orientation(0, 0.0, "none")
    rot = _OSD_ROTATE.search(out)
    conf = _OSD_CONF.search(out)
    if not rot or not conf:
        return Orientation(0, 0.0, "none")
    # OSD's "Rotate" is clockwise; we return counter-clockwise degrees
    degrees = (360 - int(rot.group(1))) % 360
    confidence = float(conf.group(1))
    if confidence < min_confidence:
        return Orientation(0, confidence, "none")
    return Orientation(degrees, confidence, "osd")
