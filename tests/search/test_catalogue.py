"""目录可查 (catalogue visibility), on SQLite and PostgreSQL: a record above the reader's
clearance stays out of hits, totals and facets; its category's scheme entry may show its
catalogue entry (档号, category, place, year; the title only for "titled"; never the text),
marked 需借阅, from which the reader requests a loan that then grants access."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from dangan.archive.models import AuditEntry, Record
from dangan.archive.records import RecordInput
from dangan.archive.scheme import load_scheme
from dangan.errors import InvalidInput, PermissionDenied

TEXT_ONLY = "漏水赔偿"  # a word that occurs only in the text of the confidential record


def switch_on(system, **modes: str) -> None:
    """Edit scheme.toml as a company would (catalogue = "listed" / "titled" under a category)
    and load it; call before the first search (the search service reads the scheme once)."""
    path = system.settings.scheme_path
    text = path.read_text(encoding="utf-8")
    for key, mode in modes.items():
        text = text.replace(f'key = "{key}"\n', f'key = "{key}"\ncatalogue = "{mode}"\n', 1)
    path.write_text(text, encoding="utf-8")
    system.scheme = load_scheme(path)
    assert "search_service" not in system.__dict__


def add(system, title: str, text: str, security: str = "confidential", category: str = "owner",
        location: str = "A-01-001-0102", year: int = 2024) -> str:
    data = RecordInput(original_name="x.pdf", media_type="application/pdf", title=title, category=category,
                       location=location, security=security, doc_date=dt.date(year, 3, 5),
                       text_pages=[{"page": 1, "text": text, "confidence": 1.0}])
    return system.records.create(system.actor("wang"), io.BytesIO(uuid.uuid4().bytes * 10), data).archive_no


@pytest.fixture
def owner_file(system) -> str:
    """A confidential 业主资料 record (li is internal, zhao confidential) and an internal one."""
    no = add(system, "业主登记表张三", f"业主登记表，房屋漏水纠纷，{TEXT_ONLY}已协商。")
    add(system, "维修记录", "楼下漏水已修复。", security="internal", category="maintenance")
    return no


def search(system, who: str, q: str = "", **kw) -> dict:
    svc = system.search_service
    svc.sync()
    return svc.search(system.actor(who), q, **kw)


def test_the_default_scheme_shows_no_catalogue(system, owner_file) -> None:
    assert system.scheme.catalogue_keys() == []
    for q in ("", owner_file, "A-01-001-0102", "业主登记表", "漏水"):
        r = search(system, "li", q)
        assert r["catalogue"] == [] and r["catalogue_total"] == 0
        assert owner_file not in [h["archive_no"] for h in r["hits"]]


def test_a_listed_category_shows_its_entries_but_no_title_and_never_the_text(system, owner_file) -> None:
    switch_on(system, owner="listed")
    r = search(system, "li", owner_file)
    assert r["total"] == 0 and r["hits"] == []
    assert r["catalogue_total"] == 1
    assert r["catalogue"] == [{"archive_no": owner_file, "category": "owner", "location": "A-01-001-0102",
                               "year": 2024, "needs_loan": True}]
    assert "张三" not in json.dumps(r, ensure_ascii=False)
    # by 档号 prefix, location prefix, category and year; not by title or text
    assert [e["archive_no"] for e in search(system, "li", "YZ")["catalogue"]] == [owner_file]
    assert [e["archive_no"] for e in search(system, "li", "A-01")["catalogue"]] == [owner_file]
    assert search(system, "li", "YZ -A-02")["catalogue_total"] == 1
    assert search(system, "li", "YZ -A-01")["catalogue_total"] == 0
    assert search(system, "li", "", categories=["owner"], year_from=2024, year_to=2024)["catalogue_total"] == 1
    assert search(system, "li", "", year_from=2025)["catalogue_total"] == 0
    assert search(system, "li", "", location="A-02")["catalogue_total"] == 0
    assert search(system, "li", "业主登记表")["catalogue_total"] == 0  # the title is not shown, so not matched
    assert search(system, "li", TEXT_ONLY)["catalogue_total"] == 0


def test_totals_hits_and_facets_stay_clearance_filtered(system, owner_file) -> None:
    switch_on(system, owner="listed")
    r = search(system, "li", "漏水")
    assert r["total"] == 1 and sum(r["facets"]["category"].values()) == 1
    assert "owner" not in r["facets"]["category"]
    assert [h["archive_no"] for h in r["hits"]] != [owner_file]
    assert r["catalogue_total"] == 0  # 漏水 is in the text and in no metadata


def test_a_titled_category_shows_and_matches_the_title_but_not_the_text(system, owner_file) -> None:
    switch_on(system, owner="titled")
    [entry] = search(system, "li", "业主登记表")["catalogue"]
    assert entry == {"archive_no": owner_file, "category": "owner", "location": "A-01-001-0102", "year": 2024,
                     "title": "业主登记表张三", "needs_loan": True}
    assert search(system, "li", "登记表 -张三")["catalogue_total"] == 0
    assert search(system, "li", "登记表 OR 不存在")["catalogue_total"] == 1
    assert search(system, "li", TEXT_ONLY)["catalogue_total"] == 0
    assert search(system, "li", f'"{TEXT_ONLY}"')["catalogue_total"] == 0


def test_a_record_the_reader_may_see_is_a_hit_never_a_catalogue_entry(system, owner_file) -> None:
    switch_on(system, owner="titled", maintenance="listed")
    for who in ("zhao", "wang"):
        r = search(system, who, "业主登记表")
        assert [h["archive_no"] for h in r["hits"]] == [owner_file]
        assert r["catalogue"] == []
    # the public guest sees the internal maintenance record as a catalogue entry too
    r = search(system, "guest", "")
    assert r["total"] == 0
    assert sorted(e["category"] for e in r["catalogue"]) == ["maintenance", "owner"]
    assert search(system, "li", "")["catalogue_total"] == 1  # li sees the internal one as a hit


def test_destroyed_records_never_appear(system, owner_file) -> None:
    switch_on(system, owner="listed")
    assert search(system, "li", "YZ")["catalogue_total"] == 1
    with system.db.session() as s:  # as destruction leaves it: a tombstone row, status destroyed
        rec = s.query(Record).filter_by(archive_no=owner_file).one()
        rec.status = "destroyed"
    assert search(system, "li", "YZ")["catalogue_total"] == 0
    assert search(system, "li", "YZ", status=["destroyed"])["catalogue_total"] == 0


def test_category_rights_are_respected(system, owner_file) -> None:
    switch_on(system, owner="listed")
    sec = system.actor("secofficer")
    system.users.add(sec, "qian", ["staff"], "internal", categories=["maintenance"])
    assert search(system, "qian", "YZ")["catalogue_total"] == 0
    assert search(system, "li", "YZ", categories=["maintenance"])["catalogue_total"] == 0
    assert search(system, "li", "YZ", categories=["owner"])["catalogue_total"] == 1


def test_a_catalogue_search_is_audited(system, owner_file) -> None:
    switch_on(system, owner="listed")
    search(system, "li", "YZ")
    with system.db.read() as s:
        row = s.execute(select(AuditEntry).where(AuditEntry.action == "search")
                        .order_by(AuditEntry.id.desc()).limit(1)).scalar_one()
    detail = json.loads(row.detail)
    assert row.actor == "li" and detail["query"] == "YZ" and detail["hits"] == 0 and detail["catalogue"] == 1


def test_request_from_a_catalogue_entry_and_read_until_the_due_date(system, owner_file) -> None:
    switch_on(system, owner="listed")
    li, zhao = system.actor("li"), system.actor("zhao")
    [entry] = search(system, "li", "A-01-001-0102")["catalogue"]
    with pytest.raises(PermissionDenied):
        system.records.show(li, entry["archive_no"])
    now = [dt.datetime(2026, 3, 2, 9, 0)]
    system.loans.clock = lambda: now[0]
    loan = system.loans.request(li, [entry["archive_no"]], "物业费纠纷核对", "view", days=2)
    assert loan["items"][0]["title"] is None  # the request shows no more than the catalogue did
    system.loans.approve(zhao, loan["loan_id"])
    assert TEXT_ONLY in system.records.show(li, entry["archive_no"], with_text=True)["text"]
    now[0] += dt.timedelta(days=2)
    system.records.show(li, entry["archive_no"])  # the due day is still inside the loan
    now[0] += dt.timedelta(days=1)
    with pytest.raises(PermissionDenied):
        system.records.show(li, entry["archive_no"])
    r = search(system, "li", "A-01-001-0102")  # the loan never turns it into a hit
    assert owner_file not in [h["archive_no"] for h in r["hits"]] and r["catalogue_total"] == 1


def test_the_search_page_and_api_show_entries_marked_for_loan(system, owner_file) -> None:
    from dangan.web.app import create_app

    switch_on(system, owner="listed")
    system.search_service.sync()
    app = create_app(system)
    app.config["TESTING"] = True
    system.users.set_password(system.actor("secofficer"), "li", "long enough pw")
    client = app.test_client()
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    client.post("/login", data={"name": "li", "password": "long enough pw", "csrf_token": token})
    html = client.get("/search", query_string={"q": "YZ"}).get_data(as_text=True)
    assert "需借阅" in html and owner_file in html and "张三" not in html
    assert f'/loans/new?record={owner_file}' in html
    assert client.get(f"/loans/new?record={owner_file}").status_code == 200
    bearer = system.users.new_token(system.actor("li"), "li")
    r = app.test_client().get("/api/v1/search", query_string={"q": "YZ"},
                              headers={"Authorization": f"Bearer {bearer}"})
    assert r.json["total"] == 0 and r.json["catalogue_total"] == 1
    assert r.json["catalogue"][0]["archive_no"] == owner_file and r.json["catalogue"][0]["needs_loan"] is True


def test_the_cli_prints_entries_after_the_hits(system, owner_file) -> None:
    from dangan.cli import main

    switch_on(system, owner="listed")
    run = CliRunner()
    home = str(system.settings.home)
    assert run.invoke(main, ["--home", home, "--as", "wang", "search", "sync"]).exit_code == 0
    out = run.invoke(main, ["--home", home, "--as", "li", "search", "YZ"], catch_exceptions=False).output
    assert "共 0 件" in out and f"{owner_file}  需借阅" in out and "张三" not in out
    data = json.loads(run.invoke(main, ["--home", home, "--as", "li", "search", "YZ", "--json"]).stdout)
    assert data["catalogue"][0]["archive_no"] == owner_file


def test_an_unknown_catalogue_mode_is_refused_naming_file_entry_and_field(tmp_path) -> None:
    from dangan.archive.scheme import default_scheme_text

    path = tmp_path / "scheme.toml"
    path.write_text(default_scheme_text().replace('key = "owner"\n', 'key = "owner"\ncatalogue = "all"\n'),
                    encoding="utf-8")
    with pytest.raises(InvalidInput) as err:
        load_scheme(path)
    assert "scheme.toml" in str(err.value) and 'key = "owner"' in str(err.value) and "catalogue" in str(err.value)
    assert "listed" in str(err.value)
