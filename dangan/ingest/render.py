"""Render PDF pages to images with pdfium, one page at a time.

Why pdfium: it is the renderer Chrome uses, fast, and it draws pages whose text layer
is missing or wrong exactly as a reader sees them, which is what OCR must read.
300 dpi is the resolution OCR is tuned for (and DA/T 31 asks ≥300 dpi for poor
originals). A page whose size at that resolution would exceed the pixel limit is drawn
at a lower resolution instead, so a hostile page size cannot exhaust memory.
"""

from __future__ import annotations

import os
from types import TracebackType

from PIL import Image

from dangan.errors import InvalidInput

DEFAULT_DPI = 300


class PdfRenderer:
    """An open pdfium document; use as a context manager so the file handle is released."""

    def __init__(self, path: str | os.PathLike[str], max_pixels: int = 200_000_000) -> None:
        import pypdfium2 as pdfium

        self.max_pixels = max_pixels
        try:
            # pdfium tries the empty password itself: permission-locked PDFs open
            self._doc = pdfium.PdfDocument(os.fspath(path))
        except pdfium.PdfiumError as exc:
            if "password" in str(exc).lower():
                raise InvalidInput("PDF 已加密（有密码保护），无法处理。") from exc
            raise InvalidInput("PDF 文件被截断或损坏，无法渲染。") from exc

    def __len__(self) -> int:
        return len(self._doc)

    def __enter__(self) -> PdfRenderer:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Release pdfium's document."""
        self._doc.close()

    def render(self, index: int, dpi: int = DEFAULT_DPI, grayscale: bool = True) -> Image.Image:
        """Page `index` (0-based) as a PIL image, greyscale by default (what OCR reads)."""
        import pypdfium2 as pdfium

        try:
            page = self._doc[index]
        except pdfium.PdfiumError as exc:
            raise InvalidInput(f"PDF 第 {index + 1} 页无法打开，文件已损坏。") from exc
        try:
            width_pt, height_pt = page.get_size()
            scale = dpi / 72.0
            pixels = width_pt * scale * height_pt * scale
            if pixels > self.max_pixels:
                scale *= (self.max_pixels / pixels) ** 0.5
            if width_pt * scale < 1 or height_pt * scale < 1:
                raise InvalidInput(f"PDF 第 {index + 1} 页的尺寸无效。")
            bitmap = page.render(scale=scale, grayscale=grayscale, may_draw_forms=True)
            image = bitmap.to_pil()
            image.load()
            if grayscale and image.mode != "L":
                image = image.convert("L")
            return image
        except pdfium.PdfiumError as exc:
            raise InvalidInput(f"PDF 第 {index + 1} 页无法渲染，文件已损坏。") from exc
        finally:
            page.close()


def render_page(path: str | os.PathLike[str], index: int, dpi: int = DEFAULT_DPI) -> Image.Image:
    """One page of the PDF at `path`, for callers that need a single page."""
    with PdfRenderer(path) as renderer:
        return renderer.render(index, dpi)
