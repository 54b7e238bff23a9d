"""The loans service as a specification: each kind of loan through its life, the rules,
and every abuse case refused with nothing changed (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select, update

from dangan.archive.models import AuditEntry, Record
from dangan.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from dangan.loans.models import Incident, Loan, LoanEvent, PhysicalOut


def events(system, loan_id: str) -> list[str]:
    with system.db.read() as s:
        return list(s.execute(select(LoanEvent.event).where(LoanEvent.loan_id == loan_id)
                              .order_by(LoanEvent.seq)).scalars())


def audit_actions(system, target: str) -> list[tuple[str, str]]:
    with system.db.read() as s:
        return [(a, o) for a, o in s.execute(select(AuditEntry.action, AuditEntry.outcome)
                                             .where(AuditEntry.target == target).order_by(AuditEntry.id))]


def snapshot(system, loan_id: str) -> tuple:
    with system.db.read() as s:
        loan = s.get(Loan, loan_id)
        n = s.execute(select(func.count()).select_from(LoanEvent).where(LoanEvent.loan_id == loan_id)).scalar()
        out = s.execute(select(func.count()).select_from(PhysicalOut)).scalar()
        return (loan.state, loan.due, loan.days, loan.version, n, out)


def test_a_physical_loan_goes_through_its_whole_life_with_every_step_in_ledger_and_audit(system, lend, clock):
    li, wang = lend["who"]("li"), lend["who"]("wang")
    loan = system.loans.request(li, [lend["a"]], "装修纠纷核对", "physical", days=7)
    assert loan["state"] == "requested" and loan["loan_id"].startswith("JY-2026-")
    lid = loan["loan_id"]
    assert system.loans.approve(wang, lid)["state"] == "approved"
    out = system.loans.checkout(wang, lid)
    assert out["state"] == "checked_out" and out["due"] == "2026-03-09"
    rid = _rid(system, lend["a"])
    assert system.loans.records_out([rid, _rid(system, lend["b"])]) == {rid: lid}
    clock.advance(5)
    assert system.loans.renew(li, lid, 7)["due"] == "2026-03-16"
    back = system.loans.return_(wang, lid, "intact")
    assert back["state"] == "returned" and back["condition"] == "intact"
    assert events(system, lid) == ["request", "approve", "checkout", "renew", "return"]
    assert [a for a, _ in audit_actions(system, lid)] == ["loan.request", "loan.approve", "loan.checkout",
                                                          "loan.renew", "loan.return"]
    assert system.loans.records_out([_rid(system, lend["a"])]) == {}
    shown = system.loans.show(li, lid)
    assert [e["actor"] for e in shown["events"]] == ["li", "wang", "wang", "li", "wang"]


def _rid(system, archive_no: str) -> str:
    with system.db.read() as s:
        return system.records.find(s, archive_no).id


def test_nobody_approves_their_own_request(system, lend):
    wang = lend["who"]("wang")
    lid = system.loans.request(wang, [lend["a"]], "自查", "view")["loan_id"]
    with pytest.raises(PermissionDenied, match="自己"):
        system.loans.approve(wang, lid)
    assert snapshot(system, lid)[0] == "requested"
    assert ("loan.approve", "denied") in audit_actions(system, lid)
    zhao = lend["who"]("zhao")
    lid2 = system.loans.request(zhao, [lend["c"]], "复核", "view")["loan_id"]
    with pytest.raises(PermissionDenied):
        system.loans.approve(zhao, lid2)


def test_staff_cannot_approve_at_all(system, lend):
    lid = system.loans.request(lend["who"]("li"), [lend["a"]], "核对", "view")["loan_id"]
    with pytest.raises(PermissionDenied):
        system.loans.approve(lend["who"]("sun"), lid)


def test_a_confidential_record_needs_a_managers_approval(system, lend):
    li = lend["who"]("li")
    lid = system.loans.request(li, [lend["c"]], "物业费纠纷", "view", days=5)["loan_id"]
    with pytest.raises(PermissionDenied, match="负责人"):
        system.loans.approve(lend["who"]("wang"), lid)
    assert snapshot(system, lid)[0] == "requested"
    assert system.loans.approve(lend["who"]("zhao"), lid)["state"] == "approved"


def test_approver_queue_shows_only_what_they_may_decide(system, lend):
    li = lend["who"]("li")
    internal = system.loans.request(li, [lend["a"]], "核对", "view")["loan_id"]
    sensitive = system.loans.request(li, [lend["c"]], "核对", "view")["loan_id"]
    assert [r["loan_id"] for r in system.loans.queue(lend["who"]("wang"))] == [internal]
    assert [r["loan_id"] for r in system.loans.queue(lend["who"]("zhao"))] == [internal, sensitive]
    with pytest.raises(PermissionDenied):
        system.loans.queue(li)


def test_an_original_that_is_out_cannot_be_checked_out_again(system, lend):
    wang = lend["who"]("wang")
    first = system.loans.request(lend["who"]("li"), [lend["a"]], "核对", "physical")["loan_id"]
    second = system.loans.request(lend["who"]("sun"), [lend["b"], lend["a"]], "复核", "physical")["loan_id"]
    system.loans.approve(wang, first)
    system.loans.approve(wang, second)
    system.loans.checkout(wang, first)
    before = snapshot(system, second)
    with pytest.raises(Conflict, match="已借出"):
        system.loans.checkout(wang, second)
    assert snapshot(system, second) == before  # b was not taken out half-way either
    system.loans.return_(wang, first, "intact")
    assert system.loans.checkout(wang, second)["state"] == "checked_out"


def test_renewing_past_thirty_days_in_total_is_refused_and_nothing_changes(system, lend, clock):
    wang = lend["who"]("wang")
    lid = system.loans.request(lend["who"]("li"), [lend["a"]], "核对", "physical", days=7)["loan_id"]
    system.loans.approve(wang, lid)
    system.loans.checkout(wang, lid)
    system.loans.renew(wang, lid, 20)
    before = snapshot(system, lid)
    with pytest.raises(Conflict, match="30"):
        system.loans.renew(wang, lid, 4)
    assert snapshot(system, lid) == before
    assert system.loans.renew(wang, lid, 3)["days"] == 30
    with pytest.raises(InvalidInput):
        system.loans.renew(wang, lid, 0)


def test_only_a_loan_that_is_out_can_be_returned_or_renewed(system, lend):
    wang = lend["who"]("wang")
    lid = system.loans.request(lend["who"]("li"), [lend["a"]], "核对", "physical")["loan_id"]
    with pytest.raises(Conflict, match="没有借出"):
        system.loans.return_(wang, lid, "intact")
    system.loans.approve(wang, lid)
    with pytest.raises(Conflict):
        system.loans.renew(wang, lid, 3)
    with pytest.raises(Conflict, match="没有借出"):
        system.loans.return_(wang, lid, "intact")
    system.loans.checkout(wang, lid)
    system.loans.return_(wang, lid, "intact")
    with pytest.raises(Conflict):
        system.loans.return_(wang, lid, "intact")
    assert events(system, lid) == ["request", "approve", "checkout", "return"]


def test_a_damaged_return_opens_an_incident_until_an_archivist_closes_it(system, lend):
    wang, li = lend["who"]("wang"), lend["who"]("li")
    lid = system.loans.request(li, [lend["a"]], "核对", "physical")["loan_id"]
    system.loans.approve(wang, lid)
    system.loans.checkout(wang, lid)
    with pytest.raises(InvalidInput, match="说明"):
        system.loans.return_(wang, lid, "damaged")
    with pytest.raises(PermissionDenied):
        system.loans.return_(li, lid, "intact")  # the borrower cannot sign their own return
    system.loans.return_(wang, lid, "damaged", "第3页撕裂")
    [inc] = system.loans.incidents(wang)
    assert inc["kind"] == "damaged" and inc["note"] == "第3页撕裂" and inc["open"]
    with pytest.raises(PermissionDenied):
        system.loans.close_incident(li, inc["id"], "已修复")
    system.loans.close_incident(wang, inc["id"], "已送修复")
    assert system.loans.incidents(wang) == []
    with pytest.raises(Conflict):
        system.loans.close_incident(wang, inc["id"], "again")
    assert events(system, lid)[-1] == "incident.close"


def test_a_lost_original_is_no_longer_out_and_leaves_an_incident(system, lend):
    wang = lend["who"]("wang")
    lid = system.loans.request(lend["who"]("li"), [lend["a"], lend["b"]], "核对", "physical")["loan_id"]
    system.loans.approve(wang, lid)
    system.loans.checkout(wang, lid)
    system.loans.return_(wang, lid, "lost", "借阅人报告遗失")
    with system.db.read() as s:
        assert s.execute(select(func.count()).select_from(Incident)).scalar() == 2
    assert system.loans.records_out([_rid(system, lend["a"])]) == {}


def test_borrowing_a_destroyed_record_is_refused(system, lend):
    with system.db.session() as s:
        s.execute(update(Record).where(Record.archive_no == lend["a"]).values(status="destroyed"))
    with pytest.raises(Conflict, match="已销毁"):
        system.loans.request(lend["who"]("li"), [lend["a"]], "核对", "physical")
    with system.db.read() as s:
        assert s.execute(select(func.count()).select_from(Loan)).scalar() == 0


def test_unknown_loan_ids_and_archive_numbers_are_refused_clearly(system, lend):
    wang = lend["who"]("wang")
    for call in (lambda: system.loans.approve(wang, "JY-2026-999999"),
                 lambda: system.loans.checkout(wang, "nonsense"),
                 lambda: system.loans.show(wang, "JY-1-1")):
        with pytest.raises(NotFound, match="借阅单"):
            call()
    with pytest.raises(NotFound, match="档号"):
        system.loans.request(lend["who"]("li"), [lend["a"], "WX-A-01-2020-9999"], "核对", "physical")
    with system.db.read() as s:
        assert s.execute(select(func.count()).select_from(Loan)).scalar() == 0


def test_dates_in_the_past_and_impossible_periods_are_refused(system, lend, clock):
    li = lend["who"]("li")
    with pytest.raises(InvalidInput, match="不在今天之后"):
        system.loans.request(li, [lend["a"]], "核对", "view", until=dt.date(2026, 3, 1))
    for days in (0, -3, 31):
        with pytest.raises(InvalidInput):
            system.loans.request(li, [lend["a"]], "核对", "view", days=days)
    with pytest.raises(InvalidInput, match="用途"):
        system.loans.request(li, [lend["a"]], "  ", "view")
    with pytest.raises(InvalidInput, match="借阅方式"):
        system.loans.request(li, [lend["a"]], "核对", "borrow")
    assert system.loans.request(li, [lend["a"]], "核对", "view", until=dt.date(2026, 3, 12))["days"] == 10


def test_a_borrower_holds_at_most_the_configured_number_of_open_loans(system, lend):
    from dataclasses import replace

    system.loans.rules = replace(system.loans.rules, max_open=2)
    li = lend["who"]("li")
    system.loans.request(li, [lend["a"]], "一", "view")
    system.loans.request(li, [lend["b"]], "二", "view")
    with pytest.raises(Conflict, match="上限"):
        system.loans.request(li, [lend["c"]], "三", "view")


def test_a_view_loan_grants_exactly_its_records_until_the_due_date(system, lend, clock):
    li, zhao = lend["who"]("li"), lend["who"]("zhao")
    other = _confidential(system, "另一份业主资料")
    with pytest.raises(PermissionDenied):
        system.records.show(li, lend["c"], with_text=True)
    lid = system.loans.request(li, [lend["c"]], "物业费纠纷", "view", days=3)["loan_id"]
    with pytest.raises(PermissionDenied):  # not before approval
        system.records.show(li, lend["c"])
    system.loans.approve(zhao, lid)
    assert "业主登记表" in system.records.show(li, lend["c"], with_text=True)["text"]
    with pytest.raises(PermissionDenied):
        system.records.show(li, other)  # exactly those records
    with pytest.raises(PermissionDenied):
        system.records.get(li, lend["c"], system.settings.home / "x.pdf")  # reading is not downloading
    with pytest.raises(PermissionDenied):
        system.records.show(lend["who"]("sun"), lend["c"])  # only the borrower
    assert system.loans.records_out([_rid(system, lend["c"])]) == {_rid(system, lend["c"]): lid}
    clock.advance(3)
    system.records.show(li, lend["c"])  # the due day itself is still inside the loan
    clock.advance(1)
    with pytest.raises(PermissionDenied):
        system.records.show(li, lend["c"], with_text=True)
    assert system.loans.records_out([_rid(system, lend["c"])]) == {}
    assert system.loans.show(li, lid)["state_name"] == "已到期"


def test_an_electronic_loan_ended_early_stops_access(system, lend):
    li = lend["who"]("li")
    lid = system.loans.request(li, [lend["c"]], "核对", "view")["loan_id"]
    system.loans.approve(lend["who"]("zhao"), lid)
    system.loans.return_(li, lid)
    with pytest.raises(PermissionDenied):
        system.records.show(li, lend["c"])


def test_a_request_can_be_cancelled_by_its_borrower_but_not_by_others(system, lend):
    li = lend["who"]("li")
    lid = system.loans.request(li, [lend["a"]], "核对", "physical")["loan_id"]
    with pytest.raises(PermissionDenied):
        system.loans.cancel(lend["who"]("sun"), lid)
    assert system.loans.cancel(li, lid, "不需要了")["state"] == "cancelled"
    with pytest.raises(Conflict):
        system.loans.approve(lend["who"]("wang"), lid)


def test_a_rejection_needs_a_reason(system, lend):
    lid = system.loans.request(lend["who"]("li"), [lend["a"]], "核对", "view")["loan_id"]
    with pytest.raises(InvalidInput, match="原因"):
        system.loans.reject(lend["who"]("wang"), lid, " ")
    assert system.loans.reject(lend["who"]("wang"), lid, "用途不明")["reason"] == "用途不明"


def test_staff_see_only_their_own_loans(system, lend):
    li, sun = lend["who"]("li"), lend["who"]("sun")
    mine = system.loans.request(li, [lend["a"]], "核对", "view")["loan_id"]
    system.loans.request(sun, [lend["b"]], "核对", "view")
    assert [r["loan_id"] for r in system.loans.list(li)] == [mine]
    with pytest.raises(PermissionDenied):
        system.loans.list(li, borrower="sun")
    with pytest.raises(PermissionDenied):
        system.loans.show(sun, mine)
    assert len(system.loans.list(lend["who"]("audit1"))) == 2


def test_overdue_list_as_of_a_date_and_report_per_department(system, lend, clock):
    wang = lend["who"]("wang")
    lids = []
    for who, rec, days in (("li", "a", 3), ("sun", "b", 10)):
        lid = system.loans.request(lend["who"](who), [lend[rec]], "核对", "physical", days=days)["loan_id"]
        system.loans.approve(wang, lid)
        system.loans.checkout(wang, lid)
        lids.append(lid)
    assert system.loans.list(wang, overdue=True) == []
    rows = system.loans.list(wang, overdue=True, as_of=dt.date(2026, 3, 10))
    assert [(r["loan_id"], r["days_overdue"]) for r in rows] == [(lids[0], 5)]
    rows = system.loans.list(wang, overdue=True, as_of=dt.date(2026, 4, 1))
    assert [r["loan_id"] for r in rows] == lids
    report = system.loans.overdue_report(lend["who"]("zhao"), dt.date(2026, 4, 1))
    assert {r["department"]: r["overdue"] for r in report} == {"（未登记部门）": 1, "工程部": 1}


def test_the_ledger_lists_events_of_a_period_and_exports_csv_and_xlsx(system, lend, clock, tmp_path):
    from openpyxl import load_workbook

    from dangan.loans.export import HEADERS, export_ledger

    wang = lend["who"]("wang")
    lid = system.loans.request(lend["who"]("li"), [lend["a"]], "核对", "physical")["loan_id"]
    clock.advance(1)
    system.loans.approve(wang, lid)
    rows = system.loans.ledger(lend["who"]("audit1"), dt.date(2026, 3, 3), dt.date(2026, 3, 3))
    assert [r["event"] for r in rows] == ["approve"]
    rows = system.loans.ledger(lend["who"]("audit1"))
    assert [r["event_name"] for r in rows] == ["申请", "批准"]
    with pytest.raises(PermissionDenied):
        system.loans.ledger(lend["who"]("li"))
    csv_text = export_ledger(rows, tmp_path / "l.csv").read_text(encoding="utf-8-sig")
    assert csv_text.splitlines()[0] == ",".join(HEADERS) and lend["a"] in csv_text
    ws = load_workbook(export_ledger(rows, tmp_path / "l.xlsx")).active
    assert [c.value for c in ws[1]] == HEADERS and ws.max_row == 3
    with pytest.raises(InvalidInput):
        export_ledger(rows, tmp_path / "l.pdf")


def test_the_ledger_is_append_only_a_correction_is_a_new_event(system, lend):
    wang = lend["who"]("wang")
    lid = system.loans.request(lend["who"]("li"), [lend["a"]], "核对", "physical")["loan_id"]
    system.loans.approve(wang, lid)
    with system.db.read() as s:
        first = [(e.id, e.seq, e.event, e.at, e.detail) for e in
                 s.execute(select(LoanEvent).where(LoanEvent.loan_id == lid)).scalars()]
    system.loans.cancel(lend["who"]("li"), lid, "改期")
    with system.db.read() as s:
        now = [(e.id, e.seq, e.event, e.at, e.detail) for e in
               s.execute(select(LoanEvent).where(LoanEvent.loan_id == lid).order_by(LoanEvent.seq)).scalars()]
    assert now[:2] == first and now[2][2] == "cancel"
    assert json.loads(now[2][4]) == {"reason": "改期"}


def _confidential(system, title: str) -> str:
    from tests.loans.conftest import add_record

    return add_record(system, title, security="confidential", category="owner", location="A-01-001-0103")


def test_the_database_refuses_to_edit_or_delete_ledger_events(system, lend):
    from sqlalchemy import delete
    from sqlalchemy.exc import DBAPIError

    lid = system.loans.request(lend["who"]("li"), [lend["a"]], "核对", "view")["loan_id"]
    for stmt in (update(LoanEvent).where(LoanEvent.loan_id == lid).values(actor="someone else"),
                 delete(LoanEvent).where(LoanEvent.loan_id == lid)):
        with pytest.raises(DBAPIError, match="append-only"), system.db.session() as s:
            s.execute(stmt)
    assert events(system, lid) == ["request"]


def test_records_out_for_a_whole_due_list_matches_asking_a_few_at_a_time(system, lend):
    """Above MANY_IDS ids the open loans are read once and matched in memory: same answer."""
    from dangan.loans.service import MANY_IDS

    li, wang, zhao = lend["who"]("li"), lend["who"]("wang"), lend["who"]("zhao")
    physical = system.loans.request(li, [lend["a"]], "装修纠纷核对", "physical", days=7)["loan_id"]
    system.loans.approve(wang, physical)
    system.loans.checkout(wang, physical)
    view = system.loans.request(li, [lend["c"]], "物业费纠纷", "view", days=3)["loan_id"]
    system.loans.approve(zhao, view)
    a, b, c = (_rid(system, lend[k]) for k in "abc")
    filler = [f"{i:032x}" for i in range(MANY_IDS + 5)]
    assert system.loans.records_out([a, b, c]) == {a: physical, c: view}
    assert system.loans.records_out([*filler, c, b, a]) == {a: physical, c: view}
    assert system.loans.records_out([*filler, b, c]) == {c: view}  # only what was asked about
    assert system.loans.records_out(filler) == {}
