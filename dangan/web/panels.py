"""首页 panels of the borrowing and retention areas: what is out, overdue and falling due,
for the readers who hold those rights (the dashboard shows nothing to the others)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from flask import url_for
from sqlalchemy import func, select

from dangan.archive.permissions import Actor
from dangan.loans.models import Loan
from dangan.web.dashboard import add_panel

if TYPE_CHECKING:
    from dangan.system import Dangan


@add_panel
def loans_panel(system: Dangan, actor: Actor) -> dict | None:
    if not actor.can("loan.ledger"):
        return None
    today = dt.date.today()
    with system.db.read() as s:
        out = s.execute(select(func.count()).where(Loan.state == "checked_out")).scalar_one()
        overdue = s.execute(select(func.count()).where(Loan.state == "checked_out", Loan.due < today)).scalar_one()
        waiting = s.execute(select(func.count()).where(Loan.state == "requested")).scalar_one()
    return {"title": "借阅", "items": [("借出中", out, url_for("loans.ledger")),
                                      ("已逾期", overdue, url_for("loans.overdue")),
                                      ("待审批", waiting, url_for("loans.queue"))]}


@add_panel
def retention_panel(system: Dangan, actor: Actor) -> dict | None:
    if not actor.can("retention.read"):
        return None
    today = dt.date.today()
    now = system.retention.due(actor, as_of=today, limit=0, audit=False)
    soon = system.retention.due(actor, as_of=today + dt.timedelta(days=90), limit=0, audit=False)
    return {"title": "保管期限", "items": [("已到期", now["total"], url_for("retention_pages.due")),
                                       ("90 天内到期", soon["total"] - now["total"],
                                        url_for("retention_pages.due", as_of=(today + dt.timedelta(days=90)).isoformat())),
                                       ("无起算日期", now["no_trigger"], None)]}
