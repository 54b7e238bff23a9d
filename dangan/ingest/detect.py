"""Decide a file's media type from its bytes, never from its name.

Why: an archive accepts only formats it can keep readable (PDF, TIFF, PNG, JPEG); a
name is a claim anyone can make. The sniffer also refuses files that are two formats at
once (a PDF with a ZIP appended, an image with a script in front): such polyglots are
how malicious payloads ride into systems that trust one reading of a file, and nothing
legitimate an archive receives looks like that.

`sniff` reads at most the first 4 KiB and the last 64 KiB (plus a few bytes to
validate a ZIP directory), so it costs the same for a 1 KiB and a 1 GiB file.
"""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path
from typing import BinaryIO

from dangan.errors import InvalidInput

PDF = "application/pdf"
TIFF = "image/tiff"
PNG = "image/png"
JPEG = "image/jpeg"

#: Formats accepted for archival (DA/T 47 / GB/T 18894 list PDF, TIFF, JPEG; PNG is lossless).
ACCEPTED: tuple[str, ...] = (PDF, TIFF, PNG, JPEG)

#: What each accepted type is called in messages.
NAMES = {PDF: "PDF", TIFF: "TIFF 图像", PNG: "PNG 图像", JPEG: "JPEG 图像"}

_HEAD = 4096
_TAIL = 65_536 + 22  # a ZIP end-of-central-directory record plus the longest comment

# Signatures of formats we do not accept, to name them in the refusal.
_OTHER_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "旧版 Office 文档（.doc/.xls/.ppt）"),
    (b"GIF87a", "GIF 图像"),
    (b"GIF89a", "GIF 图像"),
    (b"Rar!\x1a\x07", "RAR 压缩包"),
    (b"7z\xbc\xaf\x27\x1c", "7z 压缩包"),
    (b"\x1f\x8b", "gzip 压缩文件"),
    (b"BZh", "bzip2 压缩文件"),
    (b"\xfd7zXZ\x00", "xz 压缩文件"),
    (b"\x7fELF", "可执行程序（ELF）"),
    (b"MZ", "Windows 可执行程序"),
    (b"{\\rtf", "RTF 文档"),
    (b"%!PS", "PostScript 文件"),
    (b"AT&TFORM", "DjVu 文档"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000 图像"),
    (b"\xff\x4f\xff\x51", "JPEG 2000 码流"),
    (b"8BPS", "Photoshop 文件"),
    (b"OggS", "Ogg 音视频文件"),
    (b"ID3", "MP3 音频"),
    (b"\x1aE\xdf\xa3", "Matroska/WebM 视频"),
    (b"SQLite format 3\x00", "SQLite 数据库"),
)

# Markers of content that makes a file executable somewhere: markup, scripts, archives.
_MARKUP = re.compile(rb"<\s*(?:html|script|iframe|svg|body|object|embed)\b|<!doctype\s+html|<\?php",
                     re.IGNORECASE)
_PAYLOAD_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "ZIP 压缩包"),
    (b"Rar!\x1a\x07", "RAR 压缩包"),
    (b"7z\xbc\xaf\x27\x1c", "7z 压缩包"),
    (b"\x7fELF", "可执行程序"),
    (b"%PDF-", "PDF 文件"),
)


