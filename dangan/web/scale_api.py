"""/api/v1 for the scale-out slice: hand uploads to the workers' queue, follow a batch,
and the system status an admin watches (queue, workers, outbox, object store)."""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue

from dangan.errors import PermissionDenied
from dangan.system import Dangan
from dangan.web.auth import login_required
from dangan.web.openapi import op, path_param, register
from dangan.worker.loop import queue_status
from dangan.worker.queue import batch_status, queue_uploads

bp = Blueprint("scale_api", __name__)

EXPLICIT = ("category", "location", "title", "date", "security")


def _system() -> Dangan:
    return current_app.config["DANGAN"]


def system_status(system: Dangan) -> dict:
    return {"queue": queue_status(system), "storage": system.store.describe(),
            "database": system.db.dialect, "search": system.settings.search_backend,
            "keyring": system.keyring.source}


@bp.post("/queue")
@login_required
def queue_files() -> ResponseReturnValue:
    files = [(f.filename or "", f.stream) for f in request.files.getlist("file")]
    explicit = {k: request.form.get(k) for k in EXPLICIT}
    data = queue_uploads(_system(), g.actor, files, explicit)
    return jsonify(data), 202


@bp.get("/queue/<int:batch_id>")
@login_required
def queue_batch(batch_id: int) -> ResponseReturnValue:
    return jsonify(batch_status(_system(), g.actor, batch_id))


@bp.get("/system/status")
@login_required
def status() -> ResponseReturnValue:
    system = _system()
    if not g.actor.can("system.status"):
        raise PermissionDenied(f"用户 {g.actor.name} 无权查看系统状态。")
    return jsonify(system_status(system))


_FILE_FORM = {"type": "object", "properties": {"file": {"type": "array", "items": {"type": "string", "format": "binary"}},
                                               **{k: {"type": "string"} for k in EXPLICIT}}}
_queue_op = op("上传文件并排队入库（由 dangan worker 处理），返回批次号")
_queue_op["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": _FILE_FORM}}}
_queue_op["responses"]["202"] = {"description": "已排队"}
register({
    "/api/v1/queue": {"post": _queue_op},
    "/api/v1/queue/{batch_id}": {"get": op("排队批次的进度与结果", [path_param("batch_id", "integer")])},
    "/api/v1/system/status": {"get": op("系统状态：入库队列、工作进程、待索引、对象存储（系统管理员）")},
})
