"""Pages for the scale-out slice: 系统状态 for the admin (ingest queue, workers, backends),
linked from 系统管理. Uploading is the 采集 page (`/upload`); `/queue…` redirects there."""

from __future__ import annotations

from flask import Blueprint, current_app, g, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from dangan.errors import PermissionDenied
from dangan.system import Dangan
from dangan.web.auth import login_required
from dangan.web.scale_api import system_status

bp = Blueprint("scale_pages", __name__)


def _system() -> Dangan:
    return current_app.config["DANGAN"]


# The scale slice's own upload page and batch page were the 采集 pages built twice; the
# old addresses lead to the ones kept (uploads go through the same queue_uploads).
@bp.get("/queue")
def queue() -> ResponseReturnValue:
    return redirect(url_for("ingest_pages.upload"), 301)


@bp.get("/queue/<int:batch_id>")
def batch(batch_id: int) -> ResponseReturnValue:
    return redirect(url_for("ingest_pages.batch", batch_id=batch_id), 301)


@bp.get("/system")
@login_required
def status() -> ResponseReturnValue:
    if not g.actor.can("system.status"):
        raise PermissionDenied(f"用户 {g.actor.name} 无权查看系统状态。")
    return render_template("scale/status.html", actor=g.actor, s=system_status(_system()))
