"""Each role's main path in a real browser (Debian's chromium driven by Playwright)
against a real `dangan serve`. The pages' screenshots are saved to docs/screenshots/ for
the README. Any Content-Security-Policy violation logged by the browser fails the test."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dangan.archive.records import RecordInput
from dangan.demo import render
from tests.browser import CHROMIUM, free_port, serving  # noqa: F401  (free_port: for other browser tests)

PASSWORD = "browser test pw"
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
COMPLAINT = "投诉处理记录\n投诉内容：夜间装修噪音影响休息。\n处理结果：已通知装修户停止夜间施工。"



@pytest.fixture
def server(sqlite_system, tmp_path):
    system = sqlite_system
    sec = system.actor("secofficer")
    for name in ("li", "wang", "audit1", "secofficer", "root"):
        system.users.set_password(sec, name, PASSWORD)
    system.users.add(sec, "zhang", ["owner"], "public", password=PASSWORD)
    for n, (title, text, cat, loc) in enumerate((
            ("二号楼电梯维修单", "二号楼电梯门无法关闭，已更换门机皮带。", "maintenance", "A-01-001-0101"),
            ("地下车库漏水处理", "地下车库顶板漏水，已做防水修补。", "maintenance", "A-01-002-0301"),
            ("业主登记表", "业主资料，仅限秘密级。", "owner", "A-01-001-0101"),
            ("装修申请审批表", "0101 室厨房改造，同意施工。", "renovation", "A-01-001-0101"),
            ("邻居装修审批表", "0102 室阳台封闭，同意施工。", "renovation", "A-01-001-0102"))):
        pdf = render.text_pdf(tmp_path / f"{n}.pdf", [f"{title}\n{text}"])
        result = system.records.create(system.actor("wang"), pdf, RecordInput(
            original_name=f"{title}.pdf", media_type="application/pdf", title=title, category=cat, location=loc,
            pages=1, text_pages=[{"page": 1, "text": text}]))
        if cat == "renovation":
            from dangan.web.owners import OwnerService

            OwnerService(system).set_visible(system.actor("wang"), result.archive_no, True)
    # paper records over two estates, several categories and years: the 首页 has something to draw
    import datetime as dt

    system.projects.add(system.actor("root"), "A2", "锦绣家园", "residential")
    cats = ["maintenance", "service", "equipment", "safety", "environment", "contract"]
    system.records.register_many(system.actor("wang"), [RecordInput(
        original_name=f"p{i}", media_type="paper", title=f"纸质档案 {i}", category=cats[i % len(cats)],
        location=f"{'A' if i % 3 else 'A2'}-0{i % 4 + 1}-00{i % 2 + 1}-0{i % 5 + 1}01",
        doc_date=dt.date(2019 + i % 7, 1 + i % 12, 1), security="internal", custody="档案室 3 号柜")
        for i in range(60)])
    system.search_service.sync()
    with serving(system.settings.home, DANGAN_INGEST_WORKERS="1") as base:
        yield base


@pytest.fixture
def page():
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed (scripts/bootstrap.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--disable-sync"])
        context = browser.new_context(viewport={"width": 1280, "height": 860}, accept_downloads=True)
        pg = context.new_page()
        violations: list[str] = []
        pg.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
        yield pg
        assert not violations, violations
        browser.close()


def sign_in(page, server: str, name: str) -> None:
    page.goto(server + "/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def image_loaded(page, min_width: int, timeout: float = 30) -> None:
    """The viewer's page image arrived and decoded (polled from here: the CSP forbids eval)."""
    img = page.locator(".viewer img")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if img.evaluate("el => el.complete && el.naturalWidth") > min_width:
            return
        time.sleep(0.2)
    raise AssertionError("the page image did not load")


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_staff_searches_opens_a_record_and_reads_it_in_the_viewer(server, page) -> None:
    page.goto(server + "/")
    assert "/login" in page.url
    sign_in(page, server, "li")
    assert page.inner_text("h1") == "首页"
    assert page.locator("svg.chart").count() >= 2
    shot(page, "dashboard")
    page.click("nav >> text=档案")
    assert "共 64 件" in page.inner_text("h1")  # the confidential owner form is not counted
    page.fill("input[name=q]", "漏水")
    page.click("form.bar button")
    assert "共 1 件" in page.inner_text("h1")
    assert page.inner_text(".hit mark") == "漏水"
    shot(page, "search")
    page.click(".hit a.code")
    assert page.inner_text("h1") == "地下车库漏水处理"
    image_loaded(page, 500)
    assert "防水修补" in page.inner_text("pre.text")
    shot(page, "record")
    page.click("header button")
    assert "/login" in page.url


