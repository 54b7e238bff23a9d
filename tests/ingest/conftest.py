"""Factories for ingest tests: good and hostile files, built in the test's temp directory.

OCR is the slow part of these tests, so scans are small pages (A6, a few lines) unless a
test needs a full one; tesseract reads such a page in well under a second.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from dangan.demo import render

OWNER_FORM = """业主入住登记表
房屋地址：翠湖花园1号楼2单元0502室
业主姓名：张建国　联系电话：13812345678
建筑面积：89.56平方米
业主已领取钥匙三把、门禁卡两张。"""

REPAIR_FORM = """维修工单
维修编码：010023
报修位置：B区3号楼1单元1202室卫生间
报修内容：卫生间地漏堵塞，排水缓慢。
处理结果：已疏通并做闭水试验。"""

COMPLAINT_FORM = """投诉处理记录
投诉内容：夜间装修噪音影响休息。
处理结果：已通知装修户停止夜间施工。"""

A6 = (148.0, 105.0)  # landscape A6: five lines of 12 pt text


def small_scan(text: str = REPAIR_FORM, **kw: object) -> Image.Image:
    """A small clean 300 dpi greyscale scan of `text`."""
    return render.page_image(text, paper_mm=A6, margin_mm=10, **kw)  # type: ignore[arg-type]


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(width: int, height: int) -> bytes:
    """A valid-looking PNG header claiming `width` × `height`, with almost no data (~100 bytes)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def bomb_tiff(width: int, height: int) -> bytes:
    """A little-endian TIFF whose only IFD claims `width` × `height` 8-bit greyscale pixels."""
    entries = [
        (256, 4, 1, width),          # ImageWidth (LONG)
        (257, 4, 1, height),         # ImageLength
        (258, 3, 1, 8),              # BitsPerSample
        (259, 3, 1, 1),              # Compression: none
        (262, 3, 1, 1),              # Photometric: black is zero
        (273, 4, 1, 8),              # StripOffsets (points at the header: never read)
        (277, 3, 1, 1),              # SamplesPerPixel
        (278, 4, 1, height),         # RowsPerStrip
        (279, 4, 1, width * height & 0xFFFFFFFF),  # StripByteCounts
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        packed = struct.pack("<I", value) if kind == 4 else struct.pack("<HH", value, 0)
        ifd += struct.pack("<HHI", tag, kind, count) + packed
    ifd += struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd


def small_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("payload.html", "<script>alert(1)</script>")
    return buf.getvalue()


def docx_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", "<w:document/>")
    return buf.getvalue()


@pytest.fixture
def make_file(tmp_path: Path) -> Callable[[str, bytes], Path]:
    """Write bytes to a named file in the test's directory."""

    def make(name: str, data: bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return make


@pytest.fixture
def text_pdf(tmp_path: Path) -> Callable[..., Path]:
    """A born-digital PDF with one text page per string."""
    counter = iter(range(1000))

    def make(*pages: str, font: str = "wqy") -> Path:
        return render.text_pdf(tmp_path / f"text{next(counter)}.pdf", list(pages), font=font)

    return make


def pdf_with(tmp_path: Path, name: str, edit: Callable[[object], None], text: str = OWNER_FORM) -> Path:
    """A text PDF rewritten by pypdf after `edit(writer)` changed it (adds actions, locks…)."""
    from pypdf import PdfReader, PdfWriter

    base = render.text_pdf(tmp_path / f"base-{name}", [text])
    writer = PdfWriter(clone_from=PdfReader(base))
    edit(writer)
    out = tmp_path / name
    with open(out, "wb") as fh:
        writer.write(fh)
    return out
