"""采集 pages: upload several files (drag and drop) with the options of `dangan ingest`,
follow the batch live, and work through the 待分类 queue beside the page image."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, current_app, g, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from dangan.errors import DanganError
from dangan.web import uploads
from dangan.web.auth import check_csrf, requires

if TYPE_CHECKING:
    from dangan.system import Dangan

bp = Blueprint("ingest_pages", __name__)


def system() -> Dangan:
    return current_app.config["DANGAN"]


@bp.route("/upload", methods=["GET", "POST"])
@requires("record.ingest")
def upload() -> ResponseReturnValue:
    svc = system()
    error = None
    form = request.form if request.method == "POST" else {}
    if request.method == "POST":
        check_csrf()
        files = [(f.filename or "", f.stream) for f in request.files.getlist("files") if f and f.filename]
        try:
            batch_id = uploads.upload(svc, g.actor, files, uploads.explicit_from(request.form))
        except DanganError as exc:
            error = str(exc)
        else:
            return redirect(url_for("ingest_pages.batch", batch_id=batch_id))
    return render_template("ingest/upload.html", actor=g.actor, scheme=svc.scheme, error=error, form=form,
                           batches=uploads.batches(svc, g.actor)), (400 if error else 200)


@bp.route("/upload/batches/<int:batch_id>")
@requires("record.ingest")
def batch(batch_id: int) -> ResponseReturnValue:
    data = uploads.status(system(), g.actor, batch_id)
    return render_template("ingest/batch.html", actor=g.actor, b=data)


@bp.route("/upload/batches/<int:batch_id>.json")
@requires("record.ingest")
def batch_json(batch_id: int) -> ResponseReturnValue:
    return jsonify(uploads.status(system(), g.actor, batch_id))


@bp.route("/review")
@requires("review")
def review() -> ResponseReturnValue:
    svc = system()
    rows = svc.records.review_queue(g.actor, limit=200)
    return render_template("ingest/review.html", actor=g.actor, rows=rows, scheme=svc.scheme)


@bp.route("/review/<ref>")
@requires("review")
def review_item(ref: str) -> ResponseReturnValue:
    svc = system()
    r = svc.records.show(g.actor, ref)
    if r["status"] != "queued":
        return redirect(url_for("pages.record", archive_no=r["archive_no"] or ref))
    queue = [x["provisional_no"] for x in svc.records.review_queue(g.actor, limit=200)]
    following = next((q for q in queue if q != ref), None)
    sug = r.get("suggestion") or {}
    alternatives = [a[0] if isinstance(a, list | tuple) else a for a in sug.get("alternatives") or []]
    candidates = [c for c in [sug.get("location"), *(sug.get("location_candidates") or [])] if c]
    viewable = bool(r["sha256"] and r["pages"] and (r["media_type"] == "application/pdf"
                                                     or r["media_type"].startswith("image/")))
    return render_template("ingest/review_item.html", actor=g.actor, r=r, ref=ref, sug=sug, scheme=svc.scheme,
                           alternatives=alternatives, candidates=list(dict.fromkeys(candidates)),
                           viewable=viewable, following=following)
