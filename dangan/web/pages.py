"""HTML pages (Simplified Chinese): login, record list with search box, record detail."""

from __future__ import annotations

from flask import Blueprint, current_app, g, redirect, render_template, request, session, url_for

from dangan.web.auth import check_csrf, current_actor, login_required

bp = Blueprint("pages", __name__)
PAGE = 30


def system():  # type: ignore[no-untyped-def]
    return current_app.config["DANGAN"]


def render_error(message: str, status: int):  # type: ignore[no-untyped-def]
    return render_template("error.html", message=message, status=status,
                           actor=current_actor()), status


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    try:
        return max(low, min(high, int(request.args.get(name, default))))
    except ValueError:
        return default


@bp.route("/login", methods=["GET", "POST"])
def login():  # type: ignore[no-untyped-def]
    error = None
    if request.method == "POST":
        check_csrf()
        from dangan.errors import DanganError

        try:
            actor = system().users.login(request.form.get("name", ""), request.form.get("password", ""))
        except DanganError as exc:
            error = str(exc)
        else:
            session.clear()
            session["user"] = actor.name
            target = request.args.get("next") or url_for("pages.records")
            if not target.startswith("/") or target.startswith("//"):
                target = url_for("pages.records")
            return redirect(target)
    return render_template("login.html", error=error, actor=None), (401 if error else 200)


@bp.route("/logout", methods=["POST"])
def logout():  # type: ignore[no-untyped-def]
    check_csrf()
    session.clear()
    return redirect(url_for("pages.login"))


@bp.route("/")
@login_required
def records():  # type: ignore[no-untyped-def]
    page = _int_arg("page", 1, 1, 10_000)
    category = request.args.get("category") or None
    location = request.args.get("location") or None
    q = (request.args.get("q") or "").strip()
    svc = system()
    if q:
        return redirect(url_for("pages.search", **request.args))
    total, rows = svc.records.list(g.actor, offset=(page - 1) * PAGE, limit=PAGE,
                                   category=category, location_prefix=location)
    return render_template("records.html", actor=g.actor, rows=rows, total=total, page=page,
                           pages=max(1, -(-total // PAGE)), scheme=svc.scheme,
                           category=category, location=location, q=q)


@bp.route("/records/<path:archive_no>")
@login_required
def record(archive_no: str):  # type: ignore[no-untyped-def]
    svc = system()
    with_text = g.actor.can("record.text")
    data = svc.records.show(g.actor, archive_no, with_text=with_text)
    return render_template("record.html", actor=g.actor, r=data, scheme=svc.scheme)


@bp.route("/search")
@login_required
def search():  # type: ignore[no-untyped-def]
    from dangan.search.service import filters_from_args

    svc = system()
    q = (request.args.get("q") or "").strip()
    page = _int_arg("page", 1, 1, 1000)
    filters = filters_from_args(request.args.items(multi=True))
    filters.pop("offset", None)
    filters.pop("limit", None)
    result = svc.search_service.search(g.actor, q, offset=(page - 1) * PAGE, limit=PAGE, **filters)
    return render_template("search.html", actor=g.actor, q=q, result=result, page=page,
                           pages=max(1, -(-result["total"] // PAGE)), scheme=svc.scheme,
                           args=request.args, category=request.args.get("category"),
                           location=request.args.get("location"))


@bp.route("/dossier/<location>")
@login_required
def dossier(location: str):  # type: ignore[no-untyped-def]
    svc = system()
    data = svc.search_service.dossier(g.actor, location)
    return render_template("dossier.html", actor=g.actor, d=data, scheme=svc.scheme)
