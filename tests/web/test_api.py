"""The /api/v1 JSON API: its OpenAPI 3.1 document names every route and method, nothing
answers an unauthenticated caller, edits and users mirror the CLI — and schemathesis
fuzzes every operation from the document (bounded: a few examples each) without a 5xx
or a traceback."""

from __future__ import annotations

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.web.conftest import add_record, bearer, make_app


def routes(app) -> set[tuple[str, str]]:
    out = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(rule))
        if path.startswith("/api/v1/") and path != "/api/v1/openapi.json":
            out |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return out


def documented(app) -> set[tuple[str, str]]:
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    return {(path, method) for path, ops in spec["paths"].items() for method in ops}


def test_openapi_document_is_3_1_and_matches_the_routes_and_methods(lite_app) -> None:
    spec = lite_app.test_client().get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    assert routes(lite_app) == documented(lite_app)


def test_every_operation_refuses_an_unauthenticated_caller(lite_app, sqlite_system, tmp_path) -> None:
    no = add_record(sqlite_system, tmp_path, "电梯维修")
    client = lite_app.test_client()
    for path, method in sorted(documented(lite_app)):
        url = (path.replace("{archive_no}", no).replace("{location}", "A-01").replace("{n}", "1")
               .replace("{name}", "li"))
        url = re.sub(r"\{\w+\}", "1", url)  # other areas' ids (loans, batches, incidents, packages)
        for headers in ({}, {"Authorization": "Bearer dg_not_a_token"}):
            resp = client.open(url, method=method.upper(), headers=headers, json={})
            assert resp.status_code == 401, (method, url)
            assert set(resp.get_json()) == {"error", "code"}


def test_a_logged_in_browser_cannot_change_anything_through_the_api(lite_app, sqlite_system, tmp_path) -> None:
    from tests.web.conftest import client_as

    no = add_record(sqlite_system, tmp_path, "电梯维修")
    client = client_as(lite_app, "wang")
    assert client.get(f"/api/v1/records/{no}").status_code == 200  # reading with the cookie is fine
    resp = client.patch(f"/api/v1/records/{no}", json={"title": "改", "reason": "csrf"})
    assert resp.status_code == 401


def test_api_edit_confirms_and_corrects_with_a_reason(app, system, tmp_path) -> None:
    no = add_record(system, tmp_path, "电梯维修")
    client = app.test_client()
    wang = bearer(system, "wang")
    assert client.patch(f"/api/v1/records/{no}", headers=wang, json={"title": "x"}).status_code == 400
    assert client.patch(f"/api/v1/records/{no}", headers=wang, json={"sha256": "0", "reason": "r"}).status_code == 400
    assert client.patch(f"/api/v1/records/{no}", headers=wang, data="not json").status_code == 400
    resp = client.patch(f"/api/v1/records/{no}", headers=wang, json={"date": "2023-05-06", "reason": "日期录错"})
    body = resp.get_json()
    assert resp.status_code == 200 and body["date"] == "2023-05-06" and body["version"] == 2
    assert "-2023-" in body["archive_no"]
    li = bearer(system, "li")
    assert client.patch(f"/api/v1/records/{body['archive_no']}", headers=li,
                        json={"title": "x", "reason": "r"}).status_code == 403


def test_api_users_follow_the_three_officer_rule(app, system) -> None:
    client = app.test_client()
    sec, root = bearer(system, "secofficer"), bearer(system, "root")
    resp = client.post("/api/v1/users", headers=sec, json={"name": "sun", "roles": ["staff"], "clearance": "public"})
    assert resp.status_code == 201 and resp.get_json()["roles"] == ["staff"]
    assert client.post("/api/v1/users", headers=root, json={"name": "qian", "roles": ["staff"]}).status_code == 403
    assert client.post("/api/v1/users", headers=sec, json={"name": "sun", "roles": ["staff"]}).status_code == 409
    resp = client.patch("/api/v1/users/sun", headers=sec, json={"clearance": "internal", "categories": ["maintenance"]})
    assert resp.get_json()["clearance"] == "internal" and resp.get_json()["categories"] == ["maintenance"]
    assert client.patch("/api/v1/users/secofficer", headers=sec, json={"clearance": "secret"}).status_code == 403
    assert client.patch("/api/v1/users/sun", headers=sec, json={"active": "yes"}).status_code == 400
    token = client.post("/api/v1/users/sun/token", headers=sec).get_json()["token"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert me["name"] == "sun" and me["clearance"] == "internal"
    names = [u["name"] for u in client.get("/api/v1/users", headers=root).get_json()["users"]]
    assert "sun" in names


def test_api_audit_log_and_chain_check_for_the_auditor(app, system, tmp_path) -> None:
    add_record(system, tmp_path, "电梯维修")
    client = app.test_client()
    auditor = bearer(system, "audit1")
    body = client.get("/api/v1/audit?action=record.ingest", headers=auditor).get_json()
    assert body["total"] == 1 and body["entries"][0]["action"] == "record.ingest"
    report = client.post("/api/v1/audit/verify", headers=auditor).get_json()
    assert report["ok"] is True and len(report["head"]) == 64
    assert client.get("/api/v1/audit", headers=bearer(system, "wang")).status_code == 403


def test_api_browse_dashboard_and_review(app, system, tmp_path) -> None:
    add_record(system, tmp_path, "电梯维修")
    client = app.test_client()
    wang = bearer(system, "wang")
    tree = client.get("/api/v1/browse?at=A", headers=wang).get_json()
    assert tree["children"][0]["code"] == "A-01" and tree["total"] == 1
    stats = client.get("/api/v1/dashboard", headers=wang).get_json()
    assert stats["total"] == 1 and stats["categories"][0]["key"] == "maintenance"
    assert client.get("/api/v1/review", headers=wang).get_json() == {"records": []}
    assert client.get("/api/v1/review", headers=bearer(system, "li")).status_code == 403


# -- fuzzing from the document ----------------------------------------------------------

@pytest.fixture
def fuzz_app(sqlite_system, tmp_path):
    app = make_app(sqlite_system, tmp_path)
    add_record(sqlite_system, tmp_path, "电梯维修")
    add_record(sqlite_system, tmp_path, "业主登记表", category="owner", location="A-01-001-0102")
    app.config["FUZZ_HEADERS"] = bearer(sqlite_system, "wang")
    app.config["SEC_HEADERS"] = bearer(sqlite_system, "secofficer")
    return app


def fuzz(operation, headers: dict, calls: list) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
              database=None)
    def run(case) -> None:
        calls.append(1)
        response = case.call(headers=headers)
        case.validate_response(response, checks=[not_a_server_error])
        assert "Traceback" not in response.text
        if response.status_code >= 400:
            body = response.json()
            assert isinstance(body.get("error"), str) and body["error"], body

    run()


def test_fuzzed_api_calls_never_fail_on_the_server(fuzz_app) -> None:
    """Every documented operation (uploads aside: they run the ingest pipeline's worker
    processes per call and are tested above), a bounded number of generated calls each."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzz_app)
    calls: list = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.method.upper() == "POST" and operation.path in ("/api/v1/records", "/api/v1/uploads"):
            continue
        fuzz(operation, fuzz_app.config["SEC_HEADERS" if "/users" in operation.path else "FUZZ_HEADERS"], calls)
    assert len(calls) > 100
