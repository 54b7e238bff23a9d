"""采集 in the browser: several files at once with the options of `dangan ingest`, the
batch followed live, and the 待分类 queue worked through beside the page image."""

from __future__ import annotations

import io
import time

from dangan.demo import render
from tests.web.conftest import bearer, client_as, post

COMPLAINT = "投诉处理记录\n投诉内容：夜间装修噪音影响休息。\n处理结果：已通知装修户停止夜间施工。\n处理日期：2024年3月6日"
REPAIR = "维修工单\n维修编码：010023\n报修位置：翠湖花园1号楼1单元0101室\n报修内容：卫生间地漏堵塞。\n填表日期：2024年3月5日"


def pdf(tmp_path, name: str, text: str) -> bytes:
    return render.text_pdf(tmp_path / name, [text]).read_bytes()


def wait(client, batch_id: int, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = client.get(f"/upload/batches/{batch_id}.json").get_json()
        if data["finished"]:
            return data
        time.sleep(0.5)
    raise AssertionError(f"batch {batch_id} did not finish: {data}")


def test_archivist_uploads_files_follows_the_batch_and_confirms_from_the_queue(app, system, tmp_path) -> None:
    client = client_as(app, "wang")
    files = [(io.BytesIO(pdf(tmp_path, "a.pdf", REPAIR)), "维修单.pdf"),
             (io.BytesIO(pdf(tmp_path, "b.pdf", COMPLAINT)), "投诉<记录>.pdf"),
             (io.BytesIO(b"not a document at all"), "notes.txt")]
    resp = post(client, "/upload", {"files": files, "security": "internal"},
                content_type="multipart/form-data")
    assert resp.status_code == 302
    batch_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    html = client.get(f"/upload/batches/{batch_id}").get_data(as_text=True)
    assert "data-batch-url" in html and "投诉&lt;记录&gt;.pdf" in html
    data = wait(client, batch_id)
    by_file = {j["file"]: j for j in data["jobs"]}
    assert by_file["维修单.pdf"]["status"] == "ingested" and by_file["维修单.pdf"]["archive_no"].startswith("WX-A-01")
    assert by_file["notes.txt"]["status"] == "rejected" and by_file["notes.txt"]["error"]
    assert by_file["投诉<记录>.pdf"]["status"] == "queued"
    assert data["total"] == 3 and data["done"] == 3 and data["pages"] >= 2
    deadline = time.monotonic() + 30  # the uploaded files are removed once the run has wound up
    while any((system.settings.home / "spool").iterdir()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any((system.settings.home / "spool").iterdir())

    queue = client.get("/review").get_data(as_text=True)
    provisional = by_file["投诉<记录>.pdf"]["archive_no"]
    assert provisional in queue
    item = client.get(f"/review/{provisional}").get_data(as_text=True)
    assert f"/records/{provisional}/page/1" in item and "建议类别" in item
    assert client.get(f"/records/{provisional}/page/1").mimetype == "image/png"
    resp = post(client, f"/records/{provisional}/edit", {"category": "service", "location": "A-01-001-0101",
                                                         "reason": "人工分类", "next": "/review"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/review"
    confirmed = system.records.show(system.actor("wang"), provisional)
    assert confirmed["status"] == "active" and confirmed["archive_no"].startswith("KF-A-01-001-0101")
    assert provisional not in client.get("/review").get_data(as_text=True)


def test_upload_refuses_wrong_options_before_reading_any_file(lite_app, tmp_path) -> None:
    client = client_as(lite_app, "wang")
    resp = post(client, "/upload", {"files": [(io.BytesIO(b"%PDF-1.4"), "a.pdf")], "location": "Z-9"},
                content_type="multipart/form-data")
    assert resp.status_code == 400 and "位置" in resp.get_data(as_text=True)
    resp = post(client, "/upload", {"date": "2024-13-45"}, content_type="multipart/form-data")
    assert resp.status_code == 400


def test_a_batch_is_visible_only_to_its_maker(app, system, tmp_path) -> None:
    wang = client_as(app, "wang")
    resp = post(wang, "/upload", {"files": [(io.BytesIO(b"junk"), "x.bin")]}, content_type="multipart/form-data")
    batch_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    wait(wang, batch_id)
    sec = system.actor("secofficer")
    system.users.add(sec, "wu", ["archivist"], "secret", password="wu password 1")
    from tests.web.conftest import login

    other = app.test_client()
    login(other, "wu", "wu password 1")
    assert other.get(f"/upload/batches/{batch_id}").status_code == 404
    assert other.get(f"/upload/batches/{batch_id}.json").status_code == 404
    assert app.test_client().get(f"/api/v1/uploads/{batch_id}", headers=bearer(system, "wu")).status_code == 404
    assert client_as(app, "li").get(f"/upload/batches/{batch_id}").status_code == 403


def test_staff_cannot_upload_or_review(lite_app) -> None:
    li = client_as(lite_app, "li")
    assert li.get("/upload").status_code == 403 and li.get("/review").status_code == 403
    assert post(li, "/upload", {"files": [(io.BytesIO(b"x"), "x.pdf")]},
                content_type="multipart/form-data").status_code == 403


def test_platform_posts_a_repair_record_and_gets_its_archive_number(app, system, tmp_path) -> None:
    """The documented API example: PDF + 维修编码 + location in, 档号 out."""
    client = app.test_client()
    resp = client.post("/api/v1/records", headers=bearer(system, "wang"), data={
        "file": (io.BytesIO(pdf(tmp_path, "r.pdf", "维修工单\n电梯门机皮带更换。")), "工单.pdf"),
        "category": "maintenance", "location": "A-01-001-0101", "maintenance_code": "020007",
        "date": "2024-03-05"},
        content_type="multipart/form-data")
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["status"] == "ingested" and body["archive_no"].startswith("WX-A-01-001-0101-")
    shown = client.get(f"/api/v1/records/{body['archive_no']}", headers=bearer(system, "wang")).get_json()
    assert shown["maintenance_code"] == "020007"
    again = client.post("/api/v1/records", headers=bearer(system, "wang"), data={
        "file": (io.BytesIO(pdf(tmp_path, "r.pdf", "维修工单\n电梯门机皮带更换。")), "工单.pdf")},
        content_type="multipart/form-data")
    assert again.status_code == 200 and again.get_json()["status"] == "duplicate"
    bad = client.post("/api/v1/records", headers=bearer(system, "wang"), data={
        "file": (io.BytesIO(b"x"), "a.pdf"), "maintenance_code": "99"}, content_type="multipart/form-data")
    assert bad.status_code == 400 and "维修编码" in bad.get_json()["error"]
