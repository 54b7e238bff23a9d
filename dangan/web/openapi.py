"""The OpenAPI description of /api/v1 (kept beside the routes it describes)."""

from __future__ import annotations

from dangan import __version__

_ERROR = {"description": "错误", "content": {"application/json": {"schema": {
    "type": "object", "properties": {"error": {"type": "string"}}}}}}


def _op(summary: str, params: list[dict] | None = None) -> dict:
    return {"summary": summary, "parameters": params or [], "security": [{"bearer": []}],
            "responses": {"200": {"description": "成功"}, "400": _ERROR, "401": _ERROR,
                          "403": _ERROR, "404": _ERROR}}


def _q(name: str, kind: str = "string") -> dict:
    return {"name": name, "in": "query", "required": False, "schema": {"type": kind}}


def spec() -> dict:
    paths = {
        "/api/v1/records": {"get": _op("档案列表（按密级过滤）",
                                       [_q("offset", "integer"), _q("limit", "integer"),
                                        _q("category"), _q("location")])},
        "/api/v1/records/{archive_no}": {"get": _op("档案详情", [
            {"name": "archive_no", "in": "path", "required": True, "schema": {"type": "string"}},
            _q("text")])},
        "/api/v1/search": {"get": _op("全文检索", [
            _q("q"), _q("category"), _q("location"), _q("year_from", "integer"),
            _q("year_to", "integer"), _q("offset", "integer"), _q("limit", "integer"),
            _q("sort"), _q("security"), _q("status"), _q("date_from"), _q("date_to"),
            _q("facets", "boolean")])},
        "/api/v1/dossier/{location}": {"get": _op("一户一档：某位置前缀下的全部档案", [
            {"name": "location", "in": "path", "required": True, "schema": {"type": "string"}}])},
    }
    return {"openapi": "3.0.3", "info": {"title": "Dangan 档案 API", "version": __version__},
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "paths": paths}
