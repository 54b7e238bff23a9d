"""移交 / 接管 and 四性检测 over HTTP: the API with bearer tokens, the pages with CSRF forms."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest

from dangan.web.app import create_app
from tests.handover.conftest import add_record, count_records

PASSWORD = "long enough pw"


@pytest.fixture
def app(system):
    system.users.set_password(system.actor("secofficer"), "wang", PASSWORD)
    app = create_app(system)
    app.config["TESTING"] = True
    return app


def bearer(system, name: str) -> dict:
    return {"Authorization": "Bearer " + system.users.new_token(system.actor(name), name)}


def login(client, name: str = "wang") -> str:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    client.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": token})
    page = client.get("/handover").get_data(as_text=True)  # a new session has a new token
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_api_exports_a_zip_and_takes_it_over_elsewhere(app, system, tmp_path: Path) -> None:
    no = add_record(system, tmp_path, "电梯设备台账", "equipment", "A-01")
    client = app.test_client()
    resp = client.post("/api/v1/handover/export", json={"location": "A-01"}, headers=bearer(system, "wang"))
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    blob = resp.get_data()
    assert any(n.endswith("/bagit.txt") for n in zipfile.ZipFile(io.BytesIO(blob)).namelist())
    history = client.get(f"/api/v1/handover/records/{no}", headers=bearer(system, "li")).get_json()
    assert [h["direction"] for h in history["handovers"]] == ["export"]
    # the same archive refuses it (the 档号 is taken) and imports nothing
    before = count_records(system)
    refused = client.post("/api/v1/handover/import", data={"package": (io.BytesIO(blob), "p.zip")},
                          headers=bearer(system, "wang"), content_type="multipart/form-data")
    assert refused.status_code == 422 and refused.get_json()["ok"] is False
    assert no in " ".join(f["message"] for f in refused.get_json()["findings"])
    assert count_records(system) == before


def test_api_runs_the_checks_and_serves_the_report(app, system, tmp_path: Path) -> None:
    add_record(system, tmp_path, "电梯设备台账", "equipment", "A-01")
    client = app.test_client()
    run = client.post("/api/v1/verify", json={"mode": "incremental"}, headers=bearer(system, "audit1"))
    assert run.status_code == 200 and run.get_json()["checked"] == 1
    latest = client.get("/api/v1/verify/latest", headers=bearer(system, "audit1")).get_json()
    assert latest["run_id"] == run.get_json()["run_id"]
    pdf = client.get("/api/v1/verify/latest?format=pdf", headers=bearer(system, "audit1"))
    assert pdf.mimetype == "application/pdf" and pdf.get_data()[:5] == b"%PDF-"
    assert any(c["id"] == "fixity" for c in client.get("/api/v1/checks", headers=bearer(system, "audit1"))
               .get_json()["checks"])


def test_api_writes_need_a_token_and_the_right(app, system, tmp_path: Path) -> None:
    client = app.test_client()
    login(client)
    assert client.post("/api/v1/verify", json={}).status_code == 401  # a session alone cannot write
    resp = client.post("/api/v1/handover/export", json={"location": "A"}, headers=bearer(system, "li"))
    assert resp.status_code == 403 and "error" in resp.get_json()
    bad = client.post("/api/v1/handover/export", json={"location": "A-1x"}, headers=bearer(system, "wang"))
    assert bad.status_code == 400 and "error" in bad.get_json()
    escape = client.post("/api/v1/handover/import", json={"incoming": "../etc"}, headers=bearer(system, "wang"))
    assert escape.status_code == 400


def test_openapi_lists_the_handover_and_verify_routes(app) -> None:
    paths = app.test_client().get("/api/v1/openapi.json").get_json()["paths"]
    assert {"/api/v1/verify", "/api/v1/handover/export", "/api/v1/handover/import",
            "/api/v1/handover/packages/{package_id}"} <= set(paths)


def test_pages_export_a_zip_and_show_a_takeovers_findings(app, system, tmp_path: Path) -> None:
    add_record(system, tmp_path, "电梯设备台账", "equipment", "A-01")
    client = app.test_client()
    token = login(client)
    page = client.get("/handover").get_data(as_text=True)
    assert "移交：导出移交包" in page and "接管：导入并验收" in page
    resp = client.post("/handover/export", data={"location": "A-01", "csrf_token": token})
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    blob = resp.get_data()
    shown = client.post("/handover/import", data={"package": (io.BytesIO(blob), "p.zip"), "csrf_token": token},
                        content_type="multipart/form-data", follow_redirects=True)
    text = shown.get_data(as_text=True)
    assert "没有接收任何档案" in text and "已被使用" in text
    assert client.post("/handover/export", data={"location": "A-01"}).status_code == 400  # no CSRF token


def test_verify_page_shows_the_latest_report(app, system, tmp_path: Path) -> None:
    add_record(system, tmp_path, "电梯设备台账", "equipment", "A-01")
    client = app.test_client()
    token = login(client)
    assert "还没有做过四性检测" in client.get("/verify").get_data(as_text=True)
    page = client.post("/verify", data={"mode": "full", "csrf_token": token}, follow_redirects=True)
    assert "全部通过" in page.get_data(as_text=True)
    assert client.get("/verify/report.pdf").get_data()[:5] == b"%PDF-"