def sniff(path: str | os.PathLike[str]) -> str:
    """The media type of the file at `path` (one of `ACCEPTED`), or InvalidInput saying why not."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(_HEAD)
            fh.seek(max(0, size - _TAIL))
            tail = fh.read(_TAIL)
            tail_start = max(0, size - _TAIL)
            if size == 0:
                raise InvalidInput("文件为空（0 字节），没有可归档的内容。")
            media = _identify(head, tail)
            _refuse_markup_prefix(head, media)
            _refuse_appended_zip(fh, tail, tail_start, size, media)
            if media == PDF:
                _check_pdf(head, tail, size)
            elif media == PNG:
                _check_png(fh, size)
            elif media == JPEG:
                _check_jpeg(tail)
    except OSError as exc:  # unreadable path: a permissions or disk problem, not the content
        raise InvalidInput("无法读取该文件，请检查文件是否存在且可读。") from exc
    return media


def _identify(head: bytes, tail: bytes) -> str:
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return TIFF
    pdf_at = head.find(b"%PDF-", 0, 1024)
    if pdf_at > 0:
        # The PDF specification lets readers find the header within the first 1 KiB;
        # what sits before it must be junk, not another format.
        prefix = head[:pdf_at]
        what = _describe(prefix) if prefix.strip(b"\x00\t\r\n\x0c ") else None
        if what or _MARKUP.search(prefix):
            raise InvalidInput(f"文件在 PDF 之前嵌有{what or '网页或脚本代码'}，属于伪装的多重格式文件，已拒绝。")
        return PDF
    if (b"endobj" in head and b" obj" in head) or b"%%EOF" in tail[-1024:]:
        raise InvalidInput("文件看起来是 PDF，但缺少有效的 %PDF- 文件头，文件已损坏。")
    what = _describe(head)
    if what:
        raise InvalidInput(f"不支持的文件类型：这是{what}，请转换为 PDF、TIFF、PNG 或 JPEG 后再提交。")
    raise InvalidInput("不支持的文件类型：无法识别的格式，只接收 PDF、TIFF、PNG 和 JPEG 文件。")


def _describe(head: bytes) -> str | None:
    """A human name for a format we do not accept, or None if we cannot tell."""
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _describe_zip(head)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP 图像"
    if head[:2] == b"BM" and len(head) > 14 and head[6:10] == b"\x00\x00\x00\x00":
        return "BMP 图像"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"mif1", b"msf1", b"avif"):
            return "HEIC/AVIF 图像（手机照片格式）"
        return "MP4/MOV 视频"
    for signature, name in _OTHER_SIGNATURES:
        if head.startswith(signature):
            return name
    text = head.lstrip(b"\xef\xbb\xbf\xff\xfe\x00 \t\r\n")
    if _MARKUP.match(text) or text[:5].lower() == b"<html":
        return "网页（HTML）文件"
    if text.startswith(b"<?xml"):
        return "XML 文件"
    if _looks_like_text(head):
        return "纯文本文件"
    return None


def _describe_zip(head: bytes) -> str:
    if b"word/" in head:
        return "Word 文档（.docx）"
    if b"xl/" in head:
        return "Excel 表格（.xlsx）"
    if b"ppt/" in head:
        return "PowerPoint 演示文稿（.pptx）"
    if b"OFD.xml" in head or b"Doc_0/" in head:
        return "OFD 版式文件"
    if b"mimetypeapplication/vnd.oasis.opendocument" in head:
        return "OpenDocument 文档（.odt/.ods）"
    return "ZIP 压缩包"


def _looks_like_text(head: bytes) -> bool:
    sample = head[:2048]
    for encoding in ("utf-8", "gb18030", "utf-16"):
        try:
            text = sample.decode(encoding)
        except UnicodeDecodeError:
            # a multi-byte character cut at the end of the sample is not a decoding error
            try:
                text = sample[:-3].decode(encoding)
            except UnicodeDecodeError:
                continue
        printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
        if text and printable / len(text) > 0.95:
            return True
    return False


def _refuse_markup_prefix(head: bytes, media: str) -> None:
    """Markup or script in the first KiB of a binary format means a second reading exists."""
    window = head[:1024]
    if media == PDF:
        # PDF comments and dictionaries are text; only the bytes before the header count
        window = window[: window.find(b"%PDF-")]
    elif media == JPEG:
        # JPEG comment (COM) and XMP segments may legitimately hold text; look past them
        window = b""
    if _MARKUP.search(window):
        raise InvalidInput(f"{NAMES[media]}开头嵌有网页或脚本代码，属于伪装的多重格式文件，已拒绝。")


def _refuse_appended_zip(fh: BinaryIO, tail: bytes, tail_start: int, size: int, media: str) -> None:
    """A valid ZIP end-of-central-directory record at the end: a ZIP rides on this file.

    A byte pattern alone could occur by chance inside compressed data, so the record must
    be self-consistent: its central directory must start with the directory signature.
    """
    pos = tail.rfind(b"PK\x05\x06")
    while pos >= 0:
        record = tail[pos: pos + 22]
        if len(record) == 22:
            cd_size, cd_offset, comment_len = struct.unpack("<IIH", record[12:22])
            end = tail_start + pos + 22 + comment_len
            cd_start = tail_start + pos - cd_size
            if end <= size and cd_start >= 0 and (size - end) < 1024:
                fh.seek(cd_start)
                if fh.read(4) == b"PK\x01\x02" or (cd_size == 0 and cd_offset == 0):
                    raise InvalidInput(f"{NAMES[media]}末尾附加了 ZIP 压缩包，属于伪装的多重格式文件，已拒绝。")
        pos = tail.rfind(b"PK\x05\x06", 0, pos)


def _payload_in(data: bytes) -> str | None:
    if _MARKUP.search(data):
        return "网页或脚本代码"
    for signature, name in _PAYLOAD_SIGNATURES:
        if signature in data:
            return name
    return None


_STARTXREF = re.compile(rb"startxref\s+(\d+)\s*%%EOF")


def _check_pdf(head: bytes, tail: bytes, size: int) -> None:
    if not re.match(rb"%PDF-[12]\.\d", head[head.find(b"%PDF-"):]):
        raise InvalidInput("PDF 文件头无效（版本号缺失），文件已损坏。")
    eof = tail.rfind(b"%%EOF")
    if eof < 0:
        raise InvalidInput("PDF 文件被截断或损坏（找不到文件结束标记 %%EOF）。")
    trailing = tail[eof + 5:]
    if trailing.strip(b"\x00\t\r\n\x0c "):
        what = _payload_in(trailing)
        if what:
            raise InvalidInput(f"PDF 文件结束标记之后附加了{what}，属于伪装的多重格式文件，已拒绝。")
        if len(trailing) > 1024:
            raise InvalidInput("PDF 文件结束标记之后附加了大量额外数据，文件可能被篡改，已拒绝。")
    match = None
    for match in _STARTXREF.finditer(tail):  # noqa: B007 - the last one is the live one
        pass
    if match is None or int(match.group(1)) >= size:
        raise InvalidInput("PDF 文件被截断或损坏（交叉引用表位置无效）。")


def _check_png(fh: BinaryIO, size: int) -> None:
    """Walk the chunk headers (no decoding) to IEND; refuse a missing end or an appended payload."""
    pos = 8
    seen_ihdr = False
    while pos + 8 <= size:
        fh.seek(pos)
        header = fh.read(8)
        length, kind = struct.unpack(">I4s", header)
        if not seen_ihdr and kind != b"IHDR":
            break
        seen_ihdr = True
        pos += 12 + length
        if kind == b"IEND":
            if pos > size:
                break
            fh.seek(pos)
            trailing = fh.read(min(size - pos, _TAIL))
            if trailing.strip(b"\x00\t\r\n "):
                what = _payload_in(trailing)
                if what:
                    raise InvalidInput(f"PNG 图像末尾附加了{what}，属于伪装的多重格式文件，已拒绝。")
            return
        if length > 0x7FFFFFFF:
            break
    raise InvalidInput("PNG 图像被截断或损坏（缺少图像结束标记）。")


def _check_jpeg(tail: bytes) -> None:
    """Refuse a payload after the end-of-image marker.

    Truncation itself is left to the decoder (`dangan.ingest.images`): phones append
    trailers (and motion photos a whole video) that push the marker out of our window.
    """
    end = tail.rfind(b"\xff\xd9")
    if end < 0:
        return
    trailing = tail[end + 2:]
    what = _payload_in(trailing) if trailing.strip(b"\x00") else None
    if what:
        raise InvalidInput(f"JPEG 图像末尾附加了{what}，属于伪装的多重格式文件，已拒绝。")
