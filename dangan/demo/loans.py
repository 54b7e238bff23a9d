"""Demo loans: one in every state, an overdue original and an open damage incident, so a
newcomer clicking around sees the 借阅 pages in use."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from dangan.archive.models import utcnow

if TYPE_CHECKING:
    from dangan.archive.permissions import Actor
    from dangan.system import Dangan


def add_demo_loans(system: Dangan) -> list[str]:
    wang, zhao = system.actor("wang"), system.actor("zhao")
    li, chen = system.actor("li"), system.actor("chen")
    _total, rows = system.records.list(wang, limit=500)
    pdfs = [r for r in rows if r["archive_no"] and r["media_type"] == "application/pdf"]
    internal = [r["archive_no"] for r in pdfs if r["security"] in ("public", "internal")]
    sensitive = [r["archive_no"] for r in pdfs if r["security"] == "confidential"]
    _demo_custody(system, wang, [r["archive_no"] for r in rows if r["archive_no"]])
    if len(internal) < 6:
        return []
    svc = system.loans
    real_clock = svc.clock
    made = []

    def at(days_ago: int) -> None:
        svc.clock = lambda: utcnow() - dt.timedelta(days=days_ago)

    try:
        at(25)  # an original out since 24 days ago for 7 days: overdue
        lid = svc.request(li, [internal[0]], "电梯故障责任认定，需查原始维修单", "physical", days=7)["loan_id"]
        svc.approve(wang, lid)
        at(24)
        svc.checkout(wang, lid)
        made.append(lid)
        at(12)  # returned damaged: an open incident
        lid = svc.request(chen, [internal[1]], "业主投诉回访核对", "physical", days=7)["loan_id"]
        svc.approve(wang, lid)
        svc.checkout(wang, lid)
        at(8)
        svc.return_(wang, lid, "damaged", "第2页有水渍")
        made.append(lid)
        at(10)  # returned intact after a renewal
        lid = svc.request(li, [internal[2]], "年度维保审计", "physical", days=5)["loan_id"]
        svc.approve(wang, lid)
        svc.checkout(wang, lid)
        at(6)
        svc.renew(li, lid, 5)
        at(2)
        svc.return_(wang, lid, "intact")
        made.append(lid)
        at(3)
        lid = svc.request(chen, [internal[3]], "查阅", "view", days=3)["loan_id"]
        svc.reject(wang, lid, "用途不明确，请写明事由后重新申请")
        made.append(lid)
        lid = svc.request(li, [internal[4]], "改为线上查阅", "physical", days=3)["loan_id"]
        svc.cancel(li, lid, "改为在线查阅")
        made.append(lid)
    finally:
        svc.clock = real_clock
    # current ones: an approved original waiting at the desk, a request in the queue,
    # and electronic loans of confidential records for a staff member
    lid = svc.request(chen, [internal[5]], "小区设备台账核对", "physical", days=7)["loan_id"]
    svc.approve(wang, lid)
    made.append(lid)
    made.append(svc.request(li, [internal[0 if len(internal) < 7 else 6]], "维修费用复核", "physical")["loan_id"])
    for kind, ref in zip(("view", "copy"), sensitive[:2], strict=False):
        lid = svc.request(li, [ref], "业主纠纷调解，需核对登记资料", kind, days=5)["loan_id"]
        svc.approve(zhao, lid)
        made.append(lid)
    return made


def _demo_custody(system: Dangan, wang: Actor, archive_nos: list[str]) -> None:
    """A room, a cabinet, a shelf and two boxes holding the sample originals, and one 盘点."""
    c = system.custody
    c.add_place(wang, "K1", "room", "一号档案库房")
    c.add_place(wang, "K1-G01", "cabinet", "1号密集柜", parent="K1")
    c.add_place(wang, "K1-G01-J1", "shelf", "第1层", parent="K1-G01")
    c.add_place(wang, "K1-G01-J1-H001", "box", "档案盒 第1盒", parent="K1-G01-J1")
    c.add_place(wang, "K1-G01-J1-H002", "box", "档案盒 第2盒", parent="K1-G01-J1")
    half = len(archive_nos) // 2
    if archive_nos:
        c.move(wang, archive_nos[:half] or archive_nos, "K1-G01-J1-H001", "入库上架")
    if archive_nos[half:] and half:
        c.move(wang, archive_nos[half:], "K1-G01-J1-H002", "入库上架")
        c.stocktake(wang, "K1-G01-J1-H002", archive_nos[half + 1:])  # one original not found
