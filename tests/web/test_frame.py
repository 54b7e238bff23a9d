"""The frame every page sits in: security headers, cookies, CSRF, error pages that leak
nothing, login throttling, password change, navigation by role."""

from __future__ import annotations

import re

from tests.web.conftest import PASSWORD, client_as, csrf, login, post


def test_every_page_carries_the_security_headers_and_a_csp_without_inline_script(lite_app) -> None:
    client = client_as(lite_app, "wang")
    for path in ("/login", "/", "/records", "/browse", "/upload", "/review", "/nope", "/api/v1/me"):
        resp = client.get(path)
        csp = resp.headers["Content-Security-Policy"]
        script = re.search(r"script-src ([^;]+)", csp).group(1)
        assert "'unsafe-inline'" not in script and "'unsafe-eval'" not in script, path
        assert "frame-ancestors 'none'" in csp
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert resp.headers["Referrer-Policy"] == "same-origin"
        assert "no-store" in resp.headers["Cache-Control"]


def test_pages_have_no_inline_script_and_assets_are_served_locally(lite_app) -> None:
    client = client_as(lite_app, "wang")
    for path in ("/", "/records", "/upload", "/review", "/browse"):
        html = client.get(path).get_data(as_text=True)
        assert re.search(r"<script(?![^>]*\bsrc=)", html) is None, path
        assert " on" + "click=" not in html and "javascript:" not in html
        assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html
    assert client.get("/static/dangan.js").status_code == 200
    assert client.get("/static/dangan.css").status_code == 200


def test_session_cookie_is_httponly_and_samesite(lite_app) -> None:
    client = lite_app.test_client()
    resp = login(client, "li")
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    tls = lite_app.test_client()
    token = csrf(tls)
    resp = tls.post("/login", data={"name": "li", "password": PASSWORD, "csrf_token": token},
                    base_url="https://localhost")
    assert "Secure" in resp.headers["Set-Cookie"]


def test_forms_without_the_csrf_token_are_refused(lite_app) -> None:
    client = client_as(lite_app, "secofficer")
    for path in ("/logout", "/password", "/admin/users", "/records/X/edit", "/upload", "/audit/verify"):
        resp = client.post(path, data={"name": "x", "action": "add"})
        assert resp.status_code in (400, 403), path
        if resp.status_code == 400:
            assert "CSRF" in resp.get_data(as_text=True), path


def test_not_found_and_server_errors_leak_nothing(lite_app) -> None:
    @lite_app.route("/boom")
    def boom() -> str:
        raise RuntimeError("secret detail /etc/passwd")

    client = client_as(lite_app, "li")
    resp = client.get("/records/<script>x</script>310101199001011234")
    body = resp.get_data(as_text=True)
    assert resp.status_code == 404 and "<script>x" not in body and "Traceback" not in body
    assert "310101199001011234" not in body
    resp = client.get("/boom")
    body = resp.get_data(as_text=True)
    assert resp.status_code == 500 and "服务器内部错误" in body
    assert "secret detail" not in body and "Traceback" not in body and "RuntimeError" not in body


def test_api_errors_are_one_sentence_with_a_code(lite_app) -> None:
    client = lite_app.test_client()
    resp = client.get("/api/v1/records")
    assert resp.status_code == 401
    body = resp.get_json()
    assert isinstance(body["error"], str) and body["code"] == "unauthenticated"
    assert client.get("/api/v1/nope").get_json()["code"] == "not_found"


def test_login_is_throttled_per_account_and_audited(app, system) -> None:
    client = app.test_client()
    for _ in range(5):
        assert login(client, "li", "wrong password").status_code == 401
    resp = login(client, "li")  # the right password no longer helps
    assert resp.status_code == 429 and "过多" in resp.get_data(as_text=True)
    other = app.test_client()
    assert login(other, "wang").status_code == 302  # another account is not affected
    rows = system.audit_log(system.actor("audit1"), action="user.login")
    assert [r["outcome"] for r in rows].count("throttled") == 1
    assert [r["outcome"] for r in rows].count("denied") == 5


