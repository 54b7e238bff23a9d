"""HTML pages (Simplified Chinese): login and password, 首页, the record list, search,
the record page with its viewer, and 一户一档 (browse tree and dossier)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from dangan.archive.models import AuditEntry
from dangan.errors import DanganError, InvalidInput
from dangan.ingest.corrections import edit_and_index
from dangan.search.service import filters_from_args
from dangan.web import browse as browse_mod
from dangan.web import charts, dashboard
from dangan.web.auth import check_csrf, current_actor, login_required, requires, start_session
from dangan.web.content import ContentService, Original
from dangan.web.owners import OwnerService
from dangan.web.throttle import LoginGuard

if TYPE_CHECKING:
    from dangan.system import Dangan

bp = Blueprint("pages", __name__)
PAGE = 30
LOW_CONFIDENCE = 0.6


def system() -> Dangan:
    return current_app.config["DANGAN"]


def render_error(message: str, status: int) -> ResponseReturnValue:
    return render_template("error.html", message=message, status=status,
                           actor=current_actor()), status


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    try:
        return max(low, min(high, int(request.args.get(name, default))))
    except ValueError:
        return default


def client_address() -> str:
    return request.remote_addr or "unknown"


def safe_next(target: str | None, fallback: str) -> str:
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return fallback
    return target


def content_disposition(name: str, fallback: str) -> str:
    """attachment with an ASCII fallback and the real (Chinese) name per RFC 6266/5987."""
    clean = "".join(ch for ch in name if ch.isprintable() and ch not in '"\\/\r\n;') or fallback
    ascii_name = re.sub(r"[^A-Za-z0-9._-]", "_", fallback)[:120] or "download"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(clean, safe='')}"


# -- login ----------------------------------------------------------------------------

@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    error = None
    status = 200
    if request.method == "POST":
        check_csrf()
        try:
            actor = LoginGuard(system()).login(request.form.get("name", ""), request.form.get("password", ""),
                                               client_address())
        except DanganError as exc:
            error, status = str(exc), (429 if exc.http_status == 429 else 401)
        else:
            start_session(actor)
            home = url_for("owner_pages.index") if actor.can("owner.portal") else url_for("pages.home")
            return redirect(safe_next(request.args.get("next"), home))
    return render_template("login.html", error=error, actor=None), status


@bp.route("/logout", methods=["POST"])
def logout() -> ResponseReturnValue:
    check_csrf()
    session.clear()
    return redirect(url_for("pages.login"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def password() -> ResponseReturnValue:
    error = None
    if request.method == "POST":
        check_csrf()
        new, again = request.form.get("new", ""), request.form.get("again", "")
        try:
            if new != again:
                raise InvalidInput("两次输入的新密码不一致。")
            LoginGuard(system()).login(g.actor.name, request.form.get("current", ""), client_address())
            system().users.set_password(g.actor, g.actor.name, new)
        except DanganError as exc:
            error = "当前密码不正确。" if "不正确" in str(exc) else str(exc)
        else:
            flash("密码已修改。")
            return redirect(url_for("pages.home"))
    return render_template("password.html", actor=g.actor, error=error), (400 if error else 200)


# -- 首页 ------------------------------------------------------------------------------

@bp.route("/")
@login_required
def home() -> ResponseReturnValue:
    if g.actor.can("owner.portal") and not g.actor.can("record.meta"):
        return redirect(url_for("owner_pages.index"))
    data = dashboard.stats(system(), g.actor)
    cat_chart = charts.hbar([(n, c) for n, c, _ in data["categories"]], "按类别")
    proj_chart = charts.hbar([(n, c) for n, c, _ in data["projects"][:10]], "按项目")
    year_chart = charts.columns([(n, c) for n, c, _ in data["years"]], "按年度")
    return render_template("home.html", actor=g.actor, d=data, cat_chart=cat_chart,
                           proj_chart=proj_chart, year_chart=year_chart)


# -- records ---------------------------------------------------------------------------

@bp.route("/records")
@requires("record.meta")
def records() -> ResponseReturnValue:
    page = _int_arg("page", 1, 1, 10_000)
    category = request.args.get("category") or None
    location = request.args.get("location") or None
    status = request.args.get("status") or None
    if status not in (None, "active", "queued"):
        status = None
    q = (request.args.get("q") or "").strip()
    svc = system()
    if q:
        query: dict[str, Any] = request.args.to_dict()  # first value per key, as **request.args gave
        return redirect(url_for("pages.search", **query))
    total, rows = svc.records.list(g.actor, offset=(page - 1) * PAGE, limit=PAGE,
                                   category=category, location_prefix=location, status=status)
    return render_template("records.html", actor=g.actor, rows=rows, total=total, page=page,
                           pages=max(1, -(-total // PAGE)), scheme=svc.scheme,
                           category=category, location=location, q=q)


@bp.route("/records/<path:archive_no>")
@login_required
def record(archive_no: str) -> ResponseReturnValue:
    svc = system()
    with_text = g.actor.can("record.text")
    data = svc.records.show(g.actor, archive_no, with_text=with_text)
    no = data["archive_no"] or data["provisional_no"]
    if no != archive_no:  # an alias: show the record under its current number
        return redirect(url_for("pages.record", archive_no=no))
    low = [p.get("page") for p in data.get("text_pages") or []
           if p.get("confidence") is not None and p["confidence"] < LOW_CONFIDENCE]
    owner_visible = OwnerService(svc).is_visible(no) if g.actor.can("record.edit") else None
    viewable = with_text and data["sha256"] and data["pages"] and (
        data["media_type"] == "application/pdf" or data["media_type"].startswith("image/"))
    page = _int_arg("page", 1, 1, max(1, data["pages"] or 1))
    with svc.db.read() as s:
        last = s.execute(select(AuditEntry.ts, AuditEntry.outcome, AuditEntry.actor)
                         .where(AuditEntry.action == "record.fixity", AuditEntry.target == no)
                         .order_by(AuditEntry.id.desc()).limit(1)).first()
    return render_template("record.html", actor=g.actor, r=data, no=no, scheme=svc.scheme, fixity=last,
                           low_pages=low, owner_visible=owner_visible, viewable=viewable, page=page,
                           today=dt.date.today().isoformat())


@bp.route("/records/<archive_no>/page/<int:n>")
@requires("record.text")
def page_image(archive_no: str, n: int) -> ResponseReturnValue:
    png = ContentService(system()).page_image(g.actor, archive_no, n)
    resp = Response(png, mimetype="image/png")
    resp.headers["Cache-Control"] = "no-store, private"
    resp.headers["Pragma"] = "no-cache"
    return resp


def stream_original(original: Original) -> Response:
    ext = original.name.rsplit(".", 1)[-1] if "." in original.name else "bin"
    resp = Response(stream_with_context(original.chunks), mimetype=original.media_type or "application/octet-stream")
    resp.headers["Content-Disposition"] = content_disposition(original.name, f"{original.archive_no}.{ext}")
    resp.headers["Content-Length"] = str(original.size)
    resp.headers["Cache-Control"] = "no-store, private"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


@bp.route("/records/<archive_no>/download")
@requires("record.get")
def download(archive_no: str) -> ResponseReturnValue:
    return stream_original(ContentService(system()).original(g.actor, archive_no))


@bp.route("/records/<archive_no>/edit", methods=["POST"])
@requires("record.edit")
def edit(archive_no: str) -> ResponseReturnValue:
    check_csrf()
    changes = edit_changes(request.form)
    data = edit_and_index(system(), g.actor, archive_no, changes, request.form.get("reason", ""))
    searched = "检索已更新。" if data["search"] == "indexed" else data["search"]
    flash(f"已保存：{data['archive_no'] or data['provisional_no']}（第 {data['version']} 版）。{searched}")
    target = request.form.get("next")
    return redirect(safe_next(target, url_for("pages.record", archive_no=data["archive_no"] or data["provisional_no"])))


def edit_changes(form: Mapping[str, str]) -> dict:
    """Fields given in a correction form (empty means unchanged), as `dangan edit` takes them."""
    changes: dict = {}
    for key in ("category", "location", "title", "security"):
        value = (form.get(key) or "").strip()
        if value:
            changes[key] = value
    raw = (form.get("date") or "").strip()
    if raw:
        try:
            changes["doc_date"] = dt.date.fromisoformat(raw)
        except ValueError:
            raise InvalidInput(f"日期 {raw!r} 无效：应为 YYYY-MM-DD。") from None
    return changes


@bp.route("/records/<archive_no>/verify", methods=["POST"])
@requires("record.verify")
def verify(archive_no: str) -> ResponseReturnValue:
    check_csrf()
    svc = system()
    result = svc.records.verify(g.actor, [archive_no])[0]
    with svc.db.session() as s:  # the record's own entry: its page shows the last check
        svc.audit.append(s, g.actor.name, "record.fixity", result["archive_no"], "ok" if result["ok"] else "failed",
                         {"checks": result["checks"]})
    if result["ok"]:
        flash("四性检测通过：真实性、完整性、可用性、安全性均正常。")
    else:
        bad = "；".join(f"{k}: {v}" for k, v in result["checks"].items() if v is not True)
        flash(f"四性检测未通过：{bad}", "error")
    return redirect(url_for("pages.record", archive_no=archive_no))


@bp.route("/records/<archive_no>/owner-visible", methods=["POST"])
@requires("record.edit")
def owner_visible(archive_no: str) -> ResponseReturnValue:
    check_csrf()
    on = request.form.get("visible") == "1"
    OwnerService(system()).set_visible(g.actor, archive_no, on)
    flash("已对业主开放。" if on else "已取消对业主开放。")
    return redirect(url_for("pages.record", archive_no=archive_no))


# -- search and 一户一档 ------------------------------------------------------------------

@bp.route("/search")
@requires("search")
def search() -> ResponseReturnValue:
    svc = system()
    q = (request.args.get("q") or "").strip()
    page = _int_arg("page", 1, 1, 1000)
    filters = filters_from_args(request.args.items(multi=True))
    filters.pop("offset", None)
    filters.pop("limit", None)
    result = svc.search_service.search(g.actor, q, offset=(page - 1) * PAGE, limit=PAGE, **filters)
    return render_template("search.html", actor=g.actor, q=q, result=result, page=page,
                           pages=max(1, -(-max(result["total"], result["catalogue_total"]) // PAGE)),
                           scheme=svc.scheme,
                           args=request.args, category=request.args.get("category"),
                           location=request.args.get("location"), status=request.args.get("status"))


@bp.route("/browse")
@requires("record.meta")
def browse() -> ResponseReturnValue:
    at = (request.args.get("at") or "").strip() or None
    data = browse_mod.children(system(), g.actor, at)
    return render_template("browse.html", actor=g.actor, b=data)


@bp.route("/dossier/<location>")
@requires("record.meta")
def dossier(location: str) -> ResponseReturnValue:
    svc = system()
    data = svc.search_service.dossier(g.actor, location)
    return render_template("dossier.html", actor=g.actor, d=data, scheme=svc.scheme)
