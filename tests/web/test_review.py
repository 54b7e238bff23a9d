"""The 待分类 queue and corrections on the web and the API: confirming a queued record in
the review form or over /api/v1 assigns its 档号 and the next search finds it — no sync."""

from __future__ import annotations

import io
import re

import pytest

from dangan.archive.records import RecordInput
from dangan.web.app import create_app

PASSWORD = "long enough pw"


@pytest.fixture
def app(system, tmp_path):
    sec = system.actor("secofficer")
    for name in ("li", "wang"):
        system.users.set_password(sec, name, PASSWORD)
    from dangan.search.backend import open_backend
    from dangan.search.service import SearchService

    system.__dict__["search_service"] = SearchService(system, open_backend("embedded", path=tmp_path / "index"))
    app = create_app(system)
    app.config["TESTING"] = True
    return app


def queued(system, title: str = "消防巡查记录") -> str:
    """A record ingest could not date: it waits with a provisional number."""
    data = RecordInput(original_name="a.pdf", media_type="application/pdf", title=title, category="safety",
                       location="A-03", text_pages=[{"page": 1, "text": "巡查区域：3号楼，消防栓正常。"}],
                       suggestion={"reasons": ["no document date"], "date_rule": None}, queue=True)
    created = system.records.create(system.actor("wang"), io.BytesIO(b"%PDF-1.4 x" * 7), data)
    system.search_service.sync()
    return created.provisional_no


def login(client, name: str) -> None:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    client.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": token})


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_queue_page_shows_the_reason_and_the_nav_link(app, system) -> None:
    dfl = queued(system)
    client = app.test_client()
    login(client, "wang")
    page = client.get("/review").get_data(as_text=True)
    assert dfl in page and "no document date" in page and 'href="/review"' in page
    login_li = app.test_client()
    login(login_li, "li")
    assert login_li.get("/review").status_code == 403


def test_confirming_in_the_browser_form_is_searchable_when_the_page_returns(app, system) -> None:
    dfl = queued(system)
    client = app.test_client()
    login(client, "wang")
    form = client.get(f"/review/{dfl}").get_data(as_text=True)
    resp = client.post(f"/records/{dfl}/edit", data={
        "csrf_token": csrf(form), "category": "safety", "location": "A-03", "title": "三号楼消防夜巡记录",
        "date": "2021-01-19", "reason": "核对原件"})
    assert resp.status_code == 302
    after = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "检索已更新" in after
    found = client.get("/search?q=夜巡").get_data(as_text=True)
    assert "三号楼消防夜巡记录" in found and "-A-03-2021-0001" in found
    assert system.records.show(system.actor("wang"), dfl)["date"] == "2021-01-19"


def test_a_bad_form_value_is_one_sentence_and_changes_nothing(app, system) -> None:
    dfl = queued(system)
    client = app.test_client()
    login(client, "wang")
    form = client.get(f"/review/{dfl}").get_data(as_text=True)
    resp = client.post(f"/records/{dfl}/edit", data={"csrf_token": csrf(form), "category": "safety",
                                                     "location": "A-03", "date": "19/01/2021", "reason": "x"})
    assert resp.status_code == 400 and "应为 YYYY-MM-DD" in resp.get_data(as_text=True)
    resp = client.post(f"/records/{dfl}/edit", data={"csrf_token": csrf(form), "category": "safety",
                                                     "location": "A-03", "reason": "x"})
    assert resp.status_code == 400 and "文件日期" in resp.get_data(as_text=True)
    assert system.records.show(system.actor("wang"), dfl)["status"] == "queued"


def test_api_confirmation_returns_the_number_and_search_has_it(app, system) -> None:
    dfl = queued(system)
    client = app.test_client()
    wang = {"Authorization": "Bearer " + system.users.new_token(system.actor("wang"), "wang")}
    queue = client.get("/api/v1/review", headers=wang).get_json()["records"]
    assert [r["provisional_no"] for r in queue] == [dfl]
    resp = client.patch(f"/api/v1/records/{dfl}", headers=wang,
                        json={"date": "2021-01-19", "title": "三号楼消防夜巡记录", "reason": "核对原件"})
    body = resp.get_json()
    assert resp.status_code == 200 and body["search"] == "indexed" and "-2021-" in body["archive_no"]
    hits = client.get(f"/api/v1/search?q={body['archive_no']}", headers=wang).get_json()["hits"]
    assert [h["archive_no"] for h in hits] == [body["archive_no"]]
    bad = client.patch(f"/api/v1/records/{body['archive_no']}", headers=wang, json={"year": 2020, "reason": "x"})
    assert bad.status_code == 400 and "year" in bad.get_json()["error"]
    assert client.patch(f"/api/v1/records/{dfl}", headers=wang, data="x").status_code == 400
