"""The web app over the same services: login with CSRF, clearance on every page and API
call, JSON errors with the right status, and escaped output."""

from __future__ import annotations

import io
import re

import pytest

from dangan.archive.records import RecordInput
from dangan.web.app import create_app

PASSWORD = "long enough pw"


@pytest.fixture
def app(sqlite_system, tmp_path):
    sec = sqlite_system.actor("secofficer")
    for name in ("li", "guest", "wang"):
        sqlite_system.users.set_password(sec, name, PASSWORD)
    from dangan.search.backend import open_backend
    from dangan.search.service import SearchService

    sqlite_system.__dict__["search_service"] = SearchService(
        sqlite_system, open_backend("embedded", path=tmp_path / "index"))
    app = create_app(sqlite_system)
    app.config["TESTING"] = True
    return app


def add(system, title: str, text: str, **kw) -> str:
    data = RecordInput(original_name="a.pdf", media_type="application/pdf", title=title,
                       category=kw.pop("category", "maintenance"), location="A-01-001-0101",
                       text_pages=[{"page": 1, "text": text}], **kw)
    no = system.records.create(system.actor("wang"), io.BytesIO(text.encode() * 3), data).archive_no
    system.search_service.sync()
    return no


def login(client, name: str, password: str = PASSWORD):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    return client.post("/login", data={"name": name, "password": password, "csrf_token": token})


def test_pages_need_login(app) -> None:
    client = app.test_client()
    resp = client.get("/")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_login_form_is_csrf_protected(app) -> None:
    client = app.test_client()
    client.get("/login")
    resp = client.post("/login", data={"name": "li", "password": PASSWORD})
    assert resp.status_code == 400 and "CSRF" in resp.get_data(as_text=True)


def test_wrong_password_is_refused(app) -> None:
    resp = login(app.test_client(), "li", "not the password")
    assert resp.status_code == 401 and "不正确" in resp.get_data(as_text=True)


def test_list_shows_only_what_the_reader_may_see(app, sqlite_system) -> None:
    add(sqlite_system, "电梯维修单", "电梯维修")
    add(sqlite_system, "业主登记表", "业主资料", category="owner")
    client = app.test_client()
    login(client, "li")
    page = client.get("/records").get_data(as_text=True)
    assert "电梯维修单" in page and "业主登记表" not in page and "共 1 件" in page


def test_record_page_and_search_page(app, sqlite_system) -> None:
    no = add(sqlite_system, "水泵维修", "二号水泵漏水，已更换密封圈。")
    client = app.test_client()
    login(client, "li")
    detail = client.get(f"/records/{no}").get_data(as_text=True)
    assert "水泵维修" in detail and "二号水泵漏水" in detail
    found = client.get("/search?q=漏水").get_data(as_text=True)
    assert no in found and "<mark>" in found


def test_document_text_is_escaped_not_executed(app, sqlite_system) -> None:
    no = add(sqlite_system, "<script>alert(1)</script>", "漏水<script>alert(2)</script><img src=x onerror=y>")
    client = app.test_client()
    login(client, "li")
    for page in (client.get("/records").get_data(as_text=True), client.get(f"/records/{no}").get_data(as_text=True),
                 client.get("/search?q=漏水").get_data(as_text=True)):
        assert "<script>alert" not in page and "<img src=x" not in page


def test_api_needs_a_token_and_answers_json_errors(app, sqlite_system) -> None:
    no = add(sqlite_system, "业主登记表", "业主资料", category="owner")
    client = app.test_client()
    assert client.get("/api/v1/records").status_code == 401
    assert client.get("/api/v1/records", headers={"Authorization": "Bearer nope"}).status_code == 401
    li = {"Authorization": "Bearer " + sqlite_system.users.new_token(sqlite_system.actor("li"), "li")}
    resp = client.get(f"/api/v1/records/{no}", headers=li)
    assert resp.status_code == 403 and "error" in resp.get_json()
    resp = client.get("/api/v1/records/WX-A-01-001-0101-2024-9999", headers=li)
    assert resp.status_code == 404 and "不存在" in resp.get_json()["error"]
    resp = client.get("/api/v1/records?limit=abc", headers=li)
    assert resp.status_code == 400
    wang = {"Authorization": "Bearer " + sqlite_system.users.new_token(sqlite_system.actor("wang"), "wang")}
    body = client.get(f"/api/v1/records/{no}", headers=wang).get_json()
    assert body["archive_no"] == no and body["category"] == "owner"


def test_api_search_and_dossier(app, sqlite_system) -> None:
    no = add(sqlite_system, "消防巡查", "消防栓压力正常。", category="safety")
    client = app.test_client()
    wang = {"Authorization": "Bearer " + sqlite_system.users.new_token(sqlite_system.actor("wang"), "wang")}
    body = client.get("/api/v1/search?q=消防栓&category=safety", headers=wang).get_json()
    assert body["total"] == 1 and body["hits"][0]["archive_no"] == no
    assert body["facets"]["category"] == {"safety": 1}
    bare = client.get("/api/v1/search?q=消防栓&facets=false", headers=wang).get_json()
    assert bare["total"] == 1 and bare["facets"] == {}
    assert client.get("/api/v1/search?q=消防栓&facets=maybe", headers=wang).status_code == 400
    assert client.get("/api/v1/search?q=消防栓&year_from=x", headers=wang).status_code == 400
    dossier = client.get("/api/v1/dossier/A-01", headers=wang).get_json()
    assert dossier["total"] == 1 and dossier["categories"][0]["category"] == "safety"


def test_openapi_describes_every_api_route(app) -> None:
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    routes = {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(r.rule))  # <path:archive_no> → {archive_no}
              for r in app.url_map.iter_rules() if str(r.rule).startswith("/api/v1/")}
    assert routes - {"/api/v1/openapi.json"} <= set(spec["paths"])
