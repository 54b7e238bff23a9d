"""PDF structure: open safely, refuse encryption and active content, text per page.

Why here and not in the renderer: whether a PDF may enter the archive (does it open,
is it locked, does it carry scripts or attachments, are all its pages there) is decided
from its object structure with pypdf before any page is rendered. pypdf also gives the
exact text of pages that carry a text layer (2-5 ms a page), which saves OCR for
born-digital documents.
"""

from __future__ import annotations

import contextlib
import logging
import os
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from dangan.errors import InvalidInput

ENCRYPTED_MESSAGE = "PDF 已加密（有密码保护），无法处理。"
CORRUPT_MESSAGE = "PDF 文件被截断或损坏，无法读取其结构。"

# Object markers of active content, with the words a user reads in the refusal.
_ACTION_KINDS = {
    "/JavaScript": "JavaScript 脚本",
    "/Launch": "启动外部程序的动作",
    "/ImportData": "导入外部数据的动作",
    "/SubmitForm": "向外部提交表单的动作",
    "/Rendition": "多媒体播放动作",
    "/GoToE": "打开嵌入文件的动作",
}
_ANNOT_KINDS = {
    "/RichMedia": "富媒体（Flash/视频）",
    "/FileAttachment": "附件注释（嵌入文件）",
    "/Movie": "多媒体内容",
    "/Sound": "多媒体内容",
    "/Screen": "多媒体内容",
}


@dataclass
class PdfDocument:
    """An opened, readable PDF and what was learned while opening it."""

    reader: Any  # pypdf.PdfReader
    path: str
    page_count: int
    declared_pages: int | None
    encrypted: bool = False
    warnings: list[str] = field(default_factory=list)

    def pages(self) -> Iterator[Any]:
        """The pypdf page objects, in order."""
        return iter(self.reader.pages)


def open_pdf(path: str | os.PathLike[str]) -> PdfDocument:
    """Open a PDF for reading or raise InvalidInput (corrupt, password-protected).

    A PDF encrypted with an empty user password (the common "permissions only" lock that
    forbids printing or copying) opens in every viewer without a password; it is read
    and a warning is recorded, because refusing it would refuse most government-issued
    PDFs while protecting nothing. A PDF that needs a password to open is refused.
    """
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError
    from pypdf.generic import DictionaryObject

    warnings: list[str] = []
    logger = logging.getLogger("pypdf")
    previous = logger.level
    logger.setLevel(logging.ERROR)  # pypdf logs every recovered oddity as a warning
    try:
        reader = PdfReader(os.fspath(path), strict=False)
        encrypted = reader.is_encrypted
        if encrypted:
            try:
                ok = reader.decrypt("")
            except (NotImplementedError, PdfReadError, ValueError, KeyError) as exc:
                raise InvalidInput(ENCRYPTED_MESSAGE) from exc
            if not ok:
                raise InvalidInput(ENCRYPTED_MESSAGE)
            warnings.append("PDF 带有权限加密（无需密码即可打开），已读取；长期保存宜改存为未加密的 PDF/A。")
        root = reader.trailer["/Root"].get_object()
        declared = None
        with contextlib.suppress(KeyError, TypeError, ValueError):
            pages = root["/Pages"].get_object() if isinstance(root, DictionaryObject) else None
            if isinstance(pages, DictionaryObject):  # anything else has no /Count to read
                declared = int(cast(Any, pages["/Count"]))  # PdfObject: int() raises if not a number
        count = len(reader.pages)
    except InvalidInput:
        raise
    except RecursionError as exc:
        raise InvalidInput("PDF 页面树存在循环引用，文件已损坏。") from exc
    except Exception as exc:  # pypdf raises many types on damaged files
        raise InvalidInput(CORRUPT_MESSAGE) from exc
    finally:
        logger.setLevel(previous)
    if count == 0:
        raise InvalidInput("PDF 中没有任何页面。")
    return PdfDocument(reader, os.fspath(path), count, declared, encrypted, warnings)


def find_active_content(doc: PdfDocument) -> list[str]:
    """What kinds of active content the PDF carries (empty when none), in Chinese.

    Every object in the cross-reference table is examined, not only those reachable from
    the catalogue: a script hidden in an unreferenced object or an old revision is still
    in the file the archive would keep.
    """
    reader = doc.reader
    found: dict[str, None] = {}
    for obj in _all_objects(reader):
        _classify(obj, found)
    root = reader.trailer["/Root"].get_object()
    names = root.get("/Names")
    if names is not None:
        names = names.get_object()
        if "/JavaScript" in names:
            found["JavaScript 脚本"] = None
        if "/EmbeddedFiles" in names:
            found["嵌入文件（附件）"] = None
    acro = root.get("/AcroForm")
    if acro is not None and "/XFA" in acro.get_object():
        found["XFA 动态表单"] = None
    return list(found)


