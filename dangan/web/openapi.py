"""The OpenAPI 3.1 description of /api/v1 (kept beside the routes it describes).

Each area's API module registers its own paths with `register` when it is imported, so
the document grows with the routes and a test compares the two.
"""

from __future__ import annotations

from dangan import __version__

ERROR = {"description": "错误：一句话说明原因", "content": {"application/json": {"schema": {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "string"}, "code": {"type": "string"}}}}}}

_PATHS: dict[str, dict] = {}


def op(summary: str, params: list[dict] | None = None, body: dict | None = None,
       form: dict | None = None, ok: str = "200", tags: list[str] | None = None) -> dict:
    """One operation: bearer auth, the usual error responses, optional JSON or multipart body."""
    out: dict = {"summary": summary, "parameters": params or [], "security": [{"bearer": []}],
                 "responses": {ok: {"description": "成功"}, "400": ERROR, "401": ERROR,
                               "403": ERROR, "404": ERROR, "409": ERROR}}
    if tags:
        out["tags"] = tags
    if body is not None:
        out["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if form is not None:
        out["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": form}}}
    return out


def query(name: str, kind: str = "string", **extra: object) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": {"type": kind, **extra}}


def path_param(name: str, kind: str = "string", **extra: object) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": kind, **extra}}


def register(paths: dict[str, dict]) -> None:
    """Add an area's paths (merging methods of a path another area already named)."""
    for path, methods in paths.items():
        _PATHS.setdefault(path, {}).update(methods)


_S = {"type": "string"}
_NO = path_param("archive_no")
_INGEST_OPTIONS = {"category": _S, "location": _S, "title": _S, "date": {"type": "string", "format": "date"},
                   "security": {"type": "string", "enum": ["public", "internal", "confidential", "secret"]}}
_EDIT = {"type": "object", "required": ["reason"], "additionalProperties": False, "properties": {
    "reason": {"type": "string", "minLength": 1}, "title": _S, "category": _S, "location": _S,
    "date": {"type": "string", "format": "date"}, "security": _S, "maintenance_code": _S,
    "responsible": _S, "custody": _S}}
_AUDIT_FILTERS = [query("actor"), query("action"), query("target"), query("outcome"),
                  query("date_from", format="date"), query("date_to", format="date")]

register({
    "/api/v1/records": {
        "get": op("档案列表（按密级过滤）", [query("offset", "integer"), query("limit", "integer"),
                                    query("category"), query("location"), query("status")], tags=["records"]),
        "post": op("上传一份文件并立即入库，返回档号（可附维修编码）", form={
            "type": "object", "required": ["file"], "properties": {
                "file": {"type": "string", "format": "binary"}, "maintenance_code": _S, **_INGEST_OPTIONS}},
            ok="201", tags=["records"]),
    },
    "/api/v1/records/{archive_no}": {
        "get": op("档案详情（text=1 含全文）", [_NO, query("text")], tags=["records"]),
        "patch": op("更正或确认档案信息（须说明原因）", [_NO], body=_EDIT, tags=["records"]),
    },
    "/api/v1/records/{archive_no}/original": {"get": op("下载原件（解密，记入审计）", [_NO], tags=["records"])},
    "/api/v1/records/{archive_no}/pages/{n}": {"get": op("某页的图像（PNG，不缓存）",
                                                          [_NO, path_param("n", "integer", minimum=1)],
                                                          tags=["records"])},
    "/api/v1/uploads": {
        "get": op("我的采集批次", [query("limit", "integer")], tags=["ingest"]),
        "post": op("上传多个文件，后台入库；返回批次号以便轮询", form={
            "type": "object", "required": ["files"], "properties": {
                "files": {"type": "array", "items": {"type": "string", "format": "binary"}}, **_INGEST_OPTIONS}},
            ok="202", tags=["ingest"]),
    },
    "/api/v1/uploads/{batch_id}": {"get": op("采集批次进度与结果", [path_param("batch_id", "integer")],
                                             tags=["ingest"])},
    "/api/v1/review": {"get": op("待分类队列", [query("limit", "integer")], tags=["ingest"])},
    "/api/v1/search": {"get": op("全文检索：hits 与 total 只含读者密级可见的档案；catalogue（共 catalogue_total 件）"
                                 "为目录可查的高密级档案条目（档号、类别、位置、年度，方案允许时含题名，"
                                 "needs_loan 为 true，需借阅）", [
        query("q"), query("category"), query("location"), query("year_from", "integer"),
        query("year_to", "integer"), query("offset", "integer"), query("limit", "integer"),
        query("sort"), query("security"), query("status"), query("date_from"), query("date_to"),
        query("facets", "boolean")], tags=["search"])},
    "/api/v1/dossier/{location}": {"get": op("一户一档：某位置前缀下的全部档案", [path_param("location")],
                                             tags=["search"])},
    "/api/v1/browse": {"get": op("一户一档目录：某一级下的各项及件数", [query("at")], tags=["search"])},
    "/api/v1/dashboard": {"get": op("首页统计", tags=["search"])},
    "/api/v1/me": {"get": op("当前用户", tags=["users"])},
    "/api/v1/audit": {"get": op("审计日志（新的在前）", [*_AUDIT_FILTERS, query("offset", "integer"),
                                                   query("limit", "integer")], tags=["audit"])},
    "/api/v1/audit/verify": {"post": op("校验审计日志链，返回链头哈希", tags=["audit"])},
    "/api/v1/users": {
        "get": op("用户列表", tags=["users"]),
        "post": op("添加用户（安全保密员）", body={
            "type": "object", "required": ["name", "roles"], "properties": {
                "name": _S, "roles": {"type": "array", "items": _S}, "clearance": _S, "department": _S,
                "categories": {"type": "array", "items": _S}, "password": _S}}, ok="201", tags=["users"]),
    },
    "/api/v1/users/{name}": {"patch": op("修改角色、密级、类别权限、状态（安全保密员）", [path_param("name")], body={
        "type": "object", "properties": {
            "roles": {"type": "array", "items": _S}, "clearance": _S, "department": _S,
            "categories": {"type": ["array", "null"], "items": _S}, "active": {"type": "boolean"}}},
        tags=["users"])},
    "/api/v1/users/{name}/token": {"post": op("签发 API 令牌（本人或安全保密员）", [path_param("name")], ok="201",
                                              tags=["users"])},
    "/api/v1/users/{name}/flats": {"post": op("把业主账户绑定到房屋（安全保密员）", [path_param("name")], body={
        "type": "object", "required": ["location"], "properties": {"location": _S}}, ok="201", tags=["owner"])},
    "/api/v1/owner/records": {"get": op("业主：本人房屋的可查档案", tags=["owner"])},
    "/api/v1/owner/records/{archive_no}": {"get": op("业主：一件可查档案", [_NO], tags=["owner"])},
})


def spec() -> dict:
    return {"openapi": "3.1.0",
            "info": {"title": "Dangan 档案 API", "version": __version__,
                     "description": "物业服务档案管理系统的 JSON API。认证：Authorization: Bearer <令牌>。"
                                    "错误：{\"error\": \"一句话\", \"code\": \"not_found\"}。"},
            "servers": [{"url": "/"}],
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "paths": dict(sorted(_PATHS.items()))}
