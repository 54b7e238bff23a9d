"""/api/v1 for the 待分类 queue and corrections (same services as `dangan review` / `dangan edit`)."""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue

from dangan.errors import InvalidInput
from dangan.ingest.corrections import edit_and_index
from dangan.web.auth import login_required
from dangan.web.openapi import op, path_param, query, register
from dangan.web.review_pages import changes_from

bp = Blueprint("review_api", __name__)

register({
    "/api/v1/review": {"get": op("待分类队列（含系统建议与原因）", [query("limit", "integer")])},
    "/api/v1/records/{archive_no}/edit": {"post": op(
        "更正或确认档案信息（确认待分类档案时分配档号）；返回时检索已更新，或说明检索将稍后补上",
        [path_param("archive_no")],
        {"type": "object", "required": ["reason"], "properties": {
            "category": {"type": "string"}, "location": {"type": "string"}, "title": {"type": "string"},
            "date": {"type": "string", "format": "date"}, "security": {"type": "string"},
            "reason": {"type": "string"}}})},
})


@bp.get("/review")
@login_required
def review_queue() -> ResponseReturnValue:
    raw = request.args.get("limit", "50")
    if not raw.isdigit() or not 1 <= int(raw) <= 500:
        raise InvalidInput("参数 limit 应为 1 到 500 之间的整数。")
    system = current_app.config["DANGAN"]
    return jsonify(system.records.review_queue(g.actor, limit=int(raw)))


@bp.post("/records/<path:archive_no>/edit")
@login_required
def edit_record(archive_no: str) -> ResponseReturnValue:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput("请求体应为 JSON 对象，例如 {\"location\": \"A-03\", \"reason\": \"…\"}。")
    unknown = set(body) - {"category", "location", "title", "date", "security", "reason"}
    if unknown:
        raise InvalidInput(f"不能修改字段 {sorted(unknown)[0]!r}。")
    system = current_app.config["DANGAN"]
    data = edit_and_index(system, g.actor, archive_no, changes_from(body), str(body.get("reason") or ""))
    return jsonify(data)
