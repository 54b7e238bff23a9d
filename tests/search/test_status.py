"""The search status tells the truth about loans and holds, on SQLite and PostgreSQL: a
paper original out on loan is 借出中 (on_loan), a record under a legal hold 冻结中
(on_hold, which wins over a loan), else the record's own status. Lending, returning,
holding and releasing each leave an outbox row in their own transaction; the index, its
facet, the database-side (目录可查) filter and the CLI all give the same answer."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy import event, select

from dangan.archive.models import Outbox, Record
from dangan.archive.records import RecordInput
from dangan.archive.scheme import load_scheme
from dangan.search.backend import STATUSES, open_backend
from dangan.search.service import SearchService
from tests.web.conftest import PASSWORD, client_as


def add(system, title: str, security: str = "internal", category: str = "maintenance",
        queue: bool = False) -> str:
    data = RecordInput(original_name="x.pdf", media_type="application/pdf", title=title, category=category,
                       location="A-01-001-0101", security=security, doc_date=dt.date(2024, 3, 5),
                       text_pages=[{"page": 1, "text": f"{title} 正文", "confidence": 1.0}], queue=queue)
    out = system.records.create(system.actor("wang"), io.BytesIO(uuid.uuid4().bytes * 10), data)
    return out.archive_no or out.provisional_no


def rid(system, no: str) -> str:
    with system.db.read() as s:
        return system.records.find(s, no).id


def lend(system, no: str, kind: str = "physical", approver: str = "wang") -> str:
    """li borrows `no`; a physical loan is also checked out at the desk."""
    loan = system.loans.request(system.actor("li"), [no], "核对维修记录", kind, days=7)["loan_id"]
    system.loans.approve(system.actor(approver), loan)
    if kind == "physical":
        system.loans.checkout(system.actor("wang"), loan)
    return loan


def outbox_has(system, no: str) -> bool:
    with system.db.read() as s:
        return s.execute(select(Outbox.id).where(Outbox.record_id == rid(system, no))).first() is not None


def statuses(svc: SearchService, status: str, who: str = "wang") -> set[str]:
    svc.sync()
    res = svc.search(svc.system.actor(who), "", status=[status], limit=200)
    return {h["archive_no"] for h in res["hits"]}


def facet(svc: SearchService, who: str = "wang") -> dict[str, int]:
    svc.sync()
    return dict(svc.search(svc.system.actor(who), "", limit=1)["facets"]["status"])


@pytest.fixture
def svc(system) -> SearchService:
    return system.search_service


def test_a_lent_original_is_on_loan_in_search_and_facet_until_it_comes_back(svc) -> None:
    system = svc.system
    a, b = add(system, "电梯维修记录"), add(system, "水泵保养记录")
    svc.sync()
    assert facet(svc) == {"active": 2}
    loan = lend(system, a)
    assert outbox_has(system, a) and not outbox_has(system, b)  # written by the checkout itself
    assert statuses(svc, "on_loan") == {a}
    assert statuses(svc, "active") == {b}
    assert facet(svc) == {"active": 1, "on_loan": 1}
    system.loans.return_(system.actor("wang"), loan, "intact")
    assert outbox_has(system, a)
    assert statuses(svc, "on_loan") == set()
    assert facet(svc) == {"active": 2}


def test_an_electronic_loan_takes_nothing_out_and_leaves_the_status_alone(svc) -> None:
    system = svc.system
    a = add(system, "电梯维修记录")
    lend(system, a, kind="view")
    assert statuses(svc, "on_loan") == set() and statuses(svc, "active") == {a}


def test_a_hold_shows_on_hold_wins_over_a_loan_and_its_release_restores_both(svc) -> None:
    system = svc.system
    a, b, c = add(system, "电梯维修记录"), add(system, "水泵保养记录"), add(system, "消防巡查记录")
    lend(system, b)
    svc.sync()
    zhao = system.actor("zhao")
    system.retention.create_hold(zhao, "纠纷2026-01", "业主诉讼")
    system.retention.add_to_hold(zhao, "纠纷2026-01", [a, b])
    assert outbox_has(system, a) and outbox_has(system, b) and not outbox_has(system, c)
    assert statuses(svc, "on_hold") == {a, b}
    assert statuses(svc, "on_loan") == set()  # held wins over lent
    assert facet(svc) == {"active": 1, "on_hold": 2}
    system.retention.release_hold(zhao, "纠纷2026-01", "和解")
    assert outbox_has(system, a) and outbox_has(system, b) and not outbox_has(system, c)
    assert statuses(svc, "on_hold") == set()
    assert statuses(svc, "on_loan") == {b}
    assert facet(svc) == {"active": 2, "on_loan": 1}


def test_a_record_under_a_second_hold_stays_on_hold_when_the_first_is_released(svc) -> None:
    system = svc.system
    a = add(system, "电梯维修记录")
    zhao = system.actor("zhao")
    for name in ("甲", "乙"):
        system.retention.create_hold(zhao, name, "审计")
        system.retention.add_to_hold(zhao, name, [a])
    system.retention.release_hold(zhao, "甲")
    assert statuses(svc, "on_hold") == {a}


def test_reindex_and_the_database_filter_agree_with_the_index_for_every_status(svc) -> None:
    system = svc.system
    plain, lent, held, both = (add(system, t) for t in ("维修一", "维修二", "维修三", "维修四"))
    queued = add(system, "待分类文件", queue=True)
    lend(system, lent)
    lend(system, both)
    zhao = system.actor("zhao")
    system.retention.create_hold(zhao, "审计", "年度审计")
    system.retention.add_to_hold(zhao, "审计", [held, both])
    expected = {"active": {plain}, "queued": {queued}, "on_loan": {lent}, "on_hold": {held, both},
                "destroyed": set()}
    svc.reindex()
    for status in STATUSES:
        assert statuses(svc, status) == expected[status], status
        with system.db.read() as s:
            nos = {r.archive_no or r.provisional_no for r in s.execute(
                select(Record).where(system.record_status.clause([status]))).scalars()}
        assert nos == expected[status], status
    with system.db.read() as s:
        both_ways = s.execute(select(Record.id).where(system.record_status.clause(["on_loan", "queued"])))
        assert set(both_ways.scalars()) == {rid(system, lent), rid(system, queued)}


def test_the_catalogue_filters_by_the_same_status(svc) -> None:
    """li (internal) sees a confidential owner file only as a catalogue entry (目录可查),
    which the database lists: on loan it must be found by on_loan, not by active."""
    system = svc.system
    path = system.settings.scheme_path
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('key = "owner"\n', 'key = "owner"\ncatalogue = "listed"\n', 1), encoding="utf-8")
    system.scheme = svc.scheme = load_scheme(path)
    owner = add(system, "业主登记表", security="confidential", category="owner")
    lend(system, owner, approver="zhao")  # confidential: a manager approves
    li = system.actor("li")
    svc.sync()
    assert [e["archive_no"] for e in svc.search(li, "", status=["on_loan"])["catalogue"]] == [owner]
    assert svc.search(li, "", status=["active"])["catalogue_total"] == 0


def test_loading_a_batch_costs_the_same_few_queries_for_ten_or_forty_records(svc) -> None:
    system = svc.system
    nos = [add(system, f"维修{i}") for i in range(40)]
    for no in nos[:3]:
        lend(system, no)
    ids = [rid(system, no) for no in nos]
    counts = []
    for batch in (ids[:10], ids):
        seen: list[str] = []

        def count(conn, cursor, statement, *args, seen=seen) -> None:
            seen.append(statement)

        event.listen(system.db.engine, "before_cursor_execute", count)
        try:
            docs = svc.load_docs(batch)
        finally:
            event.remove(system.db.engine, "before_cursor_execute", count)
        assert sum(d.status == "on_loan" for d in docs) == 3
        counts.append(len([q for q in seen if q.lstrip().upper().startswith("SELECT")]))
    assert counts[0] == counts[1] <= 6, counts


def test_the_cli_finds_a_lent_record_by_status(svc) -> None:
    from dangan.cli import main

    system = svc.system
    a, b = add(system, "电梯维修记录"), add(system, "水泵保养记录")
    lend(system, a)
    run, home = CliRunner(), str(system.settings.home)
    assert run.invoke(main, ["--home", home, "--as", "wang", "search", "sync"]).exit_code == 0
    res = run.invoke(main, ["--home", home, "--as", "wang", "search", "--status", "on_loan", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert [h["archive_no"] for h in data["hits"]] == [a] and data["total"] == 1
    assert data["facets"]["status"] == {"on_loan": 1}
    assert b not in res.stdout


def test_the_web_search_page_names_the_statuses_in_chinese(svc) -> None:
    from dangan.web.app import create_app

    system = svc.system
    a = add(system, "电梯维修记录")
    add(system, "水泵保养记录")
    lend(system, a)
    svc.sync()
    app = create_app(system)
    app.config["TESTING"] = True
    system.users.set_password(system.actor("secofficer"), "wang", PASSWORD)
    client = client_as(app, "wang")
    html = client.get("/search", query_string={"q": ""}).get_data(as_text=True)
    assert "借出中</a> 1" in html and "正常</a> 1" in html
    html = client.get("/search", query_string={"status": "on_loan"}).get_data(as_text=True)
    assert a in html and "共 1 件" in html and '<option value="on_loan" selected>借出中</option>' in html
    bearer = system.users.new_token(system.actor("li"), "li")
    r = app.test_client().get("/api/v1/search", query_string={"status": "on_loan"},
                              headers={"Authorization": f"Bearer {bearer}"})
    assert [h["archive_no"] for h in r.json["hits"]] == [a] and r.json["facets"]["status"] == {"on_loan": 1}


@pytest.mark.elasticsearch
def test_on_elasticsearch_a_lent_then_held_record_moves_between_statuses(sqlite_system, es_server_url) -> None:
    backend = open_backend("elasticsearch", url=es_server_url, index=f"dangan-status-{uuid.uuid4().hex[:10]}")
    svc = SearchService(sqlite_system, backend)
    sqlite_system.__dict__["search_service"] = svc
    try:
        system = sqlite_system
        a, b = add(system, "电梯维修记录"), add(system, "水泵保养记录")
        loan = lend(system, a)
        assert statuses(svc, "on_loan") == {a} and facet(svc) == {"active": 1, "on_loan": 1}
        zhao = system.actor("zhao")
        system.retention.create_hold(zhao, "审计", "年度审计")
        system.retention.add_to_hold(zhao, "审计", [a])
        assert statuses(svc, "on_hold") == {a} and statuses(svc, "on_loan") == set()
        system.retention.release_hold(zhao, "审计")
        system.loans.return_(system.actor("wang"), loan)
        assert facet(svc) == {"active": 2} and statuses(svc, "active") == {a, b}
    finally:
        backend.drop()  # type: ignore[attr-defined]
        backend.close()
