"""业主查询: an owner bound to a flat sees that flat's owner-visible records and nothing
else — no URL, API id, search, browse or dossier reaches a neighbour's record or a record
not marked owner-visible."""

from __future__ import annotations

import hashlib
import io

import pytest
from pypdf import PdfReader

from tests.web.conftest import add_record, client_as, login, post

OWNER_PW = "owner password 1"


@pytest.fixture
def estate(app, system, tmp_path):
    """Owner zhang of A-01-001-0101, bound and marked through the pages by the people who may."""
    sec = system.actor("secofficer")
    system.users.add(sec, "zhang", ["owner"], "public", password=OWNER_PW)
    mine = add_record(system, tmp_path, "本户装修审批表", category="renovation")
    hidden = add_record(system, tmp_path, "本户维修内部记录", text="内部评估")
    neighbour = add_record(system, tmp_path, "邻居装修审批表", category="renovation", location="A-01-001-0102")
    building = add_record(system, tmp_path, "楼栋消防巡查", category="safety", location="A-01-001")
    officer = client_as(app, "secofficer")
    resp = post(officer, "/admin/users", {"action": "bind", "name": "zhang", "location": "A-01-001-0101"},
                follow_redirects=True)
    assert "已把业主 zhang 绑定到" in resp.get_data(as_text=True)
    archivist = client_as(app, "wang")
    for no in (mine, neighbour):
        assert post(archivist, f"/records/{no}/owner-visible", {"visible": "1"}).status_code == 302
    return {"mine": mine, "hidden": hidden, "neighbour": neighbour, "building": building}


def _original(system, no: str):
    from dangan.archive.records import RecordsService

    with system.db.read() as s:
        rec = RecordsService.find(s, no)
    return system.records.iter_original(rec)


def owner(app):
    client = app.test_client()
    resp = login(client, "zhang", OWNER_PW)
    assert resp.headers["Location"] == "/owner"
    return client


def test_owner_sees_exactly_their_own_owner_visible_records(app, estate) -> None:
    html = owner(app).get("/owner").get_data(as_text=True)
    assert estate["mine"] in html and "本户装修审批表" in html
    for other in ("本户维修内部记录", "邻居装修审批表", "楼栋消防巡查"):
        assert other not in html


def test_owner_reads_and_downloads_their_record_and_it_is_audited(app, system, estate) -> None:
    client = owner(app)
    no = estate["mine"]
    assert "本户装修审批表" in client.get(f"/owner/records/{no}").get_data(as_text=True)
    page = client.get(f"/owner/records/{no}/page/1")
    assert page.mimetype == "image/png" and page.headers["Cache-Control"].startswith("no-store")
    copy = client.get(f"/owner/records/{no}/download")
    assert copy.data.startswith(b"%PDF") and copy.headers["Cache-Control"].startswith("no-store")
    stamped = "".join(p.extract_text() for p in PdfReader(io.BytesIO(copy.data)).pages)
    assert "业主 zhang" in stamped and "仅供本户查阅" in stamped  # the watermark, on every page
    assert hashlib.sha256(b"".join(_original(system, no))).hexdigest() == system.records.show(
        system.actor("wang"), no)["sha256"]  # the stored original is unchanged
    actions = {(r["action"], r["target"]) for r in system.audit_log(system.actor("audit1")) if r["actor"] == "zhang"}
    assert ("owner.download", no) in actions and ("owner.view", no) in actions


def test_no_url_reaches_a_neighbours_or_a_hidden_record(app, estate) -> None:
    client = owner(app)
    for key in ("hidden", "neighbour", "building"):
        no = estate[key]
        for path in (f"/owner/records/{no}", f"/owner/records/{no}/page/1", f"/owner/records/{no}/download"):
            resp = client.get(path)
            assert resp.status_code == 404, path
            assert "审批表" not in resp.get_data(as_text=True) and "巡查" not in resp.get_data(as_text=True)
    for path in (f"/records/{estate['neighbour']}", f"/records/{estate['mine']}", f"/records/{estate['neighbour']}/page/1",
                 f"/records/{estate['neighbour']}/download", "/records", "/search?q=装修", "/browse",
                 "/dossier/A-01-001-0101", "/dossier/A-01-001-0102", "/review", "/upload", "/audit"):
        resp = client.get(path)
        assert resp.status_code == 403, path
        assert "邻居" not in resp.get_data(as_text=True)


def test_no_api_id_search_or_dossier_reaches_a_neighbours_record(app, system, estate) -> None:
    client = app.test_client()
    token = {"Authorization": "Bearer " + system.users.new_token(system.actor("zhang"), "zhang")}
    body = client.get("/api/v1/owner/records", headers=token).get_json()
    assert [r["archive_no"] for r in body["records"]] == [estate["mine"]]
    assert client.get(f"/api/v1/owner/records/{estate['mine']}", headers=token).status_code == 200
    for key in ("hidden", "neighbour", "building"):
        assert client.get(f"/api/v1/owner/records/{estate[key]}", headers=token).status_code == 404
    for path in (f"/api/v1/records/{estate['neighbour']}", f"/api/v1/records/{estate['neighbour']}/original",
                 f"/api/v1/records/{estate['neighbour']}/pages/1", "/api/v1/records", "/api/v1/search?q=装修",
                 "/api/v1/dossier/A-01-001-0102", "/api/v1/browse", "/api/v1/audit", "/api/v1/review"):
        resp = client.get(path, headers=token)
        assert resp.status_code == 403, path
        assert "邻居" not in resp.get_data(as_text=True)


def test_unmarking_or_unbinding_closes_the_record_again(app, system, estate) -> None:
    archivist = client_as(app, "wang")
    post(archivist, f"/records/{estate['mine']}/owner-visible", {"visible": "0"})
    assert owner(app).get(f"/owner/records/{estate['mine']}").status_code == 404
    post(archivist, f"/records/{estate['mine']}/owner-visible", {"visible": "1"})
    officer = client_as(app, "secofficer")
    post(officer, "/admin/users", {"action": "unbind", "name": "zhang", "location": "A-01-001-0101"})
    assert owner(app).get(f"/owner/records/{estate['mine']}").status_code == 404


def test_only_the_security_officer_binds_and_only_to_owner_accounts_and_flats(app, system, estate) -> None:
    admin = client_as(app, "root")
    resp = post(admin, "/admin/users", {"action": "bind", "name": "zhang", "location": "A-01-001-0102"},
                follow_redirects=True)
    assert "不是安全保密员" in resp.get_data(as_text=True)
    officer = client_as(app, "secofficer")
    resp = post(officer, "/admin/users", {"action": "bind", "name": "li", "location": "A-01-001-0102"},
                follow_redirects=True)
    assert "不是业主账户" in resp.get_data(as_text=True)
    resp = post(officer, "/admin/users", {"action": "bind", "name": "zhang", "location": "A-01"},
                follow_redirects=True)
    assert "不是具体房间" in resp.get_data(as_text=True)
    staff = client_as(app, "li")
    assert post(staff, f"/records/{estate['hidden']}/owner-visible", {"visible": "1"}).status_code == 403


def test_an_owner_account_holds_no_other_role(app, system) -> None:
    officer = client_as(app, "secofficer")
    resp = post(officer, "/admin/users", {"action": "add", "name": "qian", "roles": ["owner", "staff"]},
                follow_redirects=True)
    assert "不能兼任" in resp.get_data(as_text=True)
