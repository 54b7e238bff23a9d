"""Pages for retention (Simplified Chinese): 到期档案 with bulk appraisal, 冻结, 销毁清册
(make, approve, execute) and 销毁登记簿 with certificates and verification."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, current_app, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from dangan.errors import DanganError, InvalidInput
from dangan.retention.service import DECISION_NAMES, STATES, RetentionService
from dangan.web.auth import check_csrf, login_required

bp = Blueprint("retention_pages", __name__)
PAGE = 100


def service() -> RetentionService:
    return current_app.config["DANGAN"].retention


def _date(raw: str | None) -> dt.date | None:
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"日期 {raw!r} 无效：应为 YYYY-MM-DD。") from None


def _lines(raw: str | None) -> list[str]:
    return [part for part in (raw or "").replace(",", " ").replace("，", " ").split() if part]


@bp.route("/retention/due", methods=["GET", "POST"])
@login_required
def due() -> ResponseReturnValue:
    svc = service()
    if request.method == "POST":
        check_csrf()
        nos = request.form.getlist("archive_no")
        try:
            if not nos:
                raise InvalidInput("请先勾选档案。")
            if request.form.get("action") == "batch":
                batch = svc.create_batch(g.actor, nos, request.form.get("batch_reason", ""))
                flash(f"已编制销毁清册 {batch['batch_id']}（{batch['records_count']} 件），待负责人审批。", "ok")
                return redirect(url_for("retention_pages.batch", batch_id=batch["batch_id"]))
            years_raw = request.form.get("years") or None
            years = int(years_raw) if years_raw and years_raw.isdigit() else None
            done = svc.appraise(g.actor, nos, request.form.get("decision", ""), request.form.get("reason", ""),
                                years if request.form.get("decision") == "extend" else None)
            flash(f"已鉴定 {len(done)} 件：{DECISION_NAMES.get(request.form.get('decision', ''), '')}。", "ok")
        except DanganError as exc:
            flash(str(exc), "error")
        query: dict[str, Any] = request.args.to_dict()  # first value per key, as **request.args gave
        return redirect(url_for("retention_pages.due", **query))
    page = max(1, int(request.args.get("page", "1")) if request.args.get("page", "1").isdigit() else 1)
    data = svc.due(g.actor, _date(request.args.get("as_of")), category=request.args.get("category") or None,
                   location=request.args.get("location") or None, offset=(page - 1) * PAGE, limit=PAGE)
    scheme = current_app.config["DANGAN"].scheme
    return render_template("retention/due.html", actor=g.actor, d=data, scheme=scheme, args=request.args,
                           page=page, pages=max(1, -(-data["total"] // PAGE)), decisions=DECISION_NAMES)


@bp.route("/holds", methods=["GET", "POST"])
@login_required
def holds() -> ResponseReturnValue:
    svc = service()
    if request.method == "POST":
        check_csrf()
        try:
            hold = svc.create_hold(g.actor, request.form.get("name", ""), request.form.get("reason", ""),
                                   request.form.get("case_ref") or None)
            flash(f"已新建冻结 {hold['name']}。", "ok")
            return redirect(url_for("retention_pages.hold", name=hold["name"]))
        except DanganError as exc:
            flash(str(exc), "error")
        return redirect(url_for("retention_pages.holds"))
    return render_template("retention/holds.html", actor=g.actor, holds=svc.list_holds(g.actor))


@bp.route("/holds/<name>", methods=["GET", "POST"])
@login_required
def hold(name: str) -> ResponseReturnValue:
    svc = service()
    if request.method == "POST":
        check_csrf()
        try:
            if request.form.get("action") == "release":
                svc.release_hold(g.actor, name, request.form.get("reason") or None)
                flash(f"冻结 {name} 已解除。", "ok")
            else:
                out = svc.add_to_hold(g.actor, name, _lines(request.form.get("archive_nos")),
                                      request.form.get("location") or None)
                msg = f"已加入 {len(out['added'])} 件。"
                if out["voided_batches"]:
                    msg += f"销毁清册 {'、'.join(out['voided_batches'])} 的审批已作废，需重新审批。"
                flash(msg, "ok")
        except DanganError as exc:
            flash(str(exc), "error")
        return redirect(url_for("retention_pages.hold", name=name))
    return render_template("retention/hold.html", actor=g.actor, h=svc.show_hold(g.actor, name))


@bp.route("/destruction")
@login_required
def batches() -> ResponseReturnValue:
    return render_template("retention/batches.html", actor=g.actor, batches=service().list_batches(g.actor),
                           states=STATES)


@bp.route("/destruction/<batch_id>", methods=["GET", "POST"])
@login_required
def batch(batch_id: str) -> ResponseReturnValue:
    svc = service()
    if request.method == "POST":
        check_csrf()
        action = request.form.get("action")
        try:
            if action == "approve":
                svc.approve(g.actor, batch_id)
                flash(f"已审批销毁清册 {batch_id}。", "ok")
            elif action == "execute":
                svc.execute(g.actor, batch_id, request.form.get("supervisor"), request.form.get("place"),
                            request.form.getlist("confirm_paper"))
                flash(f"销毁清册 {batch_id} 已执行完毕。", "ok")
            else:
                raise InvalidInput("未知的操作。")
        except DanganError as exc:
            flash(str(exc), "error")
        return redirect(url_for("retention_pages.batch", batch_id=batch_id))
    return render_template("retention/batch.html", actor=g.actor, b=svc.show_batch(g.actor, batch_id))


@bp.route("/destruction/register")
@login_required
def register_page() -> ResponseReturnValue:
    svc = service()
    rows = svc.register(g.actor)
    executed = [b for b in svc.list_batches(g.actor, "executed")]
    return render_template("retention/register.html", actor=g.actor, rows=rows, batches=executed)


@bp.route("/destruction/<batch_id>/certificate.pdf")
@login_required
def certificate(batch_id: str) -> ResponseReturnValue:
    pdf = service().certificate(g.actor, batch_id)
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="certificate-{batch_id}.pdf"'})


@bp.route("/destruction/<batch_id>/verify")
@login_required
def verify(batch_id: str) -> ResponseReturnValue:
    return render_template("retention/verify.html", actor=g.actor, r=service().verify(g.actor, batch_id))
