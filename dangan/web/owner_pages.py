"""业主查询: an owner sees the owner-visible records of their own flats — and nothing else.
Every lookup goes through OwnerService, which answers 404 for anything outside them."""

from __future__ import annotations

import datetime as dt
import io
from typing import TYPE_CHECKING

from flask import Blueprint, Response, current_app, g, render_template, request
from flask.typing import ResponseReturnValue
from PIL import Image

from dangan.errors import InvalidInput
from dangan.loans.watermark import watermark_pdf
from dangan.web.auth import requires
from dangan.web.content import ContentService
from dangan.web.owners import OwnerService
from dangan.web.pages import content_disposition

if TYPE_CHECKING:
    from dangan.system import Dangan

bp = Blueprint("owner_pages", __name__)


def system() -> Dangan:
    return current_app.config["DANGAN"]


@bp.route("/owner")
@requires("owner.portal")
def index() -> ResponseReturnValue:
    svc = OwnerService(system())
    return render_template("owner/index.html", actor=g.actor, rows=svc.records(g.actor),
                           flats=svc.flats(g.actor.name))


@bp.route("/owner/records/<archive_no>")
@requires("owner.portal")
def record(archive_no: str) -> ResponseReturnValue:
    svc = OwnerService(system())
    rec = svc.record(g.actor, archive_no)
    data = svc._public(rec)
    try:
        page = max(1, min(int(request.args.get("page", 1)), max(1, rec.pages or 1)))
    except ValueError:
        page = 1
    viewable = bool(rec.sha256 and rec.pages and (rec.media_type == "application/pdf"
                                                  or rec.media_type.startswith("image/")))
    return render_template("owner/record.html", actor=g.actor, r=data, page=page, viewable=viewable)


@bp.route("/owner/records/<archive_no>/page/<int:n>")
@requires("owner.portal")
def page_image(archive_no: str, n: int) -> ResponseReturnValue:
    rec = OwnerService(system()).record(g.actor, archive_no, action="owner.page")
    png = ContentService(system()).page_image(g.actor, archive_no, n, rec=rec)
    resp = Response(png, mimetype="image/png")
    resp.headers["Cache-Control"] = "no-store, private"
    return resp


@bp.route("/owner/records/<archive_no>/download")
@requires("owner.portal")
def download(archive_no: str) -> ResponseReturnValue:
    """The owner's copy: a PDF with the owner's name and the time stamped on every page (an
    image original becomes a PDF first); the stored original never changes."""
    rec = OwnerService(system()).record(g.actor, archive_no, action="owner.download")
    if rec.size > MAX_COPY_BYTES:
        raise InvalidInput("文件过大，无法在线生成带水印的复制件，请到物业服务中心查阅。")
    original = ContentService(system()).original(g.actor, archive_no, rec=rec, action="owner.download")
    data = as_pdf(b"".join(original.chunks), rec.media_type)
    stamp = [f"业主 {g.actor.name}", "仅供本户查阅", dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")]
    resp = Response(watermark_pdf(data, stamp), mimetype="application/pdf")
    resp.headers["Content-Disposition"] = content_disposition(f"{original.archive_no}-复制件.pdf",
                                                              f"{original.archive_no}.pdf")
    resp.headers["Cache-Control"] = "no-store, private"
    return resp


MAX_COPY_BYTES = 200 * 1024 * 1024


def as_pdf(data: bytes, media_type: str) -> bytes:
    """A PDF as it is; a scan (TIFF, PNG, JPEG) as a PDF with one page per frame."""
    if media_type == "application/pdf":
        return data
    with Image.open(io.BytesIO(data)) as img:
        frames = []
        for n in range(getattr(img, "n_frames", 1)):
            img.seek(n)
            frames.append(img.convert("RGB"))
    out = io.BytesIO()
    frames[0].save(out, "PDF", save_all=True, append_images=frames[1:], resolution=200.0)
    return out.getvalue()
