"""/api/v1 for the scale-out slice: the system status an admin watches (queue, workers,
outbox, object store, the workers' scheduled checks). Uploads and their batches are /api/v1/uploads (dangan.web.api)."""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify
from flask.typing import ResponseReturnValue

from dangan.errors import PermissionDenied
from dangan.system import Dangan
from dangan.web.auth import login_required
from dangan.web.openapi import op, register
from dangan.worker.loop import queue_status
from dangan.worker.schedule import schedule_status

bp = Blueprint("scale_api", __name__)


def _system() -> Dangan:
    return current_app.config["DANGAN"]


def system_status(system: Dangan) -> dict:
    return {"queue": queue_status(system), "storage": system.store.describe(),
            "database": system.db.dialect, "search": system.settings.search_backend,
            "keyring": system.keyring.source, "schedules": schedule_status(system)}


@bp.get("/system/status")
@login_required
def status() -> ResponseReturnValue:
    system = _system()
    if not g.actor.can("system.status"):
        raise PermissionDenied(f"用户 {g.actor.name} 无权查看系统状态。")
    return jsonify(system_status(system))


register({
    "/api/v1/system/status": {"get": op("系统状态：入库队列、工作进程、待索引、对象存储、定时任务（系统管理员）")},
})
