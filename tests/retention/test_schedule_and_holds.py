"""The due list, appraisal and legal holds."""

from __future__ import annotations

import datetime as dt

import pytest

from dangan.errors import Conflict, InvalidInput, PermissionDenied
from tests.retention.conftest import add


def test_due_list_lists_expired_records_with_counts(system) -> None:
    old = add(system)
    add(system, title="新维修单", date=dt.date.today())
    add(system, title="B 项目维修单", location="A-02-001-0101")
    due = system.retention.due(system.actor("wang"), dt.date(2030, 1, 1))
    assert old in [r["archive_no"] for r in due["records"]]
    assert due["total"] == 2
    assert due["counts"]["category"] == {"maintenance": 2}
    assert due["counts"]["estate"] == {"A": 2}
    assert due["counts"]["year"] == {"2005": 2}
    assert system.retention.due(system.actor("wang"), dt.date(2015, 2, 28))["total"] == 0
    assert system.retention.due(system.actor("wang"), dt.date(2030, 1, 1), location="A-02")["total"] == 1


def test_a_record_without_a_trigger_date_is_listed_as_such_never_due(system) -> None:
    add(system, date=None)
    due = system.retention.due(system.actor("wang"), dt.date(2999, 1, 1))
    assert due["total"] == 0 and due["no_trigger"] == 1


def test_permanent_categories_are_never_due(system) -> None:
    add(system, title="设备台账", category="equipment")
    assert system.retention.due(system.actor("wang"), dt.date(2999, 1, 1))["total"] == 0


def test_the_due_list_hides_records_above_the_readers_clearance(system) -> None:
    add(system, title="业主登记表", category="owner", date=dt.date(1980, 1, 1))  # confidential by default
    assert system.retention.due(system.actor("wang"), dt.date(2030, 1, 1))["total"] == 1
    system.users.add(system.actor("secofficer"), "lowmgr", ["manager"], "internal")
    assert system.retention.due(system.actor("lowmgr"), dt.date(2030, 1, 1))["total"] == 0


def test_staff_cannot_read_the_due_list(system) -> None:
    with pytest.raises(PermissionDenied):
        system.retention.due(system.actor("li"))


def test_extending_moves_the_due_date_and_is_in_the_records_history(system) -> None:
    no = add(system)
    out = system.retention.appraise(system.actor("wang"), [no], "extend", "仍有纠纷可能", years=5)
    until = dt.date.fromisoformat(out[0]["until"])
    assert until.year == dt.date.today().year + 5
    assert system.retention.due(system.actor("wang"), dt.date.today())["total"] == 0
    assert system.retention.due(system.actor("wang"), until)["total"] == 1
    shown = system.records.show(system.actor("wang"), no)
    assert shown["history"][-1]["changes"]["appraisal"] == [None, "extend"]
    assert "仍有纠纷可能" in shown["history"][-1]["reason"]
    assert shown["retention"]["until"] == until.isoformat()


def test_keeping_permanently_takes_a_record_off_the_due_list_for_good(system) -> None:
    no = add(system)
    system.retention.appraise(system.actor("wang"), [no], "permanent", "具有长期保存价值")
    assert system.retention.due(system.actor("wang"), dt.date(2999, 1, 1))["total"] == 0
    assert system.records.show(system.actor("wang"), no)["retention"]["period"] == "Y"


def test_bulk_appraisal_is_all_or_nothing(system) -> None:
    due = add(system)
    fresh = add(system, date=dt.date.today())
    with pytest.raises(InvalidInput, match=fresh):
        system.retention.appraise(system.actor("wang"), [due, fresh], "destroy", "批量鉴定")
    assert system.retention.due(system.actor("wang"))["records"][0]["decision"] is None


def test_appraisal_needs_a_reason_a_known_decision_and_years_for_extend(system) -> None:
    no = add(system)
    with pytest.raises(InvalidInput, match="理由"):
        system.retention.appraise(system.actor("wang"), [no], "destroy", " ")
    with pytest.raises(InvalidInput, match="鉴定结论"):
        system.retention.appraise(system.actor("wang"), [no], "burn", "x")
    with pytest.raises(InvalidInput, match="年数"):
        system.retention.appraise(system.actor("wang"), [no], "extend", "x")
    with pytest.raises(PermissionDenied):
        system.retention.appraise(system.actor("zhao"), [no], "destroy", "x")


