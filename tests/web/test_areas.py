"""首页, 一户一档 browse, 审计 and 管理 pages: counts within the reader's clearance,
the auditor's log, chain check and export, and 三员分立 in the browser."""

from __future__ import annotations

import csv
import io

from tests.web.conftest import add_record, client_as, post


def test_dashboard_counts_only_what_the_reader_may_see_and_draws_svg(app, system, tmp_path) -> None:
    add_record(system, tmp_path, "电梯维修", doc_date=__import__("datetime").date(2024, 3, 1))
    add_record(system, tmp_path, "业主登记表", category="owner", location="A-01-001-0102")
    wang = client_as(app, "wang").get("/").get_data(as_text=True)
    li = client_as(app, "li").get("/").get_data(as_text=True)
    assert "<svg" in wang and "维修保养" in wang and "业主资料" in wang
    assert "维修保养" in li and "业主资料" not in li
    assert '<div class="n">2</div><div class="label">可见档案' in wang
    assert '<div class="n">1</div><div class="label">可见档案' in li
    assert "2024" in wang


def test_browse_tree_counts_down_to_the_flat(app, system, tmp_path) -> None:
    add_record(system, tmp_path, "电梯维修", location="A-01-001-0101")
    add_record(system, tmp_path, "水管维修", location="A-01-002-0301")
    add_record(system, tmp_path, "业主登记表", category="owner", location="A-01-001-0101")
    li = client_as(app, "li")
    top = li.get("/browse").get_data(as_text=True)
    assert "A 翠湖花园" in top and "2 件" in top  # the confidential form is not counted for li
    building = li.get("/browse?at=A-01").get_data(as_text=True)
    assert "1 单元" in building and "2 单元" in building
    rooms = li.get("/browse?at=A-01-001").get_data(as_text=True)
    assert "0101 室" in rooms and "/dossier/A-01-001-0101" in rooms
    assert "3 件" in client_as(app, "wang").get("/browse").get_data(as_text=True)
    assert li.get("/browse?at=Z-99-x").status_code == 400


def test_auditor_filters_the_log_exports_csv_and_verifies_the_chain(app, system, tmp_path) -> None:
    no = add_record(system, tmp_path, "电梯维修")
    client_as(app, "li").get(f"/records/{no}")
    auditor = client_as(app, "audit1")
    page = auditor.get(f"/audit?actor=li&action=record.view&target={no}").get_data(as_text=True)
    assert "record.view" in page and "共 1 条" in page
    assert "共 0 条" in auditor.get("/audit?actor=nobody").get_data(as_text=True)
    assert auditor.get("/audit?date_from=yesterday").status_code == 400
    resp = auditor.get("/audit/export.csv?actor=li")
    assert resp.mimetype == "text/csv" and "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(resp.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:4] == ["id", "ts", "actor", "action"] and all(r[2] == "li" for r in rows[1:]) and len(rows) > 2
    resp = post(auditor, "/audit/verify")
    html = resp.get_data(as_text=True)
    head = system.verify_audit(system.actor("audit1")).head
    assert "校验通过" in html and len(head) == 64
    assert "record.view" in auditor.get("/audit?action=record.*").get_data(as_text=True)


def test_search_query_log_shows_who_searched_what(app, system, tmp_path) -> None:
    add_record(system, tmp_path, "电梯维修")
    client_as(app, "li").get("/search?q=电梯")
    html = client_as(app, "audit1").get("/audit/searches").get_data(as_text=True)
    assert "电梯" in html and "li" in html


def test_only_auditors_read_the_log(app) -> None:
    for name in ("wang", "li", "root", "secofficer"):
        assert client_as(app, name).get("/audit").status_code == 403, name


def test_security_officer_adds_a_user_and_grants_clearance(app, system) -> None:
    sec = client_as(app, "secofficer")
    resp = post(sec, "/admin/users", {"action": "add", "name": "sun", "roles": "staff", "clearance": "public",
                                      "password": "sun password 1"}, follow_redirects=True)
    assert "已添加用户 sun" in resp.get_data(as_text=True)
    resp = post(sec, "/admin/users", {"action": "update", "name": "sun", "roles": "staff",
                                      "clearance": "confidential", "categories": ["maintenance", "owner"],
                                      "active": "1"}, follow_redirects=True)
    assert "已保存" in resp.get_data(as_text=True)
    sun = system.actor("sun")
    assert sun.clearance == "confidential" and sun.categories == frozenset({"maintenance", "owner"})
    resp = post(sec, "/admin/users", {"action": "token", "name": "sun"})
    assert resp.status_code == 200 and "dg_" in resp.get_data(as_text=True)


def test_three_officers_stay_separate_in_the_browser(app, system) -> None:
    admin = client_as(app, "root")
    assert "添加用户" not in admin.get("/admin/users").get_data(as_text=True)  # may list, not grant
    resp = post(admin, "/admin/users", {"action": "add", "name": "sun", "roles": "staff"}, follow_redirects=True)
    assert "不是安全保密员" in resp.get_data(as_text=True)
    sec = client_as(app, "secofficer")
    resp = post(sec, "/admin/users", {"action": "update", "name": "secofficer", "roles": "security",
                                      "clearance": "secret", "active": "1"}, follow_redirects=True)
    assert "不能给自己" in resp.get_data(as_text=True)
    resp = post(sec, "/admin/users", {"action": "update", "name": "root", "roles": ["admin", "auditor"],
                                      "active": "1"}, follow_redirects=True)
    assert "三员分立" in resp.get_data(as_text=True)
    assert sec.get("/admin/system").status_code == 403
    assert system.actor("secofficer").clearance == "internal"


def test_admin_registers_an_estate_rotates_keys_and_reads_the_status(app, system, tmp_path) -> None:
    add_record(system, tmp_path, "电梯维修")
    admin = client_as(app, "root")
    html = admin.get("/admin/system").get_data(as_text=True)
    assert "系统状态" in html and "翠湖花园" in html
    resp = post(admin, "/admin/system", {"action": "project", "code": "B2", "name": "星河广场",
                                         "type": "commercial"}, follow_redirects=True)
    assert "已登记项目 B2" in resp.get_data(as_text=True)
    before = system.keyring.active_id
    resp = post(admin, "/admin/system", {"action": "rotate"}, follow_redirects=True)
    assert "密钥已轮换" in resp.get_data(as_text=True) and system.keyring.active_id != before
    no = add_record(system, tmp_path, "水泵维修")
    assert client_as(app, "li").get(f"/records/{no}/download").data.startswith(b"%PDF")


def test_scheme_is_validated_before_it_is_saved(lite_app, sqlite_system) -> None:
    admin = client_as(lite_app, "root")
    original = sqlite_system.settings.scheme_path.read_text(encoding="utf-8")
    resp = post(admin, "/admin/system", {"action": "scheme", "scheme": "this is [not toml"}, follow_redirects=True)
    assert 'class="flash error"' in resp.get_data(as_text=True)
    assert sqlite_system.settings.scheme_path.read_text(encoding="utf-8") == original
    resp = post(admin, "/admin/system", {"action": "scheme", "scheme": original}, follow_redirects=True)
    assert "分类方案已校验并保存" in resp.get_data(as_text=True)
