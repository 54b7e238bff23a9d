"""The record page: metadata, history, the viewer (pages rendered on the server, never
cached), audited downloads with safe Chinese file names, corrections with a reason —
and nothing for readers without the right, whatever id or path they try."""

from __future__ import annotations

import io
from urllib.parse import unquote

from PIL import Image

from tests.web.conftest import add_record, bearer, client_as, post


def test_viewer_renders_a_page_on_the_server_and_forbids_caching(app, system, tmp_path) -> None:
    no = add_record(system, tmp_path, "水泵维修记录", pages=2)
    client = client_as(app, "li")
    html = client.get(f"/records/{no}").get_data(as_text=True)
    assert f"/records/{no}/page/1" in html and "第 1 / 2 页" in html
    resp = client.get(f"/records/{no}/page/2")
    assert resp.status_code == 200 and resp.mimetype == "image/png"
    assert resp.headers["Cache-Control"].startswith("no-store")
    image = Image.open(io.BytesIO(resp.data))
    assert image.width > 500
    assert client.get(f"/records/{no}/page/3").status_code == 404
    entries = system.audit_log(system.actor("audit1"), action="record.page")
    assert entries[-1]["actor"] == "li" and entries[-1]["target"] == no


def test_download_is_audited_and_names_the_file_safely(app, system, tmp_path) -> None:
    no = add_record(system, tmp_path, "维修单", original_name='报修单"; x=1\r\n.pdf')
    client = client_as(app, "li")
    resp = client.get(f"/records/{no}/download")
    assert resp.status_code == 200 and resp.data.startswith(b"%PDF")
    disposition = resp.headers["Content-Disposition"]
    assert "\r" not in disposition and "\n" not in disposition
    assert f'filename="{no}.pdf"' in disposition
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == "报修单 x=1.pdf"
    assert resp.headers["Cache-Control"].startswith("no-store")
    rows = system.audit_log(system.actor("audit1"), action="record.download")
    assert rows[-1]["actor"] == "li" and rows[-1]["target"] == no


def test_readers_without_clearance_get_no_page_or_download(app, system, tmp_path) -> None:
    no = add_record(system, tmp_path, "业主登记表", category="owner")  # confidential by default
    li = client_as(app, "li")
    for path in (f"/records/{no}", f"/records/{no}/page/1", f"/records/{no}/download"):
        resp = li.get(path)
        assert resp.status_code == 403, path
        assert "业主登记表" not in resp.get_data(as_text=True)
    auditor = client_as(app, "audit1")  # reads the trail, never the content
    assert auditor.get(f"/records/{no}/page/1").status_code == 403
    assert auditor.get(f"/records/{no}/download").status_code == 403
    denied = system.audit_log(system.actor("audit1"), action="record.page")
    assert any(r["outcome"] == "denied" and r["actor"] == "li" for r in denied)


def test_path_traversal_and_made_up_ids_find_nothing(app, system, tmp_path) -> None:
    add_record(system, tmp_path, "维修单")
    client = client_as(app, "wang")
    for path in ("/records/..%2F..%2Fetc%2Fpasswd/download", "/records/../../etc/passwd/download",
                 "/records/%2e%2e/page/1", "/records/WX-A-01-001-0101-2024-9999/download",
                 "/records/" + "0" * 32 + "/download"):
        resp = client.get(path)
        assert resp.status_code in (400, 404), path
        assert b"root:" not in resp.data


def test_correction_needs_a_reason_and_keeps_the_old_number_as_alias(app, system, tmp_path) -> None:
    no = add_record(system, tmp_path, "电梯维修单")
    client = client_as(app, "wang")
    resp = post(client, f"/records/{no}/edit", {"location": "A-01-001-0102", "reason": ""})
    assert resp.status_code == 400 and "原因" in resp.get_data(as_text=True)
    resp = post(client, f"/records/{no}/edit", {"location": "A-01-001-0102", "reason": "房号录错"})
    assert resp.status_code == 302
    new_no = resp.headers["Location"].rsplit("/", 1)[1]
    assert new_no != no and "0102" in new_no
    assert client.get(f"/records/{no}").headers["Location"].endswith(new_no)  # the alias still resolves
    html = client.get(f"/records/{new_no}").get_data(as_text=True)
    assert "房号录错" in html and no in html and "wang" in html
    staff = client_as(app, "li")
    assert post(staff, f"/records/{new_no}/edit", {"title": "x", "reason": "y"}).status_code == 403


def test_low_confidence_pages_are_flagged(lite_app, sqlite_system, tmp_path) -> None:
    no = add_record(sqlite_system, tmp_path, "扫描件", pages=2, confidence=0.3)
    html = client_as(lite_app, "wang").get(f"/records/{no}").get_data(as_text=True)
    assert "低置信度页" in html and "识别置信度低" in html


def test_fixity_check_from_the_record_page(lite_app, sqlite_system, tmp_path) -> None:
    no = add_record(sqlite_system, tmp_path, "维修单")
    client = client_as(lite_app, "wang")
    assert "尚未在网页上检测" in client.get(f"/records/{no}").get_data(as_text=True)
    resp = post(client, f"/records/{no}/verify", follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert "四性检测通过" in html and '<span class="tag ok">通过</span>' in html


def test_titles_file_names_and_search_terms_are_escaped(lite_app, sqlite_system, tmp_path) -> None:
    no = add_record(sqlite_system, tmp_path, "<script>alert(1)</script>漏水",
                    original_name="<img src=x onerror=alert(1)>.pdf")
    client = client_as(lite_app, "wang")
    for path in (f"/records/{no}", "/records", "/search?q=<script>alert(3)</script>漏水", "/",
                 "/browse?at=A-01"):
        html = client.get(path).get_data(as_text=True)
        assert "<script>alert" not in html and "<img src=x" not in html, path


def test_api_reads_pages_and_originals_with_the_same_rights(app, system, tmp_path) -> None:
    no = add_record(system, tmp_path, "业主登记表", category="owner")
    client = app.test_client()
    li, wang = bearer(system, "li"), bearer(system, "wang")
    assert client.get(f"/api/v1/records/{no}/pages/1", headers=li).status_code == 403
    assert client.get(f"/api/v1/records/{no}/original", headers=li).status_code == 403
    assert client.get(f"/api/v1/records/{no}/pages/1", headers=wang).mimetype == "image/png"
    assert client.get(f"/api/v1/records/{no}/original", headers=wang).data.startswith(b"%PDF")
    assert client.get(f"/api/v1/records/{no}/original").status_code == 401
