"""The Flask app: HTML pages for people and /api/v1 JSON for programs, both calling the
same services as the CLI.

Errors: one shape everywhere, made here and only here. The API answers
`{"error": "一句话", "code": "not_found"}` — CONTRACT.md's `{"error": sentence}` with a
machine-readable `code` beside it (the issue's `{"error": {"code", "message"}}` would have
broken every client that reads `error` as the sentence). Pages show error.html, which
names the status and the sentence and nothing else (no traceback, no input echoed).
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask, Response, jsonify, request, url_for
from flask.json.provider import DefaultJSONProvider
from flask.sessions import SecureCookieSessionInterface
from flask.typing import ResponseReturnValue
from markupsafe import Markup, escape
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import BuildError

from dangan.archive.permissions import LEVEL_NAMES, RIGHT_NAMES, ROLES
from dangan.archive.pii import mask_text
from dangan.errors import DanganError, InvalidInput
from dangan.search.status import LABELS as STATUS_LABELS
from dangan.web import (
    admin_pages,
    api,
    audit_pages,
    handover_api,
    handover_pages,
    ingest_pages,
    owner_pages,
    pages,
    panels,  # noqa: F401  (首页 panels register themselves)
    retention_api,
    retention_pages,
    scale_api,
    scale_pages,
)
from dangan.web.auth import csrf_token, current_actor, is_api
from dangan.web.custody_api import bp as custody_api_bp
from dangan.web.custody_pages import bp as custody_pages_bp
from dangan.web.loans_api import bp as loans_api_bp
from dangan.web.loans_pages import bp as loans_pages_bp

if TYPE_CHECKING:
    from dangan.system import Dangan

# Every blueprint of the web app, with its URL prefix. Another area adds one line here.
BLUEPRINTS = [
    (pages.bp, None),
    (ingest_pages.bp, None),
    (audit_pages.bp, None),
    (admin_pages.bp, None),
    (owner_pages.bp, None),
    (loans_pages_bp, None),
    (custody_pages_bp, None),
    (retention_pages.bp, None),
    (scale_pages.bp, None),
    (handover_pages.bp, None),
    (api.bp, "/api/v1"),
    (loans_api_bp, "/api/v1"),
    (custody_api_bp, "/api/v1"),
    (retention_api.bp, "/api/v1"),
    (scale_api.bp, "/api/v1"),
    (handover_api.bp, "/api/v1"),
]

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
       "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")

CODES = {400: "invalid_input", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
         405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
         429: "too_many_requests", 500: "server_error"}


class _SessionInterface(SecureCookieSessionInterface):
    """Session cookies are HttpOnly and SameSite=Lax always, and Secure whenever the
    request came over TLS (directly or, with DANGAN_WEB_PROXY set, via the proxy)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or (request.is_secure if request else False)


def _secret_key(home: Path) -> bytes:
    """The session key every web process of this archive shares: `DANGAN_WEB_SECRET` (web
    servers on several hosts), else a file beside the data (0600) made once. gunicorn starts
    its processes together, so the file is created exclusively and then read by all; two
    processes each writing their own key would log users out at random."""
    shared = os.environ.get("DANGAN_WEB_SECRET", "")
    if shared:
        if len(shared) < 32:
            raise InvalidInput("DANGAN_WEB_SECRET 太短：至少 32 个字符（可用 `openssl rand -hex 32` 生成）。")
        return hashlib.sha256(b"dangan web session " + shared.encode()).digest()
    path = home / "web-secret.key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_bytes(32))
    for _ in range(50):  # another process may still be writing the file it just created
        key = path.read_bytes()
        if len(key) == 32:
            return key
        time.sleep(0.02)
    raise InvalidInput(f"会话密钥文件 {path.name} 已损坏（应为 32 字节）：删除它后重启网页服务。")


def error_json(message: str, status: int) -> ResponseReturnValue:
    return jsonify({"error": message, "code": CODES.get(status, "error")}), status


