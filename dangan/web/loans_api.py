"""/api/v1/loans…: the loans service for programs (same rules and shapes as `dangan borrow`).

State changes are POSTs with a JSON body; a JSON content type is required, so a browser
form on another site cannot forge one with the user's session cookie.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import TYPE_CHECKING

from flask import Blueprint, current_app, g, jsonify, request, send_file
from flask.typing import ResponseReturnValue

from dangan.errors import InvalidInput
from dangan.loans.export import export_ledger
from dangan.web.auth import login_required
from dangan.web.openapi import op, path_param, query, register

if TYPE_CHECKING:
    from dangan.system import Dangan

bp = Blueprint("loans_api", __name__)


def system() -> Dangan:
    return current_app.config["DANGAN"]


def body() -> dict:
    if not request.is_json:
        raise InvalidInput("请求体应为 JSON（Content-Type: application/json）。")
    data = request.get_json(silent=True)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidInput("请求体应为 JSON 对象。")
    return data


def date_arg(value: object, name: str) -> dt.date | None:
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(f"参数 {name} 的日期 {value!r} 无效：应为 YYYY-MM-DD。") from None


def int_arg(value: object, name: str, default: int | None = None) -> int | None:
    if value in (None, ""):
        return default
    if isinstance(value, bool) or not isinstance(value, int | float | str):  # JSON numbers or text only
        raise InvalidInput(f"参数 {name} 应为整数。")
    if isinstance(value, float) and not value.is_integer():  # 5.5, Infinity, NaN
        raise InvalidInput(f"参数 {name} 应为整数。")
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidInput(f"参数 {name} 应为整数。") from None


@bp.get("/loans")
@login_required
def list_loans() -> ResponseReturnValue:
    a = request.args
    rows = system().loans.list(
        g.actor, borrower=a.get("borrower") or None, overdue=a.get("overdue") in {"1", "true"},
        as_of=date_arg(a.get("as_of"), "as_of"), state=a.get("state") or None, kind=a.get("kind") or None,
        department=a.get("department") or None, record=a.get("record") or None,
        offset=int_arg(a.get("offset"), "offset", 0) or 0, limit=int_arg(a.get("limit"), "limit", 100) or 100)
    return jsonify({"loans": rows})


@bp.post("/loans")
@login_required
def request_loan() -> ResponseReturnValue:
    data = body()
    records = data.get("records")
    if isinstance(records, str):
        records = [records]
    if not isinstance(records, list) or not all(isinstance(r, str) for r in records):
        raise InvalidInput("records 应为档号列表。")
    loan = system().loans.request(g.actor, records, str(data.get("purpose") or ""), str(data.get("kind") or "view"),
                                  int_arg(data.get("days"), "days"), date_arg(data.get("until"), "until"))
    return jsonify(loan), 201


@bp.get("/loans/queue")
@login_required
def approval_queue() -> ResponseReturnValue:
    return jsonify({"loans": system().loans.queue(g.actor)})


@bp.get("/loans/<loan_id>")
@login_required
def show_loan(loan_id: str) -> ResponseReturnValue:
    return jsonify(system().loans.show(g.actor, loan_id))


@bp.post("/loans/<loan_id>/approve")
@login_required
def approve(loan_id: str) -> ResponseReturnValue:
    return jsonify(system().loans.approve(g.actor, loan_id, body().get("note")))


@bp.post("/loans/<loan_id>/reject")
@login_required
def reject(loan_id: str) -> ResponseReturnValue:
    return jsonify(system().loans.reject(g.actor, loan_id, str(body().get("reason") or "")))


@bp.post("/loans/<loan_id>/checkout")
@login_required
def checkout(loan_id: str) -> ResponseReturnValue:
    body()
    return jsonify(system().loans.checkout(g.actor, loan_id))


@bp.post("/loans/<loan_id>/renew")
@login_required
def renew(loan_id: str) -> ResponseReturnValue:
    days = int_arg(body().get("days"), "days")
    if days is None:
        raise InvalidInput("请给出续借天数 days。")
    return jsonify(system().loans.renew(g.actor, loan_id, days))


@bp.post("/loans/<loan_id>/return")
@login_required
def return_loan(loan_id: str) -> ResponseReturnValue:
    data = body()
    return jsonify(system().loans.return_(g.actor, loan_id, str(data.get("condition") or "intact"),
                                          data.get("note")))


@bp.post("/loans/<loan_id>/cancel")
@login_required
def cancel(loan_id: str) -> ResponseReturnValue:
    return jsonify(system().loans.cancel(g.actor, loan_id, body().get("reason")))


@bp.get("/loans/<loan_id>/copy/<path:archive_no>")
@login_required
def copy(loan_id: str, archive_no: str) -> ResponseReturnValue:
    data, name = system().loans.copy(g.actor, loan_id, archive_no)
    return send_file(io.BytesIO(data), mimetype="application/pdf", as_attachment=True, download_name=name)


@bp.get("/loans/ledger")
@login_required
def ledger() -> ResponseReturnValue:
    a = request.args
    rows = system().loans.ledger(g.actor, date_arg(a.get("since"), "since"), date_arg(a.get("until"), "until"))
    fmt = a.get("format", "json")
    if fmt == "json":
        return jsonify({"events": rows})
    if fmt not in ("csv", "xlsx"):
        raise InvalidInput("format 可选 json、csv、xlsx。")
    with TemporaryDirectory() as tmp:
        path = export_ledger(rows, Path(tmp) / f"借阅登记簿.{fmt}")
        payload = path.read_bytes()
    mime = "text/csv" if fmt == "csv" else \
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return send_file(io.BytesIO(payload), mimetype=mime, as_attachment=True, download_name=f"借阅登记簿.{fmt}")


@bp.get("/loans/overdue-report")
@login_required
def overdue_report() -> ResponseReturnValue:
    return jsonify({"departments": system().loans.overdue_report(
        g.actor, date_arg(request.args.get("as_of"), "as_of"))})


@bp.get("/loans/incidents")
@login_required
def incidents() -> ResponseReturnValue:
    return jsonify({"incidents": system().loans.incidents(g.actor, request.args.get("all") not in {"1", "true"})})


@bp.post("/loans/incidents/<int:incident_id>/close")
@login_required
def close_incident(incident_id: int) -> ResponseReturnValue:
    return jsonify(system().loans.close_incident(g.actor, incident_id, str(body().get("resolution") or "")))


@bp.get("/loans/scan/<path:code>")
@login_required
def scan(code: str) -> ResponseReturnValue:
    return jsonify(system().loans.find_by_code(g.actor, code))


_LOAN = path_param("loan_id")
_REQUEST = {"type": "object", "required": ["records", "purpose"], "properties": {
    "records": {"type": "array", "items": {"type": "string"}}, "purpose": {"type": "string"},
    "kind": {"type": "string", "enum": ["view", "copy", "physical"]}, "days": {"type": "integer"},
    "until": {"type": "string", "format": "date"}}}


def _text(name: str) -> dict:
    return {"type": "object", "properties": {name: {"type": "string"}}}


register({
    "/api/v1/loans": {
        "get": op("借阅列表（无登记簿权限时只含本人）", [query("borrower"), query("overdue", "boolean"),
                                            query("as_of"), query("state"), query("kind"), query("department"),
                                            query("record"), query("offset", "integer"),
                                            query("limit", "integer")]),
        "post": op("申请借阅", body=_REQUEST)},
    "/api/v1/loans/queue": {"get": op("待审批：当前用户可以审批的申请")},
    "/api/v1/loans/{loan_id}": {"get": op("借阅单详情与事件", [_LOAN])},
    "/api/v1/loans/{loan_id}/approve": {"post": op("批准", [_LOAN], _text("note"))},
    "/api/v1/loans/{loan_id}/reject": {"post": op("驳回（须说明原因）", [_LOAN], _text("reason"))},
    "/api/v1/loans/{loan_id}/checkout": {"post": op("借出实体原件", [_LOAN], {"type": "object"})},
    "/api/v1/loans/{loan_id}/renew": {"post": op("续借", [_LOAN], {"type": "object", "required": ["days"],
                                                                 "properties": {"days": {"type": "integer"}}})},
    "/api/v1/loans/{loan_id}/return": {"post": op("归还", [_LOAN], {"type": "object", "properties": {
        "condition": {"type": "string", "enum": ["intact", "damaged", "lost"]}, "note": {"type": "string"}}})},
    "/api/v1/loans/{loan_id}/cancel": {"post": op("撤销", [_LOAN], _text("reason"))},
    "/api/v1/loans/{loan_id}/copy/{archive_no}": {"get": op("带水印的复制件（PDF）", [_LOAN, path_param("archive_no")])},
    "/api/v1/loans/ledger": {"get": op("借阅登记簿（json、csv 或 xlsx）", [query("since"), query("until"),
                                                                       query("format")])},
    "/api/v1/loans/overdue-report": {"get": op("逾期统计（按部门）", [query("as_of")])},
    "/api/v1/loans/incidents": {"get": op("损坏、遗失登记", [query("all", "boolean")])},
    "/api/v1/loans/incidents/{incident_id}/close": {"post": op("处理完毕", [path_param("incident_id", "integer")],
                                                               _text("resolution"))},
    "/api/v1/loans/scan/{code}": {"get": op("借还台扫码：借阅单号或档号", [path_param("code")])},
})
