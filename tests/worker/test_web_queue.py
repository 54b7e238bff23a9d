"""The web app hands uploads to the workers' queue (no OCR in the request), shows the
batch's progress, and shows the admin the system status — pages and /api/v1 alike."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from dangan.demo import render
from dangan.web.app import create_app
from dangan.worker.loop import Worker

PASSWORD = "long enough pw"


@pytest.fixture
def client(system):  # type: ignore[no-untyped-def]
    sec = system.actor("secofficer")
    for name in ("wang", "li"):
        system.users.set_password(sec, name, PASSWORD)
    app = create_app(system)
    app.config["TESTING"] = True
    return app.test_client()


def login(client, name: str) -> str:  # type: ignore[no-untyped-def]
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    client.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": token})
    page = client.get("/queue")
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def pdf_bytes(tmp_path: Path, text: str) -> bytes:
    return render.text_pdf(tmp_path / "up.pdf", [text]).read_bytes()


def test_an_upload_is_queued_then_a_worker_ingests_it(system, client, tmp_path: Path) -> None:
    token = login(client, "wang")
    resp = client.post("/queue", data={
        "csrf_token": token, "category": "maintenance", "location": "A-01-001-0101",
        "file": [(io.BytesIO(pdf_bytes(tmp_path, "维修工单\n电梯门机皮带更换")), "维修单.pdf")]},
        content_type="multipart/form-data")
    assert resp.status_code == 302
    batch_url = resp.headers["Location"]
    page = client.get(batch_url).get_data(as_text=True)
    assert "0 / 1 件已处理" in page and "自动刷新" in page  # nothing ran in the request

    Worker(system, processes=1).run(once=True)
    page = client.get(batch_url).get_data(as_text=True)
    assert "1 / 1 件已处理" in page and "已入库" in page and "维修单.pdf" in page
    assert not list((system.settings.home / "spool").rglob("*.pdf"))  # the spooled copy is gone


def test_the_upload_form_is_csrf_protected_and_for_ingesting_roles(client) -> None:
    login(client, "wang")
    resp = client.post("/queue", data={"file": [(io.BytesIO(b"%PDF"), "a.pdf")]},
                       content_type="multipart/form-data")
    assert resp.status_code == 400 and "CSRF" in resp.get_data(as_text=True)
    client.post("/logout")
    login(client, "li")
    assert client.get("/queue").status_code == 403


def test_queue_and_status_over_the_api(system, client, tmp_path: Path) -> None:
    wang = {"Authorization": "Bearer " + system.users.new_token(system.actor("wang"), "wang")}
    root = {"Authorization": "Bearer " + system.users.new_token(system.actor("root"), "root")}
    assert client.post("/api/v1/queue").status_code == 401
    resp = client.post("/api/v1/queue", headers=wang, content_type="multipart/form-data",
                       data={"file": [(io.BytesIO(pdf_bytes(tmp_path, "消防巡查记录")), "巡查.pdf")],
                             "category": "safety", "location": "A-01"})
    assert resp.status_code == 202
    batch = resp.get_json()["batch_id"]
    assert client.get(f"/api/v1/queue/{batch}", headers=wang).get_json()["pending"] == 1
    status = client.get("/api/v1/system/status", headers=root).get_json()
    assert status["queue"]["open_batches"] == [batch] and status["storage"]["kind"] == "filesystem"
    assert client.get("/api/v1/system/status", headers=wang).status_code == 403
    Worker(system, processes=1).run(once=True)
    done = client.get(f"/api/v1/queue/{batch}", headers=wang).get_json()
    assert done["done"] and done["ingested"] == 1 and done["results"][0]["file"] == "巡查.pdf"
    empty = client.post("/api/v1/queue", headers=wang, content_type="multipart/form-data", data={})
    assert empty.status_code == 400 and "没有收到文件" in empty.get_json()["error"]
    paths = client.get("/api/v1/openapi.json", headers=wang).get_json()["paths"]
    assert {"/api/v1/queue", "/api/v1/queue/{batch_id}", "/api/v1/system/status"} <= set(paths)


def test_the_admin_sees_the_system_status_page(system, client) -> None:
    system.users.set_password(system.actor("secofficer"), "root", PASSWORD)
    login(client, "root")
    page = client.get("/system").get_data(as_text=True)
    assert "入库队列" in page and "filesystem" in page and "系统状态" in page
    client.post("/logout")
    login(client, "li")
    assert client.get("/system").status_code == 403
    assert "系统状态" not in client.get("/records").get_data(as_text=True)  # no link for staff
