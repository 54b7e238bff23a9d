"""Loans over HTTP: the API (bearer tokens, JSON errors, OpenAPI) on SQLite and PostgreSQL,
and the pages (CSRF, role-dependent buttons)."""

from __future__ import annotations

import re

import pytest

from dangan.web.app import create_app

PASSWORD = "long enough pw"


@pytest.fixture
def web(system, lend):
    app = create_app(system)
    app.config["TESTING"] = True
    tokens = {n: system.users.new_token(system.actor(n), n) for n in ("li", "sun", "wang", "zhao", "audit1")}
    sec = system.actor("secofficer")
    for n in tokens:
        system.users.set_password(sec, n, PASSWORD)
    return app, tokens, lend


def call(app, token: str, method: str, path: str, json=None):
    client = app.test_client()
    return getattr(client, method)("/api/v1" + path, json=json, headers={"Authorization": f"Bearer {token}"})


def test_a_physical_loan_through_the_api(web):
    app, t, lend = web
    r = call(app, t["li"], "post", "/loans", {"records": [lend["a"]], "purpose": "核对", "kind": "physical"})
    assert r.status_code == 201, r.json
    lid = r.json["loan_id"]
    assert call(app, t["li"], "post", f"/loans/{lid}/approve", {}).status_code == 403
    assert [x["loan_id"] for x in call(app, t["wang"], "get", "/loans/queue").json["loans"]] == [lid]
    assert call(app, t["wang"], "post", f"/loans/{lid}/approve", {}).json["state"] == "approved"
    assert call(app, t["wang"], "post", f"/loans/{lid}/checkout", {}).json["state"] == "checked_out"
    assert call(app, t["wang"], "get", f"/loans/scan/{lend['a']}").json["loan"]["loan_id"] == lid
    r = call(app, t["wang"], "post", f"/loans/{lid}/renew", {"days": 30})
    assert r.status_code == 409 and "30" in r.json["error"]
    assert call(app, t["wang"], "post", f"/loans/{lid}/renew", {"days": 5}).json["days"] == 12
    r = call(app, t["wang"], "post", f"/loans/{lid}/return", {"condition": "lost", "note": "遗失"})
    assert r.json["state"] == "returned"
    [inc] = call(app, t["wang"], "get", "/loans/incidents").json["incidents"]
    assert call(app, t["wang"], "post", f"/loans/incidents/{inc['id']}/close",
                {"resolution": "已报损"}).json["open"] is False
    events = call(app, t["li"], "get", f"/loans/{lid}").json["events"]
    assert [e["event"] for e in events] == ["request", "approve", "checkout", "renew", "return", "incident.close"]
    ledger = call(app, t["audit1"], "get", "/loans/ledger").json["events"]
    assert len(ledger) == 6
    xlsx = call(app, t["audit1"], "get", "/loans/ledger?format=xlsx")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"


def test_api_errors_are_json_with_the_right_status(web):
    app, t, lend = web
    assert call(app, t["wang"], "get", "/loans/JY-2026-777777").status_code == 404
    assert call(app, t["wang"], "post", "/loans/JY-2026-777777/approve", {}).status_code == 404
    r = call(app, t["li"], "post", "/loans", {"records": "nonsense", "purpose": "x"})
    assert r.status_code == 404 and "error" in r.json
    r = call(app, t["li"], "post", "/loans", {"records": [lend["a"]], "purpose": "x", "until": "2001-01-01"})
    assert r.status_code == 400 and "今天之后" in r.json["error"]
    r = call(app, t["li"], "post", "/loans", {"records": [lend["a"]], "purpose": "x", "days": "many"})
    assert r.status_code == 400
    r = app.test_client().post("/api/v1/loans", data={"records": lend["a"], "purpose": "x"},
                               headers={"Authorization": f"Bearer {t['li']}"})
    assert r.status_code == 400 and "JSON" in r.json["error"]
    assert app.test_client().get("/api/v1/loans").status_code == 401
    assert call(app, t["li"], "get", "/loans?borrower=sun").status_code == 403
    assert call(app, t["li"], "get", "/loans/ledger").status_code == 403


def test_after_a_view_loan_ends_the_record_is_refused_through_the_api_by_id(web, clock):
    app, t, lend = web
    lid = call(app, t["li"], "post", "/loans", {"records": [lend["c"]], "purpose": "纠纷", "days": 2}).json["loan_id"]
    assert call(app, t["wang"], "post", f"/loans/{lid}/approve", {}).status_code == 403  # needs a manager
    assert call(app, t["zhao"], "post", f"/loans/{lid}/approve", {}).status_code == 200
    r = call(app, t["li"], "get", f"/records/{lend['c']}?text=1")
    assert r.status_code == 200 and "业主登记表" in r.json["text"]
    with app.config["DANGAN"].db.read() as s:
        rid = app.config["DANGAN"].records.find(s, lend["c"]).id
    assert call(app, t["li"], "get", f"/records/{rid}").status_code == 200  # by id as well
    clock.advance(3)
    for ref in (lend["c"], rid):
        r = call(app, t["li"], "get", f"/records/{ref}?text=1")
        assert r.status_code == 403 and "text" not in r.json