def test_login_is_throttled_per_address(lite_app) -> None:
    client = lite_app.test_client()
    for n in range(20):
        login(client, f"nobody{n}", "wrong password", address="10.0.0.9")
    assert login(client, "li", address="10.0.0.9").status_code == 429
    assert login(client, "li", address="10.0.0.10").status_code == 302


def test_login_redirect_stays_on_this_site(lite_app) -> None:
    client = lite_app.test_client()
    token = csrf(client)
    resp = client.post("/login?next=//evil.example/x", data={"name": "li", "password": PASSWORD,
                                                             "csrf_token": token})
    assert resp.status_code == 302 and resp.headers["Location"] == "/"


def test_password_change_needs_the_current_password(app, system) -> None:
    client = client_as(app, "li")
    resp = post(client, "/password", {"current": "wrong password", "new": "a new password", "again": "a new password"})
    assert resp.status_code == 400 and "当前密码不正确" in resp.get_data(as_text=True)
    resp = post(client, "/password", {"current": PASSWORD, "new": "a new password", "again": "a new pass"})
    assert resp.status_code == 400 and "不一致" in resp.get_data(as_text=True)
    resp = post(client, "/password", {"current": PASSWORD, "new": "a new password", "again": "a new password"})
    assert resp.status_code == 302
    post(client, "/logout")
    assert client.get("/").status_code == 302
    assert login(app.test_client(), "li", "a new password").status_code == 302
    assert login(app.test_client(), "li").status_code == 401


def test_navigation_shows_each_role_its_own_areas(lite_app) -> None:
    def links(name: str) -> set[str]:
        html = client_as(lite_app, name).get("/").get_data(as_text=True)
        nav = html.split("<nav>", 1)[1].split("</nav>", 1)[0]
        return set(re.findall(r">([^<]+)</a>", nav))

    assert {"首页", "档案", "一户一档", "采集", "待分类"} <= links("wang")
    assert "审计" not in links("wang") and "用户与授权" not in links("wang")
    auditor = links("audit1")  # reads the trail, the ledgers and the registers; changes nothing
    assert {"首页", "档案", "一户一档", "审计", "借阅登记簿", "销毁登记簿", "四性检测"} <= auditor
    assert not {"采集", "待分类", "我的借阅", "借还台", "用户与授权", "移交与接管"} & auditor
    assert "用户与授权" in links("secofficer") and "采集" not in links("secofficer")
    assert "系统管理" in links("root") and "用户与授权" not in links("root")
    assert "采集" not in links("li")


def test_a_role_change_ends_the_session(app, system) -> None:
    client = client_as(app, "li")
    assert client.get("/records").status_code == 200
    system.users.update(system.actor("secofficer"), "li", roles=["manager"])
    assert client.get("/records").status_code == 302


def test_access_log_lines_drop_the_query_string() -> None:
    import logging

    from dangan.web.app import _QueryStringFilter

    record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, '"%s" %s %s',
                               ("GET /search?q=110101199003074514 HTTP/1.1", "200", "-"), None)
    _QueryStringFilter().filter(record)
    assert record.getMessage() == '"GET /search HTTP/1.1" 200 -'


def test_home_shows_loans_and_records_falling_due_to_those_who_keep_them(app, system, tmp_path) -> None:
    import datetime as dt

    from tests.web.conftest import add_record

    no = add_record(system, tmp_path, "2005 年电梯维修单", doc_date=dt.date(2005, 3, 1))  # 10 years: long due
    loan = system.loans.request(system.actor("li"), [no], "核对", kind="physical", days=7)
    system.loans.approve(system.actor("wang"), loan["loan_id"])
    system.loans.checkout(system.actor("wang"), loan["loan_id"])
    home = client_as(app, "wang").get("/").get_data(as_text=True)
    assert "借阅" in home and "借出中" in home and "保管期限" in home and "已到期" in home
    staff = client_as(app, "li").get("/").get_data(as_text=True)
    assert "借出中" not in staff and "已到期" not in staff
