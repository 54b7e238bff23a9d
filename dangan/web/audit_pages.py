"""审计 pages: the log with filters, chain verification with the head hash, the
search-query log and CSV export. The auditor reads the trail, never the content."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from flask import Blueprint, Response, current_app, g, render_template, request, stream_with_context
from flask.typing import ResponseReturnValue

from dangan.web import auditview
from dangan.web.auth import check_csrf, requires

if TYPE_CHECKING:
    from dangan.system import Dangan

bp = Blueprint("audit_pages", __name__)
PAGE = 50


def system() -> Dangan:
    return current_app.config["DANGAN"]


def _page() -> int:
    try:
        return max(1, min(100_000, int(request.args.get("page", 1))))
    except ValueError:
        return 1


@bp.route("/audit")
@requires("audit.read")
def index() -> ResponseReturnValue:
    f = auditview.Filters.from_args(request.args)
    page = _page()
    total, rows = auditview.page(system(), g.actor, f, offset=(page - 1) * PAGE, limit=PAGE)
    return render_template("audit/log.html", actor=g.actor, rows=rows, total=total, page=page,
                           pages=max(1, -(-total // PAGE)), f=f, args=request.args, searches=False)


@bp.route("/audit/searches")
@requires("audit.read")
def searches() -> ResponseReturnValue:
    f = auditview.Filters.from_args(request.args)
    page = _page()
    total, rows = auditview.search_log(system(), g.actor, f, offset=(page - 1) * PAGE, limit=PAGE)
    return render_template("audit/log.html", actor=g.actor, rows=rows, total=total, page=page,
                           pages=max(1, -(-total // PAGE)), f=f, args=request.args, searches=True)


@bp.route("/audit/export.csv")
@requires("audit.read")
def export() -> ResponseReturnValue:
    f = auditview.Filters.from_args(request.args)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    resp = Response(stream_with_context(auditview.export_csv(system(), g.actor, f)), mimetype="text/csv")
    resp.headers["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    resp.headers["Cache-Control"] = "no-store, private"
    return resp


@bp.route("/audit/verify", methods=["GET", "POST"])
@requires("audit.verify")
def verify() -> ResponseReturnValue:
    report = None
    if request.method == "POST":
        check_csrf()
        report = system().verify_audit(g.actor).as_json()
    return render_template("audit/verify.html", actor=g.actor, report=report,
                           checked_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
