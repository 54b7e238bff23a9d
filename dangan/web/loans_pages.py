"""Loan pages (Simplified Chinese): 借阅申请, 我的借阅, 待审批, 借还台, 逾期, 损坏登记, 借阅登记簿.

Each page shows only the buttons the user's role may press; every POST checks the CSRF
token and goes through the loans service, which refuses the rest anyway.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from tempfile import TemporaryDirectory
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

from dangan.errors import DanganError, InvalidInput
from dangan.loans.export import export_ledger
from dangan.loans.notify import notifier_for
from dangan.loans.service import CONDITIONS, KINDS, STATES
from dangan.web.auth import check_csrf, login_required

if TYPE_CHECKING:
    from dangan.system import Dangan

bp = Blueprint("loans", __name__)
ACTIONS = {"approve": "批准", "reject": "驳回", "checkout": "借出", "renew": "续借", "return": "归还",
           "cancel": "撤销"}


def system() -> Dangan:
    return current_app.config["DANGAN"]


def _date(value: str | None, name: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name} {value!r} 无效：应为 YYYY-MM-DD。") from None


def _int(value: str | None, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(f"{name}应为整数。") from None


def render(template: str, **kw: object) -> str:
    return render_template(template, actor=g.actor, kinds=KINDS, states=STATES, conditions=CONDITIONS,
                           messages=get_flashed_messages(with_categories=True), **kw)


def buttons(loan: dict) -> list[str]:
    """The actions this user may take on this loan now (the service checks again)."""
    a = g.actor
    mine = loan["borrower"] == a.name
    state, physical = loan["state"], loan["kind"] == "physical"
    out = []
    if state == "requested" and not mine and a.can("loan.approve") and (
            not loan["sensitive"] or a.can("loan.approve.sensitive")):
        out += ["approve", "reject"]
    if state == "approved" and physical and a.can("loan.desk"):
        out.append("checkout")
    if loan["active"] and (mine or a.can("loan.desk")):
        out.append("renew")
    if loan["active"] and ((physical and a.can("loan.desk")) or (not physical and (mine or a.can("loan.desk")))):
        out.append("return")
    if state in ("requested", "approved") and (mine or a.can("loan.desk")):
        out.append("cancel")
    return out


@bp.route("/loans")
@login_required
def mine() -> ResponseReturnValue:
    rows = system().loans.list(g.actor, borrower=g.actor.name, limit=500)
    return render("loans/mine.html", rows=rows)


@bp.route("/loans/new", methods=["GET", "POST"])
@login_required
def new() -> ResponseReturnValue:
    svc = system()
    form = {"records": request.args.get("record", ""), "purpose": "", "kind": request.args.get("kind", "view"),
            "days": str(svc.loans.rules.default_days)}
    error = None
    if request.method == "POST":
        check_csrf()
        form = {k: request.form.get(k, "") for k in ("records", "purpose", "kind", "days")}
        refs = [r for r in form["records"].replace("，", " ").replace(",", " ").split() if r]
        try:
            loan = svc.loans.request(g.actor, refs, form["purpose"], form["kind"], _int(form["days"], "天数"))
        except DanganError as exc:
            error = str(exc)
        else:
            flash(f"已提交借阅申请 {loan['loan_id']}，待审批。", "ok")
            return redirect(url_for("loans.detail", loan_id=loan["loan_id"]))
    return render("loans/new.html", form=form, error=error, rules=svc.loans.rules), (400 if error else 200)


@bp.route("/loans/queue")
@login_required
def queue() -> ResponseReturnValue:
    return render("loans/queue.html", rows=system().loans.queue(g.actor))


@bp.route("/loans/desk")
@login_required
def desk() -> ResponseReturnValue:
    svc = system()
    code = (request.args.get("code") or "").strip()
    found, error = None, None
    if code:
        try:
            found = svc.loans.find_by_code(g.actor, code)
        except DanganError as exc:
            error = str(exc)
    data = svc.loans.desk(g.actor)
    loan = found["loan"] if found else None
    return render("loans/desk.html", code=code, found=found, loan=loan, error=error, data=data,
                  actions=buttons(loan) if loan else [], rules=svc.loans.rules), (404 if error else 200)


@bp.route("/loans/overdue")
@login_required
def overdue() -> ResponseReturnValue:
    svc = system()
    as_of = _date(request.args.get("as_of"), "日期") or svc.loans.today()
    rows = svc.loans.list(g.actor, overdue=True, as_of=as_of, limit=1000)
    report = svc.loans.overdue_report(g.actor, as_of) if g.actor.can("loan.ledger") else []
    return render("loans/overdue.html", rows=rows, report=report, as_of=as_of)


@bp.post("/loans/overdue/remind")
@login_required
def remind() -> ResponseReturnValue:
    check_csrf()
    svc = system().loans
    sent = svc.remind(g.actor, notifier_for(svc.rules), _date(request.form.get("as_of"), "日期"))
    flash(f"已向 {len(sent)} 笔逾期借阅的借阅人发送催还提醒。", "ok")
    return redirect(url_for("loans.overdue", as_of=request.form.get("as_of") or None))


@bp.route("/loans/incidents")
@login_required
def incidents() -> ResponseReturnValue:
    show_all = request.args.get("all") == "1"
    return render("loans/incidents.html", rows=system().loans.incidents(g.actor, open_only=not show_all),
                  show_all=show_all)


@bp.post("/loans/incidents/<int:incident_id>/close")
@login_required
def close_incident(incident_id: int) -> ResponseReturnValue:
    check_csrf()
    system().loans.close_incident(g.actor, incident_id, request.form.get("resolution", ""))
    flash(f"登记 #{incident_id} 已处理完毕。", "ok")
    return redirect(url_for("loans.incidents"))


@bp.route("/loans/ledger")
@login_required
def ledger() -> ResponseReturnValue:
    svc = system()
    since = _date(request.args.get("since"), "起始日期")
    until = _date(request.args.get("until"), "截止日期")
    rows = svc.loans.ledger(g.actor, since, until)
    fmt = request.args.get("format")
    if fmt in ("csv", "xlsx"):
        with TemporaryDirectory() as tmp:
            payload = export_ledger(rows, Path(tmp) / f"ledger.{fmt}").read_bytes()
        return send_file(io.BytesIO(payload), as_attachment=True, download_name=f"借阅登记簿.{fmt}",
                         mimetype="text/csv" if fmt == "csv" else
                         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    return render("loans/ledger.html", rows=rows[-1000:], total=len(rows), since=since, until=until)


@bp.route("/loans/<loan_id>")
@login_required
def detail(loan_id: str) -> ResponseReturnValue:
    loan = system().loans.show(g.actor, loan_id)
    return render("loans/detail.html", loan=loan, actions=buttons(loan), rules=system().loans.rules)


@bp.post("/loans/<loan_id>/<action>")
@login_required
def act(loan_id: str, action: str) -> ResponseReturnValue:
    check_csrf()
    svc = system().loans
    f = request.form
    if action == "approve":
        loan = svc.approve(g.actor, loan_id, f.get("note") or None)
    elif action == "reject":
        loan = svc.reject(g.actor, loan_id, f.get("reason", ""))
    elif action == "checkout":
        loan = svc.checkout(g.actor, loan_id)
    elif action == "renew":
        days = _int(f.get("days"), "续借天数")
        if days is None:
            raise InvalidInput("请填写续借天数。")
        loan = svc.renew(g.actor, loan_id, days)
    elif action == "return":
        loan = svc.return_(g.actor, loan_id, f.get("condition", "intact"), f.get("note") or None)
    elif action == "cancel":
        loan = svc.cancel(g.actor, loan_id, f.get("reason") or None)
    else:
        raise InvalidInput(f"未知操作 {action!r}。")
    flash(f"借阅单 {loan['loan_id']} 已{ACTIONS[action]}。", "ok")
    back = f.get("back", "")
    if back.startswith("/") and not back.startswith("//"):
        return redirect(back)
    return redirect(url_for("loans.detail", loan_id=loan["loan_id"]))


@bp.route("/loans/<loan_id>/copy/<path:archive_no>")
@login_required
def copy(loan_id: str, archive_no: str) -> ResponseReturnValue:
    data, name = system().loans.copy(g.actor, loan_id, archive_no)
    return send_file(io.BytesIO(data), mimetype="application/pdf", as_attachment=True, download_name=name)
