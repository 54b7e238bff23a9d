"""The OpenAPI description of /api/v1 (kept beside the routes it describes).

Each area's API module registers its own paths with `register` when it is imported, so
the document grows with the routes and a test can compare the two.
"""

from __future__ import annotations

from dangan import __version__

ERROR = {"description": "错误", "content": {"application/json": {"schema": {
    "type": "object", "properties": {"error": {"type": "string"}}}}}}

_PATHS: dict[str, dict] = {}


def op(summary: str, params: list[dict] | None = None, body: dict | None = None) -> dict:
    """One operation: bearer auth, the usual error responses, optional JSON body schema."""
    out = {"summary": summary, "parameters": params or [], "security": [{"bearer": []}],
           "responses": {"200": {"description": "成功"}, "400": ERROR, "401": ERROR,
                         "403": ERROR, "404": ERROR}}
    if body is not None:
        out["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return out


def query(name: str, kind: str = "string") -> dict:
    return {"name": name, "in": "query", "required": False, "schema": {"type": kind}}


def path_param(name: str, kind: str = "string") -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": kind}}


def register(paths: dict[str, dict]) -> None:
    """Add an area's paths (merging methods of a path another area already named)."""
    for path, methods in paths.items():
        _PATHS.setdefault(path, {}).update(methods)


register({
    "/api/v1/records": {"get": op("档案列表（按密级过滤）",
                                  [query("offset", "integer"), query("limit", "integer"),
                                   query("category"), query("location")])},
    "/api/v1/records/{archive_no}": {"get": op("档案详情", [path_param("archive_no"), query("text")])},
    "/api/v1/search": {"get": op("全文检索", [
        query("q"), query("category"), query("location"), query("year_from", "integer"),
        query("year_to", "integer"), query("offset", "integer"), query("limit", "integer"),
        query("sort"), query("security"), query("status"), query("date_from"), query("date_to"),
        query("facets", "boolean")])},
    "/api/v1/dossier/{location}": {"get": op("一户一档：某位置前缀下的全部档案", [path_param("location")])},
})


def spec() -> dict:
    return {"openapi": "3.0.3", "info": {"title": "Dangan 档案 API", "version": __version__},
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "paths": dict(sorted(_PATHS.items()))}
