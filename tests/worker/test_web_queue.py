"""With `[web] hand_off = "queue"` the 采集 page and POST /api/v1/uploads only spool and
queue the files (no OCR in the web process) and a `dangan worker` works the batch; the old
/queue addresses lead to the kept pages; the admin sees the system status — pages and
/api/v1 alike."""

from __future__ import annotations

import dataclasses
import io
import re
from pathlib import Path

import pytest

from dangan.demo import render
from dangan.web.app import create_app
from dangan.worker.loop import Worker

PASSWORD = "long enough pw"


@pytest.fixture
def client(system, monkeypatch):
    monkeypatch.setattr(system, "settings", dataclasses.replace(system.settings, web_hand_off="queue"))
    sec = system.actor("secofficer")
    for name in ("wang", "li"):
        system.users.set_password(sec, name, PASSWORD)
    app = create_app(system)
    app.config["TESTING"] = True
    return app.test_client()


def login(client, name: str) -> str:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    client.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": token})
    page = client.get("/upload")
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def pdf_bytes(tmp_path: Path, text: str) -> bytes:
    """A text PDF that bears its date (an undated one would wait in 待分类)."""
    return render.text_pdf(tmp_path / "up.pdf", [text + "\n填表日期：2024年3月5日"]).read_bytes()


def test_an_upload_is_queued_then_a_worker_ingests_it(system, client, tmp_path: Path) -> None:
    token = login(client, "wang")
    resp = client.post("/upload", data={
        "csrf_token": token, "category": "maintenance", "location": "A-01-001-0101",
        "files": [(io.BytesIO(pdf_bytes(tmp_path, "维修工单\n电梯门机皮带更换")), "维修单.pdf")]},
        content_type="multipart/form-data")
    assert resp.status_code == 302
    batch_url = resp.headers["Location"]
    data = client.get(batch_url + ".json").get_json()
    assert data["done"] == 0 and data["counts"]["pending"] == 1  # nothing ran in the web process
    assert "维修单.pdf" in client.get(batch_url).get_data(as_text=True)

    Worker(system, processes=1).run(once=True)
    data = client.get(batch_url + ".json").get_json()
    assert data["finished"] and data["jobs"][0]["status"] == "ingested" and data["jobs"][0]["file"] == "维修单.pdf"
    assert "已入库" in client.get(batch_url).get_data(as_text=True)
    spool = system.settings.home / "spool"
    assert not any(p.is_file() for p in spool.rglob("*"))  # the spooled copy is gone


def test_the_old_queue_addresses_lead_to_the_kept_pages(client) -> None:
    login(client, "wang")
    assert client.get("/queue").headers["Location"].endswith("/upload")
    assert client.get("/queue/7").headers["Location"].endswith("/upload/batches/7")
    assert "队列入库" not in client.get("/upload").get_data(as_text=True)  # one upload page in the nav


def test_the_upload_form_is_csrf_protected_and_for_ingesting_roles(client) -> None:
    login(client, "wang")
    resp = client.post("/upload", data={"files": [(io.BytesIO(b"%PDF"), "a.pdf")]},
                       content_type="multipart/form-data")
    assert resp.status_code == 400 and "CSRF" in resp.get_data(as_text=True)
    client.post("/logout")
    login(client, "li")
    assert client.get("/upload").status_code == 403


def test_queue_and_status_over_the_api(system, client, tmp_path: Path) -> None:
    wang = {"Authorization": "Bearer " + system.users.new_token(system.actor("wang"), "wang")}
    root = {"Authorization": "Bearer " + system.users.new_token(system.actor("root"), "root")}
    assert client.post("/api/v1/uploads").status_code == 401
    resp = client.post("/api/v1/uploads", headers=wang, content_type="multipart/form-data",
                       data={"files": [(io.BytesIO(pdf_bytes(tmp_path, "消防巡查记录")), "巡查.pdf")],
                             "category": "safety", "location": "A-01"})
    assert resp.status_code == 202
    batch = resp.get_json()["batch_id"]
    assert client.get(f"/api/v1/uploads/{batch}", headers=wang).get_json()["counts"]["pending"] == 1
    status = client.get("/api/v1/system/status", headers=root).get_json()
    assert status["queue"]["open_batches"] == [batch] and status["storage"]["kind"] == "filesystem"
    assert client.get("/api/v1/system/status", headers=wang).status_code == 403
    Worker(system, processes=1).run(once=True)
    done = client.get(f"/api/v1/uploads/{batch}", headers=wang).get_json()
    assert done["finished"] and done["counts"]["ingested"] == 1 and done["jobs"][0]["file"] == "巡查.pdf"
    empty = client.post("/api/v1/uploads", headers=wang, content_type="multipart/form-data", data={})
    assert empty.status_code == 400 and "没有收到文件" in empty.get_json()["error"]
    paths = client.get("/api/v1/openapi.json", headers=wang).get_json()["paths"]
    assert {"/api/v1/uploads", "/api/v1/uploads/{batch_id}", "/api/v1/system/status"} <= set(paths)
    assert not {"/api/v1/queue", "/api/v1/queue/{batch_id}"} & set(paths)


def test_the_admin_sees_the_system_status_page(system, client) -> None:
    system.users.set_password(system.actor("secofficer"), "root", PASSWORD)
    login(client, "root")
    page = client.get("/system").get_data(as_text=True)
    assert "入库队列" in page and "filesystem" in page and "系统状态" in page
    assert 'href="/system"' in client.get("/admin/system").get_data(as_text=True)  # linked from 系统管理
    client.post("/logout")
    login(client, "li")
    assert client.get("/system").status_code == 403
    assert "系统状态" not in client.get("/records").get_data(as_text=True)  # no link for staff


def test_hand_off_is_a_setting_with_thread_by_default(tmp_path: Path) -> None:
    from dangan.config import load_settings
    from dangan.errors import InvalidInput

    assert load_settings(tmp_path, env={}).web_hand_off == "thread"
    assert load_settings(tmp_path, env={"DANGAN_WEB_HAND_OFF": "queue"}).web_hand_off == "queue"
    with pytest.raises(InvalidInput):
        load_settings(tmp_path, env={"DANGAN_WEB_HAND_OFF": "celery"})