def _all_objects(reader: Any) -> Iterator[Any]:
    from pypdf.generic import IndirectObject

    seen: set[tuple[int, int]] = set()
    refs: list[tuple[int, int]] = []
    for gen, table in getattr(reader, "xref", {}).items():
        refs.extend((num, gen) for num in table)
    refs.extend((num, 0) for num in getattr(reader, "xref_objStm", {}))
    cache = getattr(reader, "resolved_objects", {})
    for num, gen in refs:
        if (num, gen) in seen:
            continue
        seen.add((num, gen))
        cached = (gen, num) in cache
        try:
            obj = reader.get_object(IndirectObject(num, gen, reader))
        except Exception:  # an unreadable object cannot run either
            continue
        if obj is not None:
            yield obj
        if not cached:
            # keep memory flat: a scanned PDF's image streams must not all stay resident
            cache.pop((gen, num), None)


def _classify(obj: Any, found: dict[str, None]) -> None:
    """Classify `obj` and every direct (not indirect) dictionary nested inside it.

    Actions are often direct objects: ``/OpenAction << /S /JavaScript ... >>`` inside the
    catalogue, ``/AA << /O << /S /Launch >> >>`` inside a page. Indirect references are
    not followed: each indirect object is visited once by `find_active_content`.
    """
    from pypdf.generic import ArrayObject, DictionaryObject

    stack = [obj]
    visited = 0
    while stack and visited < 100_000:
        item = stack.pop()
        visited += 1
        if isinstance(item, DictionaryObject):
            _classify_dict(item, found)
            stack.extend(v for v in item.values() if isinstance(v, DictionaryObject | ArrayObject))
        elif isinstance(item, ArrayObject):
            stack.extend(v for v in item if isinstance(v, DictionaryObject | ArrayObject))


def _classify_dict(obj: Any, found: dict[str, None]) -> None:
    kind = obj.get("/S")
    if isinstance(kind, str) and kind in _ACTION_KINDS:
        found[_ACTION_KINDS[kind]] = None
    if "/JS" in obj:
        found["JavaScript 脚本"] = None
    subtype = obj.get("/Subtype")
    if isinstance(subtype, str) and subtype in _ANNOT_KINDS:
        found[_ANNOT_KINDS[subtype]] = None
    if obj.get("/Type") == "/EmbeddedFile" or "/EF" in obj or "/EmbeddedFiles" in obj:
        found["嵌入文件（附件）"] = None
    if "/RichMediaContent" in obj or "/RichMediaSettings" in obj:
        found["富媒体（Flash/视频）"] = None
    if "/XFA" in obj:
        found["XFA 动态表单"] = None


def refuse_active_content(kinds: list[str]) -> None:
    """Raise the refusal for a PDF carrying `kinds` of active content."""
    if kinds:
        raise InvalidInput(f"PDF 含有活动内容（{'、'.join(kinds)}），按规定不予接收。")


# --- text layer -----------------------------------------------------------------------


def page_text(page: Any) -> str:
    """The page's text layer as pypdf extracts it ('' when it has none or it is unreadable)."""
    try:
        text = page.extract_text() or ""
    except Exception:  # a broken content stream: let OCR read the rendered page
        return ""
    return unicodedata.normalize("NFC", text.replace("\x00", ""))


def page_has_images(page: Any) -> bool:
    """Does the page paint at least one image (a scan, a stamp, a photo)?"""
    try:
        resources = page.get("/Resources")
        xobjects = resources.get_object().get("/XObject") if resources is not None else None
        if xobjects is None:
            return False
        return any(x.get_object().get("/Subtype") == "/Image" for x in xobjects.get_object().values())
    except Exception:
        return False


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def text_is_usable(text: str, has_images: bool = False, min_chars: int = 20) -> bool:
    """Is this text layer worth keeping, or should the page be OCR'd instead?

    Fonts without a ToUnicode map make pypdf return glyph codes read as Latin-1, control
    characters or private-use code points; subset fonts with sequential codes return
    runs of ASCII punctuation. A page that is mostly a picture with a few words on top
    (a scan with a stamped page number) is OCR'd too.
    """
    chars = [ch for ch in text if not ch.isspace()]
    n = len(chars)
    if n == 0:
        return False
    if has_images and n < min_chars:
        return False
    bad = sum(unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cn", "Cs") or ch == "\ufffd" for ch in chars)
    latin_ext = sum("\u0080" <= ch <= "\u024f" for ch in chars)
    cjk = sum(_is_cjk(ch) for ch in chars)
    symbols = sum(unicodedata.category(ch)[0] in "PS" and ch.isascii() for ch in chars)
    if bad / n > 0.05:
        return False
    if latin_ext / n > 0.2 and latin_ext > cjk:
        return False
    if n >= 10 and symbols / n > 0.35:
        return False
    # rare CJK Extension A characters dominate only when codes were mapped to the wrong table
    ext_a = sum("\u3400" <= ch <= "\u4dbf" for ch in chars)
    return not (cjk and ext_a / cjk > 0.2)