def nav(endpoint: str, label: str, right: str | None = None) -> str:
    """One navigation link: shown if the reader holds `right` and the page exists."""
    actor = current_actor()
    if actor is None or (right and not any(actor.can(r) for r in right.split("|"))):
        return ""
    try:
        href = url_for(endpoint)
    except BuildError:
        return ""
    here = request.endpoint == endpoint or (request.blueprint and endpoint.startswith(request.blueprint + ".")
                                            and endpoint.endswith(".index"))
    css = ' class="here"' if here else ""
    return Markup(f'<a href="{escape(href)}"{css}>{escape(label)}</a>')


def create_app(system: Dangan, start_drain: bool = False) -> Flask:
    app = Flask(__name__)
    app.config.update(
        DANGAN=system,
        SECRET_KEY=_secret_key(system.settings.home),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="dangan_session",
        MAX_CONTENT_LENGTH=2 * 1024**3,
        JSON_AS_ASCII=False,
    )
    app.session_interface = _SessionInterface()
    if isinstance(app.json, DefaultJSONProvider):  # (always: no other provider is configured)
        app.json.ensure_ascii = False
    app.jinja_env.globals.update(csrf_token=csrf_token, level_names=LEVEL_NAMES, role_names=ROLES,
                                 right_names=RIGHT_NAMES, status_labels=STATUS_LABELS, nav=nav)
    for blueprint, prefix in BLUEPRINTS:
        app.register_blueprint(blueprint, url_prefix=prefix)
    if os.environ.get("DANGAN_WEB_PROXY") == "1":  # behind one TLS-terminating proxy: trust its headers
        # Flask's documented way to wrap the WSGI app (mypy sees a method being replaced)
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    logging.getLogger("werkzeug").addFilter(_QueryStringFilter())

    @app.errorhandler(DanganError)
    def _dangan_error(exc: DanganError) -> ResponseReturnValue:
        message = mask_text(str(exc))[0]  # a personal number typed into a URL is not echoed
        if is_api():
            return error_json(message, exc.http_status)
        return pages.render_error(message, exc.http_status)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> ResponseReturnValue:
        status = exc.code or 500
        custom = exc.description and exc.description != type(exc).description
        message = exc.description if custom and exc.description else _HTTP_MESSAGES.get(status, exc.name)
        if is_api():
            return error_json(message, status)
        return pages.render_error(message, status)

    @app.errorhandler(Exception)
    def _server_error(exc: Exception) -> ResponseReturnValue:
        app.logger.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.path)
        if is_api():
            return error_json("服务器内部错误。", 500)
        return pages.render_error("服务器内部错误。", 500)

    @app.after_request
    def _headers(resp: Response) -> Response:
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        resp.headers.setdefault("Content-Security-Policy", CSP)
        resp.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        resp.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if request.is_secure:
            resp.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if request.endpoint != "static":
            resp.headers.setdefault("Cache-Control", "no-store")
        return resp

    if start_drain:
        _start_index_drain(system, app)
    return app


_HTTP_MESSAGES = {
    400: "请求无效。", 401: "需要登录。", 403: "无权访问。", 404: "页面不存在。", 405: "不支持该请求方法。",
    413: "上传的文件过大。", 415: "请求格式不受支持。", 429: "请求过于频繁，请稍后再试。",
}


class _QueryStringFilter(logging.Filter):
    """Access logs name the path only: query strings may hold search terms or personal numbers."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(_strip_query(a) if isinstance(a, str) else a for a in record.args)
        return True


def _strip_query(text: str) -> str:
    if "?" in text and " HTTP/" in text:
        head, _, rest = text.partition("?")
        return head + " HTTP/" + rest.rsplit(" HTTP/", 1)[-1] if " HTTP/" in rest else head
    return text


def _start_index_drain(system: Dangan, app: Flask, every: float = 2.0) -> None:
    """Apply outbox rows to the search index in the background, so the index catches up
    by itself after an outage."""
    import threading
    import time

    def loop() -> None:
        while True:
            try:
                system.search_service.sync()
            except Exception as exc:  # keep draining after an outage
                # a DanganError's sentence says which (a refused login names the setting)
                app.logger.warning("index sync failed: %s",
                                   exc if isinstance(exc, DanganError) else type(exc).__name__)
            time.sleep(every)

    threading.Thread(target=loop, name="dangan-index-drain", daemon=True).start()


__all__ = ["BLUEPRINTS", "create_app"]
