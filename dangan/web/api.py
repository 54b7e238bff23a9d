"""/api/v1: JSON for programs; the same services and shapes as the CLI's --json.

Every route here is described in the OpenAPI document (dangan/web/openapi.py registers
these paths at import); a test fails when a route is missing from it.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from flask import Blueprint, Response, current_app, g, jsonify, request, url_for
from flask.typing import ResponseReturnValue

from dangan import __version__
from dangan.archive.codes import parse_maintenance_code
from dangan.archive.records import EDITABLE
from dangan.errors import InvalidInput
from dangan.ingest.corrections import edit_and_index
from dangan.search.service import filters_from_args
from dangan.web import auditview, browse, dashboard, uploads
from dangan.web.auth import login_required, requires
from dangan.web.content import ContentService
from dangan.web.openapi import spec
from dangan.web.owners import OwnerService
from dangan.web.pages import stream_original

if TYPE_CHECKING:
    from dangan.system import Dangan

bp = Blueprint("api", __name__)


def system() -> Dangan:
    return current_app.config["DANGAN"]


def _int(name: str, default: int, high: int, low: int = 0) -> int:
    raw = request.args.get(name, default)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise InvalidInput(f"参数 {name} 应为整数。") from None
    if not low <= value <= high:
        raise InvalidInput(f"参数 {name} 应在 {low} 到 {high} 之间。")
    return value


def _body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InvalidInput("请求体应为 JSON 对象。")
    return data


def _text(data: dict, key: str, required: bool = False, limit: int = 500) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise InvalidInput(f"缺少字段 {key}。")
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"字段 {key} 应为字符串。")
    if len(value) > limit:
        raise InvalidInput(f"字段 {key} 过长（最多 {limit} 个字符）。")
    return value


def _str_list(data: dict, key: str) -> list[str] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"字段 {key} 应为字符串数组。")
    return value


# -- records ----------------------------------------------------------------------------

@bp.get("/records")
@login_required
def list_records() -> ResponseReturnValue:
    status = request.args.get("status") or None
    if status not in (None, "active", "queued"):
        raise InvalidInput("参数 status 可选 active 或 queued。")
    total, rows = system().records.list(
        g.actor, offset=_int("offset", 0, 10**7), limit=_int("limit", 50, 500),
        category=request.args.get("category") or None,
        location_prefix=request.args.get("location") or None, status=status)
    return jsonify({"total": total, "records": rows})


@bp.get("/records/<path:archive_no>")
@login_required
def show_record(archive_no: str) -> ResponseReturnValue:
    data = system().records.show(g.actor, archive_no,
                                 with_text=request.args.get("text") in {"1", "true"})
    data.pop("text_pages", None)
    return jsonify(data)


@bp.patch("/records/<path:archive_no>")
@login_required
def edit_record(archive_no: str) -> ResponseReturnValue:
    """Correct or confirm metadata, as `dangan edit`: a new version with a reason."""
    data = _body()
    unknown = set(data) - set(EDITABLE) - {"reason", "date"}
    if unknown:
        raise InvalidInput(f"不能修改字段 {sorted(unknown)[0]!r}。")
    changes: dict = {}
    for key in ("title", "category", "location", "security", "maintenance_code", "responsible", "custody"):
        value = _text(data, key)
        if value is not None:
            changes[key] = value
    raw = _text(data, "date") or _text(data, "doc_date")
    if raw:
        try:
            changes["doc_date"] = dt.date.fromisoformat(raw)
        except ValueError:
            raise InvalidInput(f"日期 {raw!r} 无效：应为 YYYY-MM-DD。") from None
    # applied to the search index before answering: the caller finds the change at once
    return jsonify(edit_and_index(system(), g.actor, archive_no, changes, _text(data, "reason", True) or ""))


@bp.get("/records/<archive_no>/original")
@requires("record.get")
def original(archive_no: str) -> ResponseReturnValue:
    return stream_original(ContentService(system()).original(g.actor, archive_no))


@bp.get("/records/<archive_no>/pages/<int:n>")
@requires("record.text")
def page_image(archive_no: str, n: int) -> ResponseReturnValue:
    resp = Response(ContentService(system()).page_image(g.actor, archive_no, n), mimetype="image/png")
    resp.headers["Cache-Control"] = "no-store, private"
    return resp


@bp.post("/records")
@requires("record.ingest")
def create_record() -> ResponseReturnValue:
    """One file, ingested now (multipart: `file` plus the options of `dangan ingest` and an
    optional `maintenance_code`); answers the CONTRACT ingest object with its 档号."""
    svc = system()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise InvalidInput("缺少上传文件（表单字段 file）。")
    explicit = uploads.explicit_from(request.form)
    code = (request.form.get("maintenance_code") or "").strip() or None
    if code:
        code = str(parse_maintenance_code(code, svc.scheme.codes))
    batch_id, summary = uploads.ingest_now(svc, g.actor, [(upload.filename, upload.stream)], explicit)
    result = dict(summary.results[0]) if summary.results else {"status": "rejected", "error": "未处理。"}
    no = result.get("archive_no")
    if code and result.get("status") == "ingested" and no:
        current = svc.records.show(g.actor, no)
        if current.get("maintenance_code") != code:
            svc.records.edit(g.actor, no, {"maintenance_code": code}, "外部系统提交的维修编码")
    result["batch_id"] = batch_id
    status = {"ingested": 201, "duplicate": 200}.get(str(result.get("status")), 422)
    return jsonify(result), status


# -- upload batches and the 待分类 queue -------------------------------------------------

@bp.post("/uploads")
@requires("record.ingest")
def create_upload() -> ResponseReturnValue:
    """Several files (multipart `files`), run in the background; poll the batch."""
    files = [(f.filename or "", f.stream) for f in request.files.getlist("files") if f and f.filename]
    batch_id = uploads.upload(system(), g.actor, files, uploads.explicit_from(request.form))
    return jsonify({"batch_id": batch_id, "url": url_for("api.upload_status", batch_id=batch_id)}), 202


@bp.get("/uploads")
@requires("record.ingest")
def list_uploads() -> ResponseReturnValue:
    return jsonify({"batches": uploads.batches(system(), g.actor, limit=_int("limit", 20, 200, 1))})


@bp.get("/uploads/<int:batch_id>")
@requires("record.ingest")
def upload_status(batch_id: int) -> ResponseReturnValue:
    return jsonify(uploads.status(system(), g.actor, batch_id))


@bp.get("/review")
@login_required
def review() -> ResponseReturnValue:
    return jsonify({"records": system().records.review_queue(g.actor, limit=_int("limit", 50, 500, 1))})


# -- search, browse, dossier, dashboard ----------------------------------------------------

@bp.get("/search")
@login_required
def search() -> ResponseReturnValue:
    filters = filters_from_args(request.args.items(multi=True))
    return jsonify(system().search_service.search(g.actor, request.args.get("q", ""), **filters))


@bp.get("/dossier/<location>")
@login_required
def dossier(location: str) -> ResponseReturnValue:
    return jsonify(system().search_service.dossier(g.actor, location))


@bp.get("/browse")
@login_required
def browse_tree() -> ResponseReturnValue:
    return jsonify(browse.children(system(), g.actor, (request.args.get("at") or "").strip() or None))


@bp.get("/dashboard")
@login_required
def stats() -> ResponseReturnValue:
    data = dashboard.stats(system(), g.actor)
    for key in ("categories", "projects", "years"):
        data[key] = [{"label": label, "count": n, "key": k} for label, n, k in data[key]]
    return jsonify(data)


@bp.get("/me")
@login_required
def me() -> ResponseReturnValue:
    a = g.actor
    return jsonify({"name": a.name, "roles": sorted(a.roles), "clearance": a.clearance,
                    "department": a.department, "categories": sorted(a.categories) if a.categories else None,
                    "version": __version__})


# -- audit -------------------------------------------------------------------------------

@bp.get("/audit")
@login_required
def audit_log() -> ResponseReturnValue:
    f = auditview.Filters.from_args(request.args)
    total, rows = auditview.page(system(), g.actor, f, offset=_int("offset", 0, 10**9),
                                 limit=_int("limit", 50, 1000, 1))
    return jsonify({"total": total, "entries": rows})


@bp.post("/audit/verify")
@login_required
def audit_verify() -> ResponseReturnValue:
    return jsonify(system().verify_audit(g.actor).as_json())


# -- users (the security officer) and owners ----------------------------------------------

@bp.get("/users")
@login_required
def users() -> ResponseReturnValue:
    return jsonify({"users": system().users.list(g.actor)})


@bp.post("/users")
@login_required
def add_user() -> ResponseReturnValue:
    data = _body()
    name = _text(data, "name", True, 64) or ""
    roles = _str_list(data, "roles")
    if not roles:
        raise InvalidInput("缺少字段 roles（字符串数组）。")
    out = system().users.add(g.actor, name, roles, _text(data, "clearance") or "internal",
                             _text(data, "department", limit=200), _str_list(data, "categories"),
                             _text(data, "password", limit=200))
    return jsonify(out), 201


@bp.patch("/users/<name>")
@login_required
def update_user(name: str) -> ResponseReturnValue:
    data = _body()
    active = data.get("active")
    if active is not None and not isinstance(active, bool):
        raise InvalidInput("字段 active 应为 true 或 false。")
    cats = data.get("categories", "keep")
    if cats not in ("keep", None) and _str_list(data, "categories") is None:
        raise InvalidInput("字段 categories 应为字符串数组或 null。")
    out = system().users.update(g.actor, name, roles=_str_list(data, "roles"),
                                clearance=_text(data, "clearance"),
                                categories=cats if isinstance(cats, list) and cats else None,
                                all_categories=cats is None or cats == [],
                                department=_text(data, "department", limit=200), active=active)
    return jsonify(out)


@bp.post("/users/<name>/token")
@login_required
def user_token(name: str) -> ResponseReturnValue:
    return jsonify({"name": name, "token": system().users.new_token(g.actor, name)}), 201


@bp.post("/users/<name>/flats")
@login_required
def bind_flat(name: str) -> ResponseReturnValue:
    data = _body()
    return jsonify(OwnerService(system()).bind(g.actor, name, _text(data, "location", True, 40) or "")), 201


@bp.get("/owner/records")
@login_required
def owner_records() -> ResponseReturnValue:
    return jsonify({"records": OwnerService(system()).records(g.actor)})


@bp.get("/owner/records/<archive_no>")
@login_required
def owner_record(archive_no: str) -> ResponseReturnValue:
    return jsonify(OwnerService(system()).show(g.actor, archive_no))


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(spec())
