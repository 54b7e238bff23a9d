"""Who is calling: a session cookie for people, a bearer token for programs; CSRF tokens
for every form that changes something."""

from __future__ import annotations

import hmac
import secrets
from functools import wraps
from typing import Any

from flask import abort, current_app, g, jsonify, redirect, request, session, url_for

from dangan.archive.permissions import Actor
from dangan.errors import DanganError


def is_api() -> bool:
    return request.path.startswith("/api/")


def current_actor() -> Actor | None:
    system = current_app.config["DANGAN"]
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        try:
            return system.users.by_token(header[7:].strip())
        except DanganError:
            return None
    name = session.get("user")
    if not name:
        return None
    try:
        return system.actor(name)
    except DanganError:
        session.clear()
        return None


def login_required(view):  # type: ignore[no-untyped-def]
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any):  # type: ignore[no-untyped-def]
        actor = current_actor()
        if actor is None:
            if is_api():
                return jsonify({"error": "需要登录：请提供 Bearer 令牌。"}), 401
            return redirect(url_for("pages.login", next=request.full_path))
        g.actor = actor
        return view(*args, **kwargs)

    return wrapped


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def check_csrf() -> None:
    sent = request.form.get("csrf_token", "")
    if not sent or not hmac.compare_digest(sent, session.get("csrf", "")):
        abort(400, description="表单已过期或来源不明（CSRF 校验失败），请刷新页面后重试。")