def test_an_event_date_is_what_the_period_counts_from(system) -> None:
    no = add(system, title="物业服务合同", category="contract", date=dt.date(1990, 1, 1))
    assert system.retention.due(system.actor("wang"), dt.date(2021, 1, 1))["total"] == 1
    out = system.retention.set_event(system.actor("wang"), no, dt.date(2000, 6, 30), "合同终止")
    assert out["until"] == "2030-06-30"
    assert system.retention.due(system.actor("wang"), dt.date(2021, 1, 1))["total"] == 0


def test_monthly_report_lists_what_falls_due_that_month(system) -> None:
    add(system, date=dt.date(2005, 3, 1))
    add(system, date=dt.date(2005, 4, 1))
    report = system.retention.report(system.actor("wang"), "2015-03")
    assert report["falling_due"] == 1 and report["total"] == 1
    with pytest.raises(InvalidInput):
        system.retention.report(system.actor("wang"), "2015-13")


def test_a_hold_shows_on_every_view_of_the_record(system) -> None:
    no = add(system)
    system.retention.create_hold(system.actor("wang"), "lawsuit-7", "业主诉讼", case_ref="(2026)粤0304民初1号")
    system.retention.add_to_hold(system.actor("wang"), "lawsuit-7", [no])
    assert system.records.show(system.actor("wang"), no)["holds"] == ["lawsuit-7"]
    _, rows = system.records.list(system.actor("wang"))
    assert [r["holds"] for r in rows if r["archive_no"] == no] == [["lawsuit-7"]]
    due = system.retention.due(system.actor("wang"))
    assert due["records"][0]["holds"] == ["lawsuit-7"]
    system.retention.release_hold(system.actor("wang"), "lawsuit-7", "结案")
    assert system.records.show(system.actor("wang"), no)["holds"] == []


def test_a_held_record_cannot_be_appraised_for_destruction(system) -> None:
    no = add(system)
    system.retention.create_hold(system.actor("wang"), "h", "争议")
    system.retention.add_to_hold(system.actor("wang"), "h", [no])
    with pytest.raises(InvalidInput, match="冻结"):
        system.retention.appraise(system.actor("wang"), [no], "destroy", "期满")


def test_holds_by_location_prefix(system) -> None:
    a = add(system, location="A-01-001-0101")
    b = add(system, location="A-01-002-0101")
    c = add(system, location="A-02-001-0101")
    system.retention.create_hold(system.actor("wang"), "bldg-1", "1 号楼纠纷")
    out = system.retention.add_to_hold(system.actor("wang"), "bldg-1", location="A-01")
    assert sorted(out["added"]) == sorted([a, b]) and c not in out["added"]


def test_holds_call_the_object_stores_legal_hold(system, monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(system.store, "set_legal_hold", lambda key, on: calls.append((key, on)))
    no = add(system)
    system.retention.create_hold(system.actor("wang"), "h", "争议")
    system.retention.add_to_hold(system.actor("wang"), "h", [no])
    assert calls and all(on for _, on in calls)
    calls.clear()
    system.retention.release_hold(system.actor("wang"), "h")
    assert calls and not any(on for _, on in calls)


def test_hold_names_are_unique_and_releases_final(system) -> None:
    system.retention.create_hold(system.actor("wang"), "h", "争议")
    with pytest.raises(Conflict):
        system.retention.create_hold(system.actor("wang"), "h", "争议")
    system.retention.release_hold(system.actor("wang"), "h")
    with pytest.raises(Conflict, match="已于"):
        system.retention.release_hold(system.actor("wang"), "h")
    with pytest.raises(Conflict, match="已解除"):
        system.retention.add_to_hold(system.actor("wang"), "h", [add(system)])


def test_staff_and_auditors_cannot_manage_holds(system) -> None:
    for name in ("li", "audit1"):
        with pytest.raises(PermissionDenied):
            system.retention.create_hold(system.actor(name), "x", "y")


def test_recompute_after_a_schedule_change(system) -> None:
    add(system)
    from dataclasses import replace

    cats = tuple(replace(c, retention_years=40) if c.key == "maintenance" else c
                 for c in system.scheme.categories)
    system.retention.scheme = replace(system.scheme, categories=cats)
    out = system.retention.recompute(system.actor("wang"))
    assert out["changed"] == 1
    assert system.retention.due(system.actor("wang"), dt.date(2030, 1, 1))["total"] == 0


def test_holds_by_a_saved_search(system) -> None:
    a = add(system, title="外墙渗水投诉处理", text="三号楼外墙渗水，业主投诉")
    add(system, title="电梯维修", text="电梯门机更换")
    system.search_service.sync()
    system.retention.create_hold(system.actor("wang"), "渗水诉讼", "诉讼")
    out = system.retention.add_to_hold(system.actor("wang"), "渗水诉讼", query="渗水")
    assert out["added"] == [a]
