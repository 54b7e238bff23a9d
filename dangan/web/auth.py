"""Who is calling: a session cookie for people, a bearer token for programs; CSRF tokens
for every form that changes something.

The API takes a session cookie only for reading (GET/HEAD, e.g. the upload page polling
its batch); anything that changes state through /api/v1 needs a bearer token, so a
cross-site form can never ride on a logged-in browser.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort, current_app, g, jsonify, redirect, request, session, url_for
from flask.typing import ResponseReturnValue

from dangan.archive.permissions import RIGHT_NAMES, Actor
from dangan.errors import DanganError, PermissionDenied

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_UNSET = object()


def is_api() -> bool:
    return request.path.startswith("/api/")


def _resolve() -> Actor | None:
    system = current_app.config["DANGAN"]
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        try:
            return system.users.by_token(header[7:].strip())
        except DanganError:
            return None
    if is_api() and request.method not in SAFE_METHODS:
        return None
    name = session.get("user")
    if not name:
        return None
    try:
        actor = system.actor(name)
    except DanganError:
        session.clear()
        return None
    if session.get("roles") != sorted(actor.roles):  # roles changed: log in again
        session.clear()
        return None
    return actor


def current_actor() -> Actor | None:
    """The caller, resolved once per request."""
    cached = g.get("_actor", _UNSET)
    if cached is _UNSET:
        cached = _resolve()
        g._actor = cached
    return cached if isinstance(cached, Actor) else None


def start_session(actor: Actor) -> None:
    session.clear()
    session["user"] = actor.name
    session["roles"] = sorted(actor.roles)
    session.permanent = False


def login_required(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        actor = current_actor()
        if actor is None:
            if is_api():
                return jsonify({"error": "需要登录：请提供有效的 Bearer 令牌。", "code": "unauthenticated"}), 401
            return redirect(url_for("pages.login", next=request.full_path if request.method == "GET" else None))
        g.actor = actor
        return view(*args, **kwargs)

    return wrapped


def requires(*rights: str) -> Callable[[Callable[..., ResponseReturnValue]], Callable[..., ResponseReturnValue]]:
    """A logged-in caller holding any one of `rights`; 403 otherwise."""

    def deco(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
        @wraps(view)
        def inner(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            if not any(g.actor.can(r) for r in rights):
                raise PermissionDenied(f"用户 {g.actor.name} 没有“{RIGHT_NAMES.get(rights[0], rights[0])}”的权限。")
            return view(*args, **kwargs)

        return login_required(inner)

    return deco


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def check_csrf() -> None:
    sent = request.form.get("csrf_token", "") or request.headers.get("X-CSRF-Token", "")
    if not sent or not hmac.compare_digest(sent, session.get("csrf", "")):
        abort(400, description="表单已过期或来源不明（CSRF 校验失败），请刷新页面后重试。")
