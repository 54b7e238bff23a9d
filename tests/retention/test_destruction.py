"""Destruction batches: made, approved by someone else, executed with a supervisor, refused
whole when any record fails a re-check; crypto-shredded, registered and verifiable."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from dangan.archive import shred
from dangan.archive.models import AuditEntry, Record
from dangan.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from dangan.retention.service import RetentionService
from tests.retention.conftest import add, approved_batch, destroyable


def _record(system, no: str) -> Record:
    with system.db.read() as s:
        return system.records.find(s, no)


def test_full_cycle_shreds_the_key_deletes_objects_and_registers_the_record(people, tmp_path) -> None:
    system = people
    nos = destroyable(system, 2)
    ids = [_record(system, no).id for no in nos]
    system.search_service.sync()
    assert set(ids) <= system.search_service.backend.get_ids()
    batch = approved_batch(system, nos)
    out = system.retention.execute(system.actor("wang"), batch, "sun", "档案室碎纸间")
    assert out["state"] == "executed"
    for rid, no in zip(ids, nos, strict=True):
        rec = _record(system, no)
        assert rec.status == "destroyed" and rec.wrapped_dek is None
        assert rec.archive_no == no and rec.title  # the tombstone keeps the catalogue entry
        assert shred.remaining_objects(system.store, rid) == []
    assert not set(ids) & system.search_service.backend.get_ids()
    with pytest.raises(NotFound, match="已销毁"):
        system.records.get(system.actor("wang"), nos[0], tmp_path / "x.pdf")
    register = system.retention.register(system.actor("audit1"), batch)
    assert [r["archive_no"] for r in register] == sorted(nos)
    row = register[0]
    assert (row["maker"], row["approver"], row["executor"], row["supervisor"], row["place"]) == (
        "wang", "zhao", "wang", "sun", "档案室碎纸间")
    report = system.retention.verify(system.actor("audit1"), batch)
    assert report["ok"], report
    assert all(all(v is True for v in r["checks"].values()) for r in report["records"])


def test_certificate_is_a_pdf_with_an_embedded_chinese_font(people) -> None:
    system = people
    batch = approved_batch(system, destroyable(system, 1))
    system.retention.execute(system.actor("wang"), batch, "sun", "档案室")
    pdf = system.retention.certificate(system.actor("audit1"), batch)
    assert pdf.startswith(b"%PDF")
    assert b"FontFile2" in pdf or b"STSong-Light" in pdf


def test_certificate_of_a_batch_not_executed_is_refused(people) -> None:
    system = people
    batch = approved_batch(system, destroyable(system, 1))
    with pytest.raises(Conflict, match="尚未执行"):
        system.retention.certificate(system.actor("audit1"), batch)


def test_the_maker_cannot_approve_their_own_batch(people) -> None:
    system = people
    system.users.add(system.actor("secofficer"), "boss", ["manager", "archivist"], "secret")
    nos = destroyable(system, 1)
    batch = system.retention.create_batch(system.actor("boss"), nos, "到期")["batch_id"]
    with pytest.raises(PermissionDenied, match="编制人不能审批"):
        system.retention.approve(system.actor("boss"), batch)
    assert system.retention.show_batch(system.actor("boss"), batch)["state"] == "draft"


def test_executing_an_unapproved_batch_is_refused_and_nothing_is_destroyed(people) -> None:
    system = people
    nos = destroyable(system, 1)
    batch = system.retention.create_batch(system.actor("wang"), nos, "到期")["batch_id"]
    with pytest.raises(Conflict, match="尚未经负责人审批"):
        system.retention.execute(system.actor("wang"), batch, "sun", "档案室")
    assert _record(system, nos[0]).status == "active"


def test_a_hold_after_approval_voids_it_and_execution_names_the_held_record(people) -> None:
    system = people
    nos = destroyable(system, 2)
    batch = approved_batch(system, nos)
    system.retention.create_hold(system.actor("wang"), "case-1", "业主诉讼")
    out = system.retention.add_to_hold(system.actor("wang"), "case-1", [nos[1]])
    assert out["voided_batches"] == [batch]
    with pytest.raises(Conflict) as err:
        system.retention.execute(system.actor("wang"), batch, "sun", "档案室")
    assert nos[1] in str(err.value) and "冻结" in str(err.value)
    with pytest.raises(Conflict, match="冻结"):
        system.retention.approve(system.actor("zhao"), batch)
    assert all(_record(system, no).status == "active" for no in nos)
    system.retention.release_hold(system.actor("wang"), "case-1", "和解")
    system.retention.approve(system.actor("zhao"), batch)
    system.retention.execute(system.actor("wang"), batch, "sun", "档案室")
    assert all(_record(system, no).status == "destroyed" for no in nos)


def test_a_hold_on_an_approved_batch_record_stops_execution_even_before_reapproval(people) -> None:
    """The re-check at execution catches a hold however the batch got there."""
    system = people
    nos = destroyable(system, 1)
    batch = approved_batch(system, nos)
    system.retention.create_hold(system.actor("wang"), "audit-2026", "年度审计")
    system.retention.add_to_hold(system.actor("wang"), "audit-2026", nos)
    with pytest.raises(Conflict, match=nos[0]):
        system.retention.execute(system.actor("wang"), batch, "sun", "档案室")


def test_a_record_on_loan_is_refused(people) -> None:
    system = people
    nos = destroyable(system, 2)
    batch = approved_batch(system, nos)
    out_id = _record(system, nos[0]).id
    system.retention.on_loan = lambda ids: {i: "L-0007" for i in ids if i == out_id}
    with pytest.raises(Conflict) as err:
        system.retention.execute(system.actor("wang"), batch, "sun", "档案室")
    assert nos[0] in str(err.value) and "借出中" in str(err.value) and nos[1] not in str(err.value)
    assert all(_record(system, no).status == "active" for no in nos)


def test_a_record_on_loan_cannot_be_put_in_a_batch(people) -> None:
    system = people
    nos = destroyable(system, 1)
    system.retention.on_loan = lambda ids: dict.fromkeys(ids, "L-1")
    with pytest.raises(Conflict, match="借出中"):
        system.retention.create_batch(system.actor("wang"), nos, "到期")


def test_a_record_not_yet_due_cannot_be_appraised_for_destruction_or_batched(people) -> None:
    system = people
    import datetime as dt

    fresh = add(system, date=dt.date.today())
    with pytest.raises(InvalidInput, match="未到期"):
        system.retention.appraise(system.actor("wang"), [fresh], "destroy", "试图提前销毁")
    with pytest.raises(Conflict, match=r"未到期|未经鉴定"):
        system.retention.create_batch(system.actor("wang"), [fresh], "提前")


def test_a_record_not_yet_due_at_execution_is_refused(people) -> None:
    system = people
    import datetime as dt

    nos = destroyable(system, 1)
    batch = approved_batch(system, nos)
    with pytest.raises(Conflict, match="未到期"):
        system.retention.execute(system.actor("wang"), batch, "sun", "档案室", today=dt.date(2010, 1, 1))


def test_a_permanent_record_is_refused(people) -> None:
    system = people
    perm = add(system, title="设备台账", category="equipment")
    with pytest.raises(InvalidInput, match="永久保管"):
        system.retention.appraise(system.actor("wang"), [perm], "destroy", "清理")
    with pytest.raises(Conflict, match="永久保管"):
        system.retention.create_batch(system.actor("wang"), [perm], "清理")


def test_unknown_ineligible_or_self_supervisor_is_refused(people) -> None:
    system = people
    batch = approved_batch(system, nos := destroyable(system, 1))
    for supervisor, message in (("nobody", "不是系统中的用户"), ("wang", "不能同时担任监销人"),
                                ("li", "不能担任监销人"), (None, "需要监销人")):
        with pytest.raises(InvalidInput, match=message):
            system.retention.execute(system.actor("wang"), batch, supervisor, "档案室")
    with pytest.raises(InvalidInput, match="地点"):
        system.retention.execute(system.actor("wang"), batch, "sun", " ")
    assert _record(system, nos[0]).status == "active"


def test_running_execute_twice_says_it_was_done_and_changes_nothing(people) -> None:
    system = people
    batch = approved_batch(system, destroyable(system, 1))
    system.retention.execute(system.actor("wang"), batch, "sun", "档案室")
    before = len(system.retention.register(system.actor("audit1")))
    with pytest.raises(Conflict, match=r"已于 .* 执行完毕，本次未做任何改动"):
        system.retention.execute(system.actor("wang"), batch, "sun", "档案室")
    assert len(system.retention.register(system.actor("audit1"))) == before


def test_an_auditor_can_neither_approve_nor_execute(people) -> None:
    system = people
    nos = destroyable(system, 1)
    batch = system.retention.create_batch(system.actor("wang"), nos, "到期")["batch_id"]
    with pytest.raises(PermissionDenied):
        system.retention.approve(system.actor("audit1"), batch)
    system.retention.approve(system.actor("zhao"), batch)
    with pytest.raises(PermissionDenied):
        system.retention.execute(system.actor("audit1"), batch, "sun", "档案室")
    with pytest.raises(PermissionDenied):
        system.retention.create_batch(system.actor("audit1"), nos, "到期")
    with system.db.read() as s:
        denied = s.execute(select(AuditEntry.action).where(AuditEntry.actor == "audit1",
                                                           AuditEntry.outcome == "denied")).scalars().all()
    assert {"destroy.approve", "destroy.execute", "destroy.create"} <= set(denied)


def test_a_staff_member_cannot_make_a_batch(people) -> None:
    system = people
    nos = destroyable(system, 1)
    with pytest.raises(PermissionDenied):
        system.retention.create_batch(system.actor("li"), nos, "到期")


def test_a_record_already_in_an_open_batch_cannot_be_batched_again(people) -> None:
    system = people
    nos = destroyable(system, 1)
    system.retention.create_batch(system.actor("wang"), nos, "到期")
    with pytest.raises(Conflict, match="已在销毁清册"):
        system.retention.create_batch(system.actor("wang"), nos, "再来一次")


def test_paper_originals_are_listed_with_boxes_and_must_each_be_confirmed(people) -> None:
    system = people
    paper = add(system, title="纸质维修单", custody="3号柜-12盒")
    digital = add(system, title="电子维修单")
    system.retention.appraise(system.actor("wang"), [paper, digital], "destroy", "期满")
    batch = approved_batch(system, [paper, digital])
    shown = system.retention.show_batch(system.actor("wang"), batch)
    assert [(r["archive_no"], r["box"]) for r in shown["records"] if r["paper"]] == [(paper, "3号柜-12盒")]
    with pytest.raises(InvalidInput, match="3号柜-12盒"):
        system.retention.execute(system.actor("wang"), batch, "sun", "档案室")
    system.retention.execute(system.actor("wang"), batch, "sun", "档案室", paper_confirmed=[paper])
    entry = next(r for r in system.retention.register(system.actor("audit1"), batch) if r["archive_no"] == paper)
    assert entry["paper"] and entry["box"] == "3号柜-12盒"


def test_verify_names_a_record_whose_object_reappeared(people) -> None:
    system = people
    nos = destroyable(system, 1)
    batch = approved_batch(system, nos)
    system.retention.execute(system.actor("wang"), batch, "sun", "档案室")
    rid = _record(system, nos[0]).id
    system.store.put_bytes(shred.object_keys(rid)[0], b"ciphertext restored from somewhere")
    report = system.retention.verify(system.actor("audit1"), batch)
    assert not report["ok"]
    assert "存储中仍有对象" in report["records"][0]["checks"]["objects"]


def test_verify_needs_the_verify_right_not_content_rights(people) -> None:
    system = people
    batch = approved_batch(system, destroyable(system, 1))
    system.retention.execute(system.actor("wang"), batch, "sun", "档案室")
    assert not system.actor("audit1").can("record.get")
    assert system.retention.verify(system.actor("audit1"), batch)["ok"]
    with pytest.raises(PermissionDenied):
        system.retention.verify(system.actor("li"), batch)


def test_the_on_loan_hook_defaults_to_nothing_on_loan(people) -> None:
    assert isinstance(people.retention, RetentionService)
    assert people.retention.on_loan(["x"]) == {}


def test_a_hold_that_arrives_after_the_checks_still_stops_the_shredding(people, monkeypatch) -> None:
    system = people
    nos = destroyable(system, 1)
    batch = approved_batch(system, nos)
    system.retention.create_hold(system.actor("wang"), "late", "迟到的诉讼")
    system.retention.add_to_hold(system.actor("wang"), "late", nos)
    with system.db.session() as s:  # as if the hold had come in between the checks and the shredding
        from dangan.retention.models import DestructionBatch

        row = s.get(DestructionBatch, batch)
        row.state, row.approved_by = "approved", "zhao"
    monkeypatch.setattr(system.retention, "_problems", lambda *a, **k: {})
    with pytest.raises(Conflict, match="执行中止"):
        system.retention.execute(system.actor("wang"), batch, "sun", "档案室")
    assert _record(system, nos[0]).status == "active"
    monkeypatch.undo()
    system.retention.release_hold(system.actor("wang"), "late")
    system.retention.execute(system.actor("wang"), batch)  # resumes with the recorded supervisor and place
    assert _record(system, nos[0]).status == "destroyed"


def test_a_record_checked_out_on_a_real_loan_stops_the_batch_until_it_comes_back(people) -> None:
    """The composition root connects retention to the loans ledger: no fake hook here."""
    system = people
    nos = destroyable(system, 2)
    batch = approved_batch(system, nos)
    loan = system.loans.request(system.actor("li"), [nos[0]], "核对维修记录", kind="physical", days=7)
    system.loans.approve(system.actor("wang"), loan["loan_id"])
    system.loans.checkout(system.actor("wang"), loan["loan_id"])
    with pytest.raises(Conflict) as err:
        system.retention.execute(system.actor("wang"), batch, "sun", "档案室")
    assert nos[0] in str(err.value) and nos[1] not in str(err.value)
    assert all(_record(system, no).status == "active" for no in nos)
    system.loans.return_(system.actor("wang"), loan["loan_id"], "intact")
    system.retention.execute(system.actor("wang"), batch, "sun", "档案室")
    assert all(_record(system, no).status == "destroyed" for no in nos)
def test_the_loans_hook_may_open_its_own_transactions(people) -> None:
    """LoansService.records_out reads (or writes) through the database itself: the retention
    service calls it outside its own write transactions."""
    system = people
    calls = []

    def records_out(ids):
        with system.db.session():
            calls.append(len(ids))
        return {}

    system.retention.on_loan = records_out
    batch = approved_batch(system, destroyable(system, 2))
    system.retention.execute(system.actor("wang"), batch, "sun", "档案室")
    assert len(calls) >= 3  # create, approve, execute
