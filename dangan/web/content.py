"""Reading a record's content in the browser: pages rendered to images on the server, and
the original streamed for download. Nothing decrypted touches the disk; every read is
checked against the reader's rights and clearance and audited.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import Image

from dangan.archive.models import Record
from dangan.archive.permissions import Actor
from dangan.errors import IntegrityError, InvalidInput, NotFound

if TYPE_CHECKING:
    from dangan.system import Dangan

VIEW_DPI = 110
MAX_VIEW_BYTES = 256 * 1024**2  # originals larger than this are downloaded, not viewed
MAX_PIXELS = 40_000_000


@dataclass(frozen=True)
class Original:
    archive_no: str
    name: str
    media_type: str
    size: int
    chunks: Iterator[bytes]


class ContentService:
    def __init__(self, system: Dangan) -> None:
        self.system = system
        self.records = system.records

    def _load(self, actor: Actor, ref: str, right: str, action: str) -> Record:
        self.records.require(actor, right, ref)
        with self.system.db.read() as s:
            rec = self.records.find(s, ref)
            s.expunge(rec)
        if rec.status == "destroyed":
            raise NotFound(f"档号 {ref!r} 不存在。")
        if not actor.may_see(rec.security, rec.category):
            self.records.refuse(actor, action, rec.archive_no or rec.provisional_no,
                                f"用户 {actor.name} 的密级或类别权限不足，无权查看该档案。")
        if rec.sha256 is None:
            raise InvalidInput(f"档案 {ref} 只有纸质原件（{rec.custody or '存放位置未登记'}），没有电子原件。")
        return rec

    def record_for(self, actor: Actor, ref: str, right: str = "record.text",
                   action: str = "record.page") -> Record:
        return self._load(actor, ref, right, action)

    # -- pages ----------------------------------------------------------------------

    def page_image(self, actor: Actor, ref: str, page: int, audit: bool = True,
                   rec: Record | None = None) -> bytes:
        """Page `page` (1-based) as PNG bytes, rendered in memory from the decrypted original."""
        rec = rec or self._load(actor, ref, "record.text", "record.page")
        if rec.size > MAX_VIEW_BYTES:
            raise InvalidInput("原件过大，无法在线浏览，请下载原件。")
        if page < 1 or (rec.pages and page > rec.pages):
            raise NotFound(f"档案 {ref} 没有第 {page} 页。")
        data = b"".join(self.records.iter_original(rec))
        image = render(data, rec.media_type, page - 1)
        out = io.BytesIO()
        image.save(out, format="PNG", optimize=False)
        if audit:
            with self.system.db.session() as s:
                self.system.audit.append(s, actor.name, "record.page", rec.archive_no or rec.provisional_no,
                                         "ok", {"page": page})
        return out.getvalue()

    # -- download -------------------------------------------------------------------

    def original(self, actor: Actor, ref: str, rec: Record | None = None,
                 action: str = "record.download") -> Original:
        """The decrypted original as a stream; the hash is checked as it goes and the
        download is audited before the first byte leaves."""
        rec = rec or self._load(actor, ref, "record.get", action)
        with self.system.db.session() as s:
            self.system.audit.append(s, actor.name, action, rec.archive_no or rec.provisional_no,
                                     "ok", {"sha256": rec.sha256, "via": "web"})

        def chunks() -> Iterator[bytes]:
            digest = hashlib.sha256()
            for chunk in self.records.iter_original(rec):
                digest.update(chunk)
                yield chunk
            if digest.hexdigest() != rec.sha256:
                raise IntegrityError("原件哈希与入库时不符。")

        return Original(rec.archive_no or rec.provisional_no or rec.id, rec.original_name,
                        rec.media_type, rec.size, chunks())


def render(data: bytes, media_type: str, index: int, dpi: int = VIEW_DPI) -> Image.Image:
    """One page of a PDF or image file, as an RGB or greyscale image sized for a screen."""
    if media_type == "application/pdf":
        import pypdfium2 as pdfium

        try:
            doc = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            raise InvalidInput("PDF 文件无法打开。") from exc
        try:
            if index >= len(doc):
                raise NotFound(f"没有第 {index + 1} 页。")
            page = doc[index]
            try:
                w, h = page.get_size()
                scale = dpi / 72.0
                if w * h * scale * scale > MAX_PIXELS:
                    scale = (MAX_PIXELS / (w * h)) ** 0.5
                return page.render(scale=scale).to_pil()
            finally:
                page.close()
        finally:
            doc.close()
    if media_type.startswith("image/"):
        Image.MAX_IMAGE_PIXELS = 400_000_000
        try:
            img: Image.Image = Image.open(io.BytesIO(data))
            frames = getattr(img, "n_frames", 1)
            if index >= frames:
                raise NotFound(f"没有第 {index + 1} 页。")
            img.seek(index)
            img = img.convert("L" if img.mode in ("1", "L", "I;16") else "RGB")
        except (OSError, ValueError) as exc:
            raise InvalidInput("图像文件无法打开。") from exc
        img.thumbnail((1600, 2400))
        return img
    raise InvalidInput(f"格式 {media_type} 不能在线浏览，请下载原件。")
