"""/api/v1: JSON for programs; the same services and shapes as the CLI's --json."""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request

from dangan.web.auth import login_required

bp = Blueprint("api", __name__)


def system():  # type: ignore[no-untyped-def]
    return current_app.config["DANGAN"]


def _int(name: str, default: int, high: int) -> int:
    from dangan.errors import InvalidInput

    raw = request.args.get(name, default)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise InvalidInput(f"参数 {name} 应为整数。") from None
    if not 0 <= value <= high:
        raise InvalidInput(f"参数 {name} 应在 0 到 {high} 之间。")
    return value


@bp.get("/records")
@login_required
def list_records():  # type: ignore[no-untyped-def]
    total, rows = system().records.list(
        g.actor, offset=_int("offset", 0, 10**7), limit=_int("limit", 50, 500),
        category=request.args.get("category") or None,
        location_prefix=request.args.get("location") or None)
    return jsonify({"total": total, "records": rows})


@bp.get("/records/<path:archive_no>")
@login_required
def show_record(archive_no: str):  # type: ignore[no-untyped-def]
    data = system().records.show(g.actor, archive_no,
                                 with_text=request.args.get("text") in {"1", "true"})
    data.pop("text_pages", None)
    return jsonify(data)


@bp.get("/search")
@login_required
def search():  # type: ignore[no-untyped-def]
    from dangan.search.service import filters_from_args

    filters = filters_from_args(request.args.items(multi=True))
    return jsonify(system().search_service.search(g.actor, request.args.get("q", ""), **filters))


@bp.get("/dossier/<location>")
@login_required
def dossier(location: str):  # type: ignore[no-untyped-def]
    return jsonify(system().search_service.dossier(g.actor, location))


@bp.get("/openapi.json")
def openapi():  # type: ignore[no-untyped-def]
    from dangan.web.openapi import spec

    return jsonify(spec())