def test_wrong_password_shows_a_chinese_message(server, page) -> None:
    page.goto(server + "/login")
    page.fill("input[name=name]", "li")
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit]")
    assert "用户名或密码不正确" in page.inner_text(".error")


def test_archivist_uploads_a_scan_watches_it_finish_and_classifies_it(server, page, tmp_path) -> None:
    scan = render.scanned_pdf(tmp_path / "投诉记录.pdf", [render.page_image(COMPLAINT, paper_mm=(148.0, 105.0),
                                                                       margin_mm=10)])
    sign_in(page, server, "wang")
    page.click("nav >> text=采集")
    page.set_input_files("input[name=files]", str(scan))
    assert "投诉记录.pdf" in page.inner_text("#chosen")
    shot(page, "upload")
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector("[data-finished]", timeout=180_000)
    assert "待分类" in page.inner_text("[data-status]")
    shot(page, "batch")
    page.click("text=去待分类队列")
    page.click("table td.code a")
    image_loaded(page, 100)
    shot(page, "review")
    page.select_option("form.stack select[name=category]", "service")
    page.fill("form.stack input[name=location]", "A-01-001-0101")
    page.fill("form.stack input[name=date]", "2024-03-06")  # the slip bears no date: the archivist supplies it
    page.click("text=确认并分配档号")
    assert "已保存：KF-A-01-001-0101-" in page.inner_text(".flash")
    assert "待分类队列为空" in page.inner_text("table")


def test_auditor_verifies_the_chain_and_exports_the_log(server, page) -> None:
    sign_in(page, server, "audit1")
    page.click("nav >> text=审计")
    assert "审计日志" in page.inner_text("h1")
    shot(page, "audit")
    page.click("text=日志链校验")
    page.click("#verify")
    assert "校验通过" in page.inner_text("#report")
    assert len(page.inner_text("#head").strip()) == 64
    shot(page, "audit-verify")
    page.click("a:text-is('审计日志')")
    with page.expect_download() as download:
        page.click("text=导出 CSV")
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert text.startswith("id,ts,actor,action") and "audit.verify" in text


def test_security_officer_creates_a_user_and_binds_an_owner_to_a_flat(server, page) -> None:
    sign_in(page, server, "secofficer")
    page.click("nav >> text=用户与授权")
    page.fill("#add-user input[name=name]", "sun")
    page.select_option("#add-user select[name=roles]", "staff")
    page.select_option("#add-user select[name=clearance]", "public")
    page.fill("#add-user input[name=password]", "sun password 1")
    page.click("#add-user button")
    assert "已添加用户 sun" in page.inner_text(".flash")
    page.goto(server + "/admin/users?edit=zhang")
    page.fill("#bind input[name=location]", "A-01-001-0101")
    page.click("#bind button")
    assert "已把业主 zhang 绑定到 A-01-001-0101" in page.inner_text(".flash")
    shot(page, "admin-users")


def test_owner_logs_in_and_sees_exactly_their_own_records(server, page, sqlite_system) -> None:
    from dangan.web.owners import OwnerService

    OwnerService(sqlite_system).bind(sqlite_system.actor("secofficer"), "zhang", "A-01-001-0101")
    sign_in(page, server, "zhang")
    assert page.inner_text("h1") == "我的房屋档案"
    rows = page.locator("tbody tr")
    assert rows.count() == 1 and "装修申请审批表" in rows.inner_text()
    assert "邻居" not in page.content()
    shot(page, "owner")
    page.click("tbody a")
    image_loaded(page, 500)
    page.goto(server + "/search?q=装修")
    assert "403" in page.inner_text("h1")
