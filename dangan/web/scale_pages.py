"""Pages for the scale-out slice: 上传入库 (files handed to the workers' queue, then the
batch's progress) and 系统状态 for the admin."""

from __future__ import annotations

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from dangan.errors import PermissionDenied
from dangan.system import Dangan
from dangan.web.auth import check_csrf, login_required
from dangan.web.scale_api import EXPLICIT, system_status
from dangan.worker.queue import batch_status, queue_uploads

bp = Blueprint("scale_pages", __name__)


def _system() -> Dangan:
    return current_app.config["DANGAN"]


@bp.route("/queue", methods=["GET", "POST"])
@login_required
def queue() -> ResponseReturnValue:
    system = _system()
    system.records.require(g.actor, "record.ingest")
    if request.method == "POST":
        check_csrf()
        files = [(f.filename or "", f.stream) for f in request.files.getlist("file") if f.filename]
        data = queue_uploads(system, g.actor, files, {k: request.form.get(k) for k in EXPLICIT})
        return redirect(url_for("scale_pages.batch", batch_id=data["batch_id"]))
    return render_template("scale/queue.html", actor=g.actor, categories=system.scheme.categories)


@bp.get("/queue/<int:batch_id>")
@login_required
def batch(batch_id: int) -> ResponseReturnValue:
    data = batch_status(_system(), g.actor, batch_id)
    return render_template("scale/batch.html", actor=g.actor, b=data)


@bp.get("/system")
@login_required
def status() -> ResponseReturnValue:
    if not g.actor.can("system.status"):
        raise PermissionDenied(f"用户 {g.actor.name} 无权查看系统状态。")
    return render_template("scale/status.html", actor=g.actor, s=system_status(_system()))
