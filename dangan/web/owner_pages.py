"""业主查询: an owner sees the owner-visible records of their own flats — and nothing else.
Every lookup goes through OwnerService, which answers 404 for anything outside them."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, render_template, request
from flask.typing import ResponseReturnValue

from dangan.web.auth import requires
from dangan.web.content import ContentService
from dangan.web.owners import OwnerService
from dangan.web.pages import stream_original

bp = Blueprint("owner_pages", __name__)


def system():  # type: ignore[no-untyped-def]
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
    rec = OwnerService(system()).record(g.actor, archive_no, action="owner.download")
    return stream_original(ContentService(system()).original(g.actor, archive_no, rec=rec,
                                                             action="owner.download"))
