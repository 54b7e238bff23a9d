"""The Flask app: HTML pages for people and /api/v1 JSON for programs, both calling the
same services as the CLI."""

from __future__ import annotations

import secrets
from pathlib import Path

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from dangan.archive.permissions import LEVEL_NAMES
from dangan.errors import DanganError
from dangan.web import api, pages, review_api, review_pages
from dangan.web.auth import csrf_token, is_api


def _secret_key(home: Path) -> bytes:
    """A per-archive session key kept beside the data (0600), made once."""
    path = home / "web-secret.key"
    if not path.exists():
        path.write_bytes(secrets.token_bytes(32))
        path.chmod(0o600)
    return path.read_bytes()


def create_app(system, start_drain: bool = False) -> Flask:  # type: ignore[no-untyped-def]
    app = Flask(__name__)
    app.config.update(
        DANGAN=system,
        SECRET_KEY=_secret_key(system.settings.home),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        MAX_CONTENT_LENGTH=2 * 1024**3,
        JSON_AS_ASCII=False,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["level_names"] = LEVEL_NAMES
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp, url_prefix="/api/v1")
    app.register_blueprint(review_pages.bp)
    app.register_blueprint(review_api.bp, url_prefix="/api/v1")

    @app.errorhandler(DanganError)
    def _dangan_error(exc: DanganError):  # type: ignore[no-untyped-def]
        if is_api():
            return jsonify({"error": str(exc)}), exc.http_status
        return pages.render_error(str(exc), exc.http_status)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):  # type: ignore[no-untyped-def]
        message = exc.description or exc.name
        if is_api():
            return jsonify({"error": message}), exc.code
        return pages.render_error(message, exc.code or 500)

    @app.errorhandler(Exception)
    def _server_error(exc: Exception):  # type: ignore[no-untyped-def]
        app.logger.error("unhandled %s on %s", type(exc).__name__, request.path)
        if is_api():
            return jsonify({"error": "服务器内部错误。"}), 500
        return pages.render_error("服务器内部错误。", 500)

    @app.after_request
    def _headers(resp):  # type: ignore[no-untyped-def]
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        resp.headers.setdefault("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'")
        return resp

    if start_drain:
        _start_index_drain(system, app)
    return app


def _start_index_drain(system, app: Flask, every: float = 2.0) -> None:  # type: ignore[no-untyped-def]
    """Apply outbox rows to the search index in the background, so the index catches up
    by itself after an outage."""
    import threading
    import time

    def loop() -> None:
        while True:
            try:
                system.search_service.sync()
            except Exception as exc:  # keep draining after an outage
                app.logger.warning("index sync failed: %s", type(exc).__name__)
            time.sleep(every)

    threading.Thread(target=loop, name="dangan-index-drain", daemon=True).start()
