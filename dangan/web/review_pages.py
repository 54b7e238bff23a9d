"""The 待分类 queue and corrections in the browser: confirm a queued record (its 档号 is
assigned) or correct any record; the change is in search when the page comes back."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from dangan.errors import InvalidInput
from dangan.ingest.corrections import edit_and_index
from dangan.web.auth import check_csrf, login_required

bp = Blueprint("review", __name__)

FIELDS = ("category", "location", "title", "date", "security")


def changes_from(values: dict) -> dict:
    """The form's (or JSON body's) non-empty fields as `records.edit` changes."""
    changes: dict = {}
    for name in FIELDS:
        raw = values.get(name)
        if raw is None or str(raw).strip() == "":
            continue
        value = str(raw).strip()
        if name == "date":
            try:
                changes["doc_date"] = dt.date.fromisoformat(value)
            except ValueError:
                raise InvalidInput(f"日期 {value!r} 无效：应为 YYYY-MM-DD。") from None
        else:
            changes[name] = value
    return changes


@bp.get("/review")
@login_required
def queue() -> ResponseReturnValue:
    system = current_app.config["DANGAN"]
    rows = system.records.review_queue(g.actor, limit=200)
    return render_template("review/queue.html", actor=g.actor, rows=rows, scheme=system.scheme)


@bp.route("/records/<path:ref>/edit", methods=["GET", "POST"])
@login_required
def edit(ref: str) -> ResponseReturnValue:
    system = current_app.config["DANGAN"]
    record = system.records.show(g.actor, ref)
    error = None
    if request.method == "POST":
        check_csrf()
        try:
            data = edit_and_index(system, g.actor, ref, changes_from(request.form),
                                  request.form.get("reason", ""))
        except InvalidInput as exc:
            error = str(exc)
        else:
            return redirect(url_for("pages.record", archive_no=data["archive_no"] or data["provisional_no"],
                                    saved=1, search="ok" if data["search"] == "indexed" else "later"))
    return render_template("review/edit.html", actor=g.actor, r=record, scheme=system.scheme,
                           error=error, form=request.form), (400 if error else 200)