def test_every_loan_route_is_in_the_openapi_document(web):
    app, _, _ = web
    spec = app.test_client().get("/api/v1/openapi.json").json["paths"]
    routes = {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", r.rule) for r in app.url_map.iter_rules()
              if r.rule.startswith("/api/v1/loans")}
    assert routes and routes <= set(spec), routes - set(spec)


def login(client, name: str):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    client.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": token})
    page = client.get("/loans")  # the session (and its CSRF token) is new after login
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def test_pages_show_only_the_buttons_a_role_may_press_and_need_csrf(web):
    app, t, lend = web
    lid = call(app, t["li"], "post", "/loans", {"records": [lend["a"]], "purpose": "核对", "kind": "physical"}).json[
        "loan_id"]
    staff = app.test_client()
    token = login(staff, "li")
    html = staff.get(f"/loans/{lid}").get_data(as_text=True)
    assert "撤销" in html and "批准</button>" not in html and "借出</button>" not in html
    assert "借还台" not in staff.get("/loans").get_data(as_text=True)
    assert staff.get("/loans/desk").status_code == 403
    r = staff.post(f"/loans/{lid}/approve", data={"csrf_token": token})
    assert r.status_code == 403  # the server refuses anyway
    archivist = app.test_client()
    token = login(archivist, "wang")
    assert "批准</button>" in archivist.get(f"/loans/{lid}").get_data(as_text=True)
    assert archivist.post(f"/loans/{lid}/approve", data={}).status_code == 400  # no CSRF token
    assert call(app, t["wang"], "get", f"/loans/{lid}").json["state"] == "requested"
    r = archivist.post(f"/loans/{lid}/approve", data={"csrf_token": token}, follow_redirects=True)
    assert "已批准" in r.get_data(as_text=True)
    r = archivist.get("/loans/desk?code=" + "dangan:record:" + lend["a"])
    assert lid in r.get_data(as_text=True) and "借出</button>" in r.get_data(as_text=True)
    r = archivist.get("/loans/desk?code=WX-NOPE-0000")
    assert r.status_code == 404 and "不是任何档案" in r.get_data(as_text=True)
    r = staff.post("/loans/new", data={"csrf_token": login(staff, "li"), "records": "", "purpose": "x",
                                       "kind": "view", "days": "7"})
    assert r.status_code == 400 and "至少" in r.get_data(as_text=True)


def test_the_desk_sends_reminders_from_the_overdue_page(web, clock):
    app, t, lend = web
    lid = call(app, t["li"], "post", "/loans", {"records": [lend["a"]], "purpose": "核对", "kind": "physical",
                                                "days": 2}).json["loan_id"]
    call(app, t["wang"], "post", f"/loans/{lid}/approve", {})
    call(app, t["wang"], "post", f"/loans/{lid}/checkout", {})
    clock.advance(5)
    client = app.test_client()
    token = login(client, "wang")
    html = client.get("/loans/overdue").get_data(as_text=True)
    assert lid in html and "发送催还提醒" in html
    html = client.post("/loans/overdue/remind", data={"csrf_token": token}, follow_redirects=True).get_data(as_text=True)
    assert "已向 1 笔" in html
    assert call(app, t["li"], "get", f"/loans/{lid}").json["events"][-1]["event"] == "remind"


def test_days_must_be_an_integer_or_its_text(web):
    """int_arg: JSON numbers and digit strings pass; lists, objects, booleans and words
    are a 400 with one Chinese sentence (never a 500), and so are 5.5, Infinity and NaN."""
    app, t, lend = web
    for bad in ("三天", [5], {"n": 5}, True, "5.5", 5.5, float("inf"), float("nan")):
        r = call(app, t["li"], "post", "/loans", {"records": [lend["a"]], "purpose": "核对", "days": bad})
        assert r.status_code == 400, (bad, r.json)
        assert r.json["error"] == "参数 days 应为整数。"
    for good in ("3", 4, 2.0):
        r = call(app, t["li"], "post", "/loans", {"records": [lend["a"]], "purpose": "核对", "days": good})
        assert r.status_code == 201, (good, r.json)
        assert r.json["days"] == int(good)
