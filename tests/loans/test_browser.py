"""The loan pages in a real browser (Debian's chromium via Playwright) against `dangan serve`:
a staff member asks for a paper original, a manager approves, the archivist hands it out by
scanning its code and takes it back damaged, the incident stays until closed, an auditor
reads the ledger; another staff member reads a confidential record on a copy loan."""

from __future__ import annotations

import io

import pytest

from dangan.archive.records import RecordInput
from tests.browser import serving
from tests.loans.conftest import pdf_bytes
from tests.web.test_browser import free_port, page  # noqa: F401  (fixture)

PASSWORD = "browser test pw"


@pytest.fixture
def server(sqlite_system):
    system = sqlite_system
    sec = system.actor("secofficer")
    system.users.add(sec, "sun", ["staff"], "internal", "客服部")
    for name in ("li", "sun", "zhao", "wang", "audit1"):
        system.users.set_password(sec, name, PASSWORD)
    for title, cat, level, loc in (("二号楼电梯维修单", "maintenance", "internal", "A-01-001-0101"),
                                   ("业主登记表", "owner", "confidential", "A-01-001-0102")):
        system.records.create(system.actor("wang"), io.BytesIO(pdf_bytes(title)),
                              RecordInput(original_name="x.pdf", media_type="application/pdf", title=title,
                                          category=cat, location=loc, security=level,
                                          text_pages=[{"page": 1, "text": title + "：正文内容"}]))
    system.search_service.sync()
    with serving(system.settings.home) as base:
        yield base, system


def login(page, base: str, name: str) -> None:  # noqa: F811
    page.context.clear_cookies()
    page.goto(base + "/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def test_a_paper_original_is_requested_approved_scanned_out_and_returned_damaged(server, page, tmp_path):  # noqa: F811
    base, _ = server
    login(page, base, "li")
    page.goto(base + "/records")  # the record list with its search box (the home page is the dashboard)
    page.fill("input[name=q]", "电梯")
    page.click("form.bar button")
    page.click(".hit a.code")
    archive_no = page.inner_text("dd.code").strip()
    page.click("text=申请借阅")
    page.fill("input[name=purpose]", "电梯故障责任认定")
    page.check("input[name=kind][value=physical]")
    page.click("text=提交申请")
    assert "待审批" in page.inner_text("#state")
    loan_id = page.inner_text("h1 .code")
    assert "批准" not in page.inner_text(".actions")  # the borrower sees no approve button

    login(page, base, "zhao")
    page.click("header >> text=待审批")
    page.click(f"text={loan_id}")
    page.click("button:has-text('批准')")
    assert "已批准" in page.inner_text("#state")

    login(page, base, "wang")
    page.click("header >> text=借还台")
    page.fill("#scan input[name=code]", f"dangan:record:{archive_no}")  # what the USB scanner types
    page.press("#scan input[name=code]", "Enter")
    assert loan_id in page.inner_text("#found")
    page.click("#found button:has-text('借出')")
    assert "已借出" in page.inner_text("#found .state")
    page.fill("#scan input[name=code]", archive_no)
    page.press("#scan input[name=code]", "Enter")
    page.select_option("#found select[name=condition]", "damaged")
    page.fill("#found input[name=note]", "封面撕裂")
    page.click("#found button:has-text('归还')")
    assert "已归还" in page.inner_text("#found .state")
    page.click("header >> text=损坏登记")
    assert "封面撕裂" in page.inner_text("table.incidents")
    page.fill("table.incidents input[name=resolution]", "已修补")
    page.click("table.incidents button")
    assert "没有待处理的登记" in page.inner_text("table.incidents")

    login(page, base, "audit1")
    page.click("header >> text=借阅登记簿")
    ledger = page.inner_text("table.ledger")
    for step in ("申请", "批准", "借出", "归还", "处理完毕"):
        assert step in ledger
    assert "借还台" not in page.inner_text("header")
    page.screenshot(path=str(tmp_path / "ledger.png"), full_page=True)


def test_a_copy_loan_of_a_confidential_record_is_read_with_a_watermark(server, page, tmp_path):  # noqa: F811
    from pypdf import PdfReader

    base, system = server
    archive_no = system.records.list(system.actor("wang"), category="owner")[1][0]["archive_no"]
    login(page, base, "sun")
    page.goto(base + f"/records/{archive_no}")
    assert "权限不足" in page.inner_text(".error")
    page.goto(base + "/loans/new")
    page.fill("input[name=records]", archive_no)
    page.fill("input[name=purpose]", "业主投诉核实")
    page.check("input[name=kind][value=copy]")
    page.fill("input[name=days]", "3")
    page.click("text=提交申请")
    loan_id = page.inner_text("h1 .code")

    login(page, base, "zhao")
    page.goto(base + f"/loans/{loan_id}")
    page.click("button:has-text('批准')")

    login(page, base, "sun")
    page.click("header >> text=我的借阅")
    page.click(f"text={loan_id}")
    page.click("text=在线查阅")
    assert "业主登记表：正文内容" in page.inner_text("pre.text")
    page.go_back()
    href = page.get_attribute("a.copy", "href")
    resp = page.request.get(base + href)  # the browser's own session
    assert resp.status == 200, resp.text()[:500]
    assert resp.headers["content-type"] == "application/pdf"
    path = tmp_path / "copy.pdf"
    path.write_bytes(resp.body())
    text = PdfReader(path).pages[1].extract_text()
    assert "sun" in text and loan_id in text


def test_a_view_loan_ends_by_itself_at_the_due_date(sqlite_system, page):  # noqa: F811
    """The app in-process (so the test can move the loans clock), in a real browser."""
    import datetime as dt
    import threading

    from werkzeug.serving import make_server

    from dangan.web.app import create_app
    from tests.loans.conftest import Clock, add_record

    system = sqlite_system
    clock = Clock(dt.datetime(2026, 3, 2, 9))
    system.loans.clock = clock
    for name in ("li", "zhao"):
        system.users.set_password(system.actor("secofficer"), name, PASSWORD)
    archive_no = add_record(system, "业主登记表", security="confidential", category="owner")
    httpd = make_server("127.0.0.1", free_port(), create_app(system), threaded=False)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_port}"
    try:
        login(page, base, "li")
        page.goto(base + f"/loans/new?record={archive_no}")
        page.fill("input[name=purpose]", "物业费纠纷调解")
        page.fill("input[name=days]", "2")
        page.click("text=提交申请")
        loan_id = page.inner_text("h1 .code")
        login(page, base, "zhao")
        page.goto(base + f"/loans/{loan_id}")
        page.click("button:has-text('批准')")
        login(page, base, "li")
        page.goto(base + f"/loans/{loan_id}")
        page.click("a:has-text('在线查阅')")
        assert "业主登记表 正文" in page.inner_text("pre.text")
        clock.advance(2)  # the due day itself is still inside the loan
        page.reload()
        assert "业主登记表 正文" in page.inner_text("pre.text")
        clock.advance(1)
        page.reload()
        assert "权限不足" in page.inner_text(".error")
        page.goto(base + f"/loans/{loan_id}")
        assert "已到期" in page.inner_text("#state") and page.locator("a:has-text('在线查阅')").count() == 0
    finally:
        httpd.shutdown()
