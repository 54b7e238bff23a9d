"""/api/v1 for retention, legal holds and destruction: the same service and shapes as
`dangan retention|hold|destroy … --json`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue

from dangan.errors import InvalidInput
from dangan.retention.register import export
from dangan.retention.service import RetentionService
from dangan.web.auth import login_required
from dangan.web.openapi import op, path_param, query, register

bp = Blueprint("retention_api", __name__)


def service() -> RetentionService:
    return current_app.config["DANGAN"].retention


def body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InvalidInput("请求体应为 JSON 对象。")
    return data


def text_field(data: dict[str, Any], name: str, required: bool = True) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidInput(f"字段 {name} 应为非空字符串。")
    return value


def list_field(data: dict[str, Any], name: str, required: bool = True) -> list[str]:
    value = data.get(name, [] if not required else None)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or (required and not value):
        raise InvalidInput(f"字段 {name} 应为非空的字符串数组（档号）。")
    return value


def date_arg(name: str) -> dt.date | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"参数 {name} 应为 YYYY-MM-DD 日期。") from None


def int_arg(name: str, default: int | None, high: int) -> int | None:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"参数 {name} 应为整数。") from None
    if not 0 <= value <= high:
        raise InvalidInput(f"参数 {name} 应在 0 到 {high} 之间。")
    return value


@bp.get("/retention/due")
@login_required
def due() -> ResponseReturnValue:
    return jsonify(service().due(g.actor, date_arg("as_of"), category=request.args.get("category") or None,
                                 location=request.args.get("location") or None, year=int_arg("year", None, 9999),
                                 offset=int_arg("offset", 0, 10**7) or 0, limit=int_arg("limit", 500, 100_000)))


@bp.get("/retention/report")
@login_required
def report() -> ResponseReturnValue:
    return jsonify(service().report(g.actor, request.args.get("month", "")))


@bp.get("/retention/schedule")
@login_required
def schedule() -> ResponseReturnValue:
    return jsonify(service().schedule())


@bp.post("/retention/appraise")
@login_required
def appraise() -> ResponseReturnValue:
    data = body()
    years = data.get("years")
    if years is not None and (not isinstance(years, int) or isinstance(years, bool)):
        raise InvalidInput("字段 years 应为整数。")
    return jsonify(service().appraise(g.actor, list_field(data, "archive_nos"), text_field(data, "decision") or "",
                                      text_field(data, "reason") or "", years))


@bp.get("/holds")
@login_required
def holds() -> ResponseReturnValue:
    return jsonify(service().list_holds(g.actor))


@bp.post("/holds")
@login_required
def create_hold() -> ResponseReturnValue:
    data = body()
    return jsonify(service().create_hold(g.actor, text_field(data, "name") or "", text_field(data, "reason") or "",
                                         text_field(data, "case_ref", required=False))), 201


@bp.get("/holds/<name>")
@login_required
def show_hold(name: str) -> ResponseReturnValue:
    return jsonify(service().show_hold(g.actor, name))


@bp.post("/holds/<name>/records")
@login_required
def add_to_hold(name: str) -> ResponseReturnValue:
    data = body()
    return jsonify(service().add_to_hold(g.actor, name, list_field(data, "archive_nos", required=False),
                                         text_field(data, "location", required=False),
                                         text_field(data, "query", required=False)))


@bp.post("/holds/<name>/release")
@login_required
def release_hold(name: str) -> ResponseReturnValue:
    data = request.get_json(silent=True) or {}
    return jsonify(service().release_hold(g.actor, name, text_field(data, "reason", required=False)))


@bp.get("/destruction/batches")
@login_required
def batches() -> ResponseReturnValue:
    return jsonify(service().list_batches(g.actor, request.args.get("state") or None))


@bp.post("/destruction/batches")
@login_required
def create_batch() -> ResponseReturnValue:
    data = body()
    return jsonify(service().create_batch(g.actor, list_field(data, "archive_nos"),
                                          text_field(data, "reason") or "")), 201


@bp.get("/destruction/batches/<batch_id>")
@login_required
def show_batch(batch_id: str) -> ResponseReturnValue:
    return jsonify(service().show_batch(g.actor, batch_id))


@bp.post("/destruction/batches/<batch_id>/approve")
@login_required
def approve(batch_id: str) -> ResponseReturnValue:
    return jsonify(service().approve(g.actor, batch_id))


@bp.post("/destruction/batches/<batch_id>/execute")
@login_required
def execute(batch_id: str) -> ResponseReturnValue:
    data = body()
    paper = list_field(data, "confirm_paper", required=False)
    return jsonify(service().execute(g.actor, batch_id, text_field(data, "supervisor", required=False),
                                     text_field(data, "place", required=False), paper,
                                     data.get("all_paper_shredded") is True))


@bp.get("/destruction/batches/<batch_id>/certificate")
@login_required
def certificate(batch_id: str) -> ResponseReturnValue:
    pdf = service().certificate(g.actor, batch_id)
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="certificate-{batch_id}.pdf"'})


@bp.get("/destruction/batches/<batch_id>/verify")
@login_required
def verify(batch_id: str) -> ResponseReturnValue:
    return jsonify(service().verify(g.actor, batch_id))


@bp.get("/destruction/register")
@login_required
def destruction_register() -> ResponseReturnValue:
    rows = service().register(g.actor, request.args.get("batch") or None)
    fmt = request.args.get("format")
    if not fmt or fmt == "json":
        return jsonify(rows)
    data = export(rows, fmt)
    mime = "text/csv" if fmt == "csv" else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(data, mimetype=mime, headers={
        "Content-Disposition": f'attachment; filename="destruction-register.{fmt}"'})


_ARCHIVE_NOS = {"type": "array", "items": {"type": "string"}}
register({
    "/api/v1/retention/due": {"get": op("到期档案（保管期限已满）及按类别、项目、年度的统计", [
        query("as_of"), query("category"), query("location"), query("year", "integer"),
        query("offset", "integer"), query("limit", "integer")])},
    "/api/v1/retention/report": {"get": op("月度到期报告", [query("month")])},
    "/api/v1/retention/schedule": {"get": op("保管期限表")},
    "/api/v1/retention/appraise": {"post": op("鉴定（销毁 / 延长 / 永久），可批量", body={
        "type": "object", "required": ["archive_nos", "decision", "reason"], "properties": {
            "archive_nos": _ARCHIVE_NOS, "decision": {"type": "string", "enum": ["destroy", "extend", "permanent"]},
            "years": {"type": "integer"}, "reason": {"type": "string"}}})},
    "/api/v1/holds": {
        "get": op("全部冻结"),
        "post": op("新建冻结", body={"type": "object", "required": ["name", "reason"], "properties": {
            "name": {"type": "string"}, "reason": {"type": "string"}, "case_ref": {"type": "string"}}})},
    "/api/v1/holds/{name}": {"get": op("一个冻结及其档案", [path_param("name")])},
    "/api/v1/holds/{name}/records": {"post": op("加入冻结：档号、位置前缀或检索式", [path_param("name")], body={
        "type": "object", "properties": {"archive_nos": _ARCHIVE_NOS, "location": {"type": "string"},
                                         "query": {"type": "string"}}})},
    "/api/v1/holds/{name}/release": {"post": op("解除冻结", [path_param("name")])},
    "/api/v1/destruction/batches": {
        "get": op("销毁清册列表", [query("state")]),
        "post": op("编制销毁清册", body={"type": "object", "required": ["archive_nos", "reason"], "properties": {
            "archive_nos": _ARCHIVE_NOS, "reason": {"type": "string"}}})},
    "/api/v1/destruction/batches/{batch_id}": {"get": op("销毁清册详情", [path_param("batch_id")])},
    "/api/v1/destruction/batches/{batch_id}/approve": {"post": op("审批销毁清册（编制人以外的负责人）",
                                                                  [path_param("batch_id")])},
    "/api/v1/destruction/batches/{batch_id}/execute": {"post": op(
        "执行销毁（监销人、地点；纸质原件逐件确认）", [path_param("batch_id")], body={
            "type": "object", "properties": {"supervisor": {"type": "string"}, "place": {"type": "string"},
                                             "confirm_paper": _ARCHIVE_NOS,
                                             "all_paper_shredded": {"type": "boolean"}}})},
    "/api/v1/destruction/batches/{batch_id}/certificate": {"get": op("销毁证明书（PDF）",
                                                                     [path_param("batch_id")])},
    "/api/v1/destruction/batches/{batch_id}/verify": {"get": op("核验销毁（密钥、对象、索引、审计日志）",
                                                                [path_param("batch_id")])},
    "/api/v1/destruction/register": {"get": op("销毁登记簿（format=json|csv|xlsx）",
                                               [query("batch"), query("format")])},
})
