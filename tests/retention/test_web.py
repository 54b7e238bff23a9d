"""The retention API and forms: the same rules as the service, JSON errors with 4xx,
CSRF on every form, no way around approval."""

from __future__ import annotations

import re

import pytest

from dangan.web.app import create_app
from tests.retention.conftest import destroyable

PASSWORD = "long enough pw"


@pytest.fixture
def app(people):
    sec = people.actor("secofficer")
    for name in ("wang", "zhao", "audit1"):
        people.users.set_password(sec, name, PASSWORD)
    app = create_app(people)
    app.config["TESTING"] = True
    return app


def token(system, name: str) -> dict:
    return {"Authorization": "Bearer " + system.users.new_token(system.actor(name), name)}


def login(client, name: str):
    page = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    client.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": csrf})
    page = client.get("/holds")  # the session (and its CSRF token) is new after login
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def test_api_cycle_due_appraise_batch_approve_execute_certificate_verify(app, people) -> None:
    system = people
    from tests.retention.conftest import add

    no = add(system)
    c = app.test_client()
    wang, zhao, auditor = token(system, "wang"), token(system, "zhao"), token(system, "audit1")
    due = c.get("/api/v1/retention/due?as_of=2030-01-01", headers=wang).get_json()
    assert [r["archive_no"] for r in due["records"]] == [no]
    r = c.post("/api/v1/retention/appraise", headers=wang,
               json={"archive_nos": [no], "decision": "destroy", "reason": "期满"})
    assert r.status_code == 200, r.get_json()
    r = c.post("/api/v1/destruction/batches", headers=wang, json={"archive_nos": [no], "reason": "期满"})
    assert r.status_code == 201
    batch = r.get_json()["batch_id"]
    assert c.post(f"/api/v1/destruction/batches/{batch}/approve", headers=wang).status_code == 403
    assert c.post(f"/api/v1/destruction/batches/{batch}/approve", headers=auditor).status_code == 403
    assert c.post(f"/api/v1/destruction/batches/{batch}/approve", headers=zhao).status_code == 200
    r = c.post(f"/api/v1/destruction/batches/{batch}/execute", headers=wang, json={"supervisor": "nobody",
                                                                                   "place": "档案室"})
    assert r.status_code == 400 and "监销人" in r.get_json()["error"]
    r = c.post(f"/api/v1/destruction/batches/{batch}/execute", headers=wang, json={"supervisor": "sun",
                                                                                   "place": "档案室"})
    assert r.status_code == 200 and r.get_json()["state"] == "executed"
    again = c.post(f"/api/v1/destruction/batches/{batch}/execute", headers=wang, json={})
    assert again.status_code == 409
    pdf = c.get(f"/api/v1/destruction/batches/{batch}/certificate", headers=auditor)
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert c.get(f"/api/v1/destruction/batches/{batch}/verify", headers=auditor).get_json()["ok"]
    csv = c.get("/api/v1/destruction/register?format=csv", headers=auditor)
    assert no in csv.data.decode("utf-8-sig")


def test_api_refuses_bad_input_with_a_sentence(app, people) -> None:
    c = app.test_client()
    wang = token(people, "wang")
    assert c.get("/api/v1/retention/due").status_code == 401
    r = c.post("/api/v1/retention/appraise", headers=wang, json={"archive_nos": "x"})
    assert r.status_code == 400 and "archive_nos" in r.get_json()["error"]
    assert c.get("/api/v1/retention/due?as_of=yesterday", headers=wang).status_code == 400
    assert c.post("/api/v1/destruction/batches/XH-0/approve", headers=token(people, "zhao")).status_code == 404
    assert c.post("/api/v1/holds", headers=wang, data="not json").status_code == 400


def test_a_forged_api_call_cannot_skip_approval(app, people) -> None:
    nos = destroyable(people, 1)
    c = app.test_client()
    wang = token(people, "wang")
    batch = c.post("/api/v1/destruction/batches", headers=wang,
                   json={"archive_nos": nos, "reason": "到期"}).get_json()["batch_id"]
    r = c.post(f"/api/v1/destruction/batches/{batch}/execute", headers=wang,
               json={"supervisor": "sun", "place": "档案室", "state": "approved", "approved_by": "zhao"})
    assert r.status_code == 409 and "审批" in r.get_json()["error"]
    assert people.records.show(people.actor("wang"), nos[0])["status"] == "active"


def test_forms_need_csrf_and_cannot_skip_approval(app, people) -> None:
    nos = destroyable(people, 1)
    batch = people.retention.create_batch(people.actor("wang"), nos, "到期")["batch_id"]
    c = app.test_client()
    csrf = login(c, "wang")
    r = c.post(f"/destruction/{batch}", data={"action": "execute", "supervisor": "sun", "place": "档案室"})
    assert r.status_code == 400  # no CSRF token: refused before anything happens
    r = c.post(f"/destruction/{batch}", data={"action": "execute", "supervisor": "sun", "place": "档案室",
                                               "csrf_token": csrf}, follow_redirects=True)
    assert "尚未经负责人审批" in r.get_data(as_text=True)
    assert people.records.show(people.actor("wang"), nos[0])["status"] == "active"


def test_pages_show_the_due_list_holds_and_register(app, people) -> None:
    nos = destroyable(people, 1)
    people.retention.create_hold(people.actor("wang"), "诉讼-1", "业主诉讼")
    people.retention.add_to_hold(people.actor("wang"), "诉讼-1", nos)
    c = app.test_client()
    login(c, "wang")
    for url in ("/retention/due", "/records", f"/records/{nos[0]}", "/holds", "/holds/诉讼-1"):
        page = c.get(url).get_data(as_text=True)
        assert "诉讼-1" in page, url
    assert c.get("/destruction").status_code == 200
    auditor = app.test_client()
    login(auditor, "audit1")
    assert "销毁登记簿" in auditor.get("/destruction/register").get_data(as_text=True)
    assert auditor.get("/retention/due").status_code == 200


def test_the_demo_shows_due_records_a_hold_and_a_destroyed_batch(people) -> None:
    from dangan.demo.retention import build_retention_demo

    out = build_retention_demo(people, supervisor="sun")
    wang = people.actor("wang")
    due = people.retention.due(wang)
    assert set(out["due"]) <= {r["archive_no"] for r in due["records"]}
    assert people.records.show(wang, out["held"])["holds"] == ["诉讼-2024-外墙渗水"]
    assert people.retention.verify(people.actor("audit1"), out["destroyed_batch"])["ok"]
    assert people.retention.certificate(people.actor("audit1"), out["destroyed_batch"]).startswith(b"%PDF")
