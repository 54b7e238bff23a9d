"""Custody pages (实体保管): places, a box's contents, moves, 盘点 with a scanner, labels."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    get_flashed_messages,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue

from dangan.errors import DanganError
from dangan.loans.custody import KINDS
from dangan.web.auth import check_csrf, login_required

if TYPE_CHECKING:
    from dangan.system import Dangan

bp = Blueprint("custody", __name__)


def system() -> Dangan:
    return current_app.config["DANGAN"]


def render(template: str, **kw: object) -> str:
    return render_template(template, actor=g.actor, place_kinds=KINDS,
                           messages=get_flashed_messages(with_categories=True), **kw)


def _codes(text: str) -> list[str]:
    return [c for c in text.replace("，", " ").replace(",", " ").split() if c]


@bp.route("/custody", methods=["GET", "POST"])
@login_required
def places() -> ResponseReturnValue:
    svc = system().custody
    error = None
    if request.method == "POST":
        check_csrf()
        f = request.form
        try:
            place = svc.add_place(g.actor, f.get("code", ""), f.get("kind", ""), f.get("name", ""),
                                  f.get("parent") or None)
        except DanganError as exc:
            error = str(exc)
        else:
            flash(f"已登记{place['kind_name']} {place['code']}。", "ok")
            return redirect(url_for("custody.places"))
    return render("custody/places.html", rows=svc.places(g.actor), error=error), (400 if error else 200)


@bp.route("/custody/place/<code>", methods=["GET", "POST"])
@login_required
def place(code: str) -> ResponseReturnValue:
    svc = system().custody
    error = None
    if request.method == "POST":
        check_csrf()
        try:
            moved = svc.move(g.actor, _codes(request.form.get("records", "")), code, request.form.get("reason"))
        except DanganError as exc:
            error = str(exc)
        else:
            flash(f"已放入 {len(moved)} 件。", "ok")
            return redirect(url_for("custody.place", code=code))
    return render("custody/place.html", p=svc.contents(g.actor, code), error=error), (400 if error else 200)


@bp.route("/custody/check", methods=["GET", "POST"])
@login_required
def check() -> ResponseReturnValue:
    svc = system().custody
    report, error = None, None
    box = request.values.get("box", "")
    if request.method == "POST":
        check_csrf()
        try:
            report = svc.stocktake(g.actor, box, request.form.get("codes", "").splitlines())
        except DanganError as exc:
            error = str(exc)
    boxes = [p for p in svc.places(g.actor) if p["kind"] == "box"]
    return render("custody/check.html", boxes=boxes, box=box, report=report, error=error,
                  codes=request.form.get("codes", "") if error else "",
                  history=svc.stocktakes(g.actor, box) if box and not error else []), (400 if error else 200)


@bp.route("/custody/labels")
@login_required
def labels() -> ResponseReturnValue:
    svc = system().custody
    boxes = request.args.getlist("box")
    data = svc.box_labels(g.actor, boxes) if boxes else svc.item_labels(g.actor, request.args.getlist("record"))
    return send_file(io.BytesIO(data), mimetype="application/pdf", download_name="标签.pdf")
