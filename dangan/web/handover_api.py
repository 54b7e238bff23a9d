"""/api/v1 for 四性检测 (verify) and 移交/接管 (handover): the same services as the CLI.

Routes that change something (POST) take a bearer token: a browser session alone cannot
call them, so no form on another site can.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from flask import Blueprint, Response, current_app, g, jsonify, request, stream_with_context
from flask.typing import ResponseReturnValue

from dangan.errors import InvalidInput, PermissionDenied
from dangan.ingest.checks import catalogue
from dangan.integrity.service import report_pdf
from dangan.system import Dangan
from dangan.web.auth import login_required
from dangan.web.openapi import op, path_param, query, register

bp = Blueprint("handover_api", __name__)


def _system() -> Dangan:
    return current_app.config["DANGAN"]


def _bearer_only() -> None:
    if not request.headers.get("Authorization", "").startswith("Bearer "):
        raise PermissionDenied("写操作需要 Bearer 令牌（浏览器会话请使用页面上的表单）。")


def _body() -> dict:
    data = request.get_json(silent=True)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidInput("请求体应为 JSON 对象。")
    return data


def _pdf(blob: bytes, name: str) -> Response:
    return Response(blob, mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# -- 四性检测 -----------------------------------------------------------------------------

@bp.get("/checks")
@login_required
def checks() -> ResponseReturnValue:
    return jsonify({"checks": catalogue()})


@bp.post("/verify")
@login_required
def run_verify() -> ResponseReturnValue:
    _bearer_only()
    body = _body()
    numbers = body.get("archive_nos")
    mode = body.get("mode") or ("selected" if numbers else "full")
    if numbers is not None and (not isinstance(numbers, list) or not all(isinstance(n, str) for n in numbers)):
        raise InvalidInput("archive_nos 应为档号的数组。")
    due = body.get("due_days", 365)
    if not isinstance(due, int) or isinstance(due, bool):
        raise InvalidInput("due_days 应为整数。")
    report = _system().verify.run(g.actor, numbers or None, mode=mode, deep=bool(body.get("deep")), due_days=due)
    return jsonify(report)


@bp.get("/verify/latest")
@login_required
def latest_verify() -> ResponseReturnValue:
    run = request.args.get("run")
    if run is not None and not run.isdigit():
        raise InvalidInput("参数 run 应为检测编号（整数）。")
    report = _system().verify.latest(g.actor, int(run) if run else None)
    if request.args.get("format") == "pdf":
        return _pdf(report_pdf(report), f"verify-{report.get('run_id')}.pdf")
    return jsonify(report)


@bp.get("/verify/runs")
@login_required
def verify_runs() -> ResponseReturnValue:
    return jsonify({"runs": _system().verify.runs(g.actor)})


# -- 移交 / 接管 ---------------------------------------------------------------------------

@bp.post("/handover/export")
@login_required
def handover_export() -> ResponseReturnValue:
    _bearer_only()
    body = _body()
    facts, chunks = _system().handover.export_zip(
        g.actor, location=body.get("location") or None, query=body.get("query") or None,
        sender=body.get("sender") or None, receiver=body.get("receiver") or None)
    name = f"handover-{facts['package_id'][:8]}.zip"
    return Response(stream_with_context(chunks), mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "X-Dangan-Package": facts["package_id"], "X-Dangan-Items": str(facts["items"])})


@bp.post("/handover/import")
@login_required
def handover_import() -> ResponseReturnValue:
    """A zip upload (multipart field `package`), or `{"incoming": NAME}` from the receiving folder."""
    _bearer_only()
    svc = _system().handover
    dry_run = request.args.get("dry_run") in ("1", "true")
    with tempfile.TemporaryDirectory(prefix="upload-", dir=svc._scratch()) as tmp:
        checklist = None
        if "checklist" in request.files:
            checklist = Path(tmp) / "checklist.toml"
            request.files["checklist"].save(checklist)
        if "package" in request.files:
            upload = request.files["package"]
            source = Path(tmp) / "package.zip"
            upload.save(source)
            label = f"上传：{upload.filename or 'package.zip'}"
        else:
            name = _body().get("incoming") or request.form.get("incoming")
            if not name:
                raise InvalidInput("请上传移交包（multipart 字段 package，zip），或给出接收目录中的包名 incoming。")
            source = svc.resolve_incoming(str(name))
            label = f"接收目录：{name}"
        report = svc.takeover(g.actor, source, checklist=checklist, dry_run=dry_run, label=label)
    return jsonify(report), (200 if report["ok"] else 422)


@bp.get("/handover/packages")
@login_required
def handover_packages() -> ResponseReturnValue:
    return jsonify({"packages": _system().handover.packages(g.actor)})


@bp.get("/handover/packages/<package_id>")
@login_required
def handover_package(package_id: str) -> ResponseReturnValue:
    data = _system().handover.package(g.actor, package_id)
    if request.args.get("format") == "pdf":
        if data["direction"] != "import":
            raise InvalidInput("移交包的清单在包内（data/report/transfer-list.pdf）；这里只提供接管验收报告。")
        return _pdf(_system().handover.report_pdf(data["report"]), f"takeover-{package_id[:8]}.pdf")
    return jsonify(data)


_IMPORT = op("接管：上传 zip 移交包或指定接收目录中的包；先检测，全部无误才接收；未通过返回 422",
             [query("dry_run", "boolean")])
_IMPORT["responses"]["422"] = {"description": "移交包未通过检测，未接收任何档案（报告在响应体中）"}

@bp.get("/handover/records/<path:archive_no>")
@login_required
def record_handovers(archive_no: str) -> ResponseReturnValue:
    return jsonify(_system().handover.record_history(g.actor, archive_no))


register({
    "/api/v1/checks": {"get": op("四性检测项目目录（编号、名称、性质、环节）")},
    "/api/v1/verify": {"post": op("运行四性检测（指定档号、完整或增量）", body={
        "type": "object", "properties": {
            "archive_nos": {"type": "array", "items": {"type": "string"}},
            "mode": {"type": "string", "enum": ["full", "incremental", "selected"]},
            "due_days": {"type": "integer"}, "deep": {"type": "boolean"}}})},
    "/api/v1/verify/latest": {"get": op("最近一次（或指定）四性检测报告；format=pdf 为 PDF",
                                        [query("run", "integer"), query("format")])},
    "/api/v1/verify/runs": {"get": op("四性检测记录")},
    "/api/v1/handover/export": {"post": op("导出移交包（zip 流，BagIt）", body={
        "type": "object", "properties": {"location": {"type": "string"}, "query": {"type": "string"},
                                         "sender": {"type": "string"}, "receiver": {"type": "string"}}})},
    "/api/v1/handover/import": {"post": {
        **_IMPORT,
        "requestBody": {"required": True, "content": {
            "multipart/form-data": {"schema": {"type": "object", "properties": {
                "package": {"type": "string", "format": "binary"},
                "checklist": {"type": "string", "format": "binary"}}}},
            "application/json": {"schema": {"type": "object", "properties": {
                "incoming": {"type": "string"}}}}}}}},
    "/api/v1/handover/packages": {"get": op("移交与接管记录")},
    "/api/v1/handover/records/{archive_no}": {"get": op("一件档案的移交与接管经历", [path_param("archive_no")])},
    "/api/v1/handover/packages/{package_id}": {"get": op("一次移交或接管；format=pdf 为接管验收报告",
                                                         [path_param("package_id"), query("format")])},
})
