"""The destruction workflow in a real browser (Debian's chromium via Playwright) against a
real `dangan serve`: an archivist builds a batch from the due list, a manager approves
it, a hold put on one record in between makes the execution refuse with its 档号 named;
after the release and a fresh approval the archivist executes it with a supervisor, and
the auditor opens the register, downloads the certificate and verifies the batch."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.browser import serving
from tests.retention.conftest import add

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "browser test pw"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(sqlite_system):
    system = sqlite_system
    sec = system.actor("secofficer")
    system.users.add(sec, "sun", ["manager"], "confidential")
    for name in ("wang", "zhao", "audit1"):
        system.users.set_password(sec, name, PASSWORD)
    nos = [add(system, title=f"2005 年电梯维修单 {i}") for i in range(3)]
    add(system, title="今年的维修单", date=None)
    with serving(system.settings.home) as base:
        yield base, nos


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed (scripts/bootstrap.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--disable-sync"])
        yield b
        b.close()


def session(browser, base: str, name: str):
    page = browser.new_context(accept_downloads=True).new_page()
    page.goto(base + "/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    return page


def test_batch_from_due_list_to_verified_certificate_with_a_hold_in_between(server, browser, tmp_path) -> None:
    base, nos = server
    wang = session(browser, base, "wang")
    wang.click("header >> text=到期档案")
    assert "共 3 件" in wang.inner_text("h1") and "没有起算日期（不计入）1 件" in wang.inner_text("h1")
    for no in nos:
        wang.check(f"input[value='{no}']")
    wang.select_option("select[name=decision]", "destroy")
    wang.fill("input[name=reason]", "保管期满，无继续保存价值")
    wang.click("button[value=appraise]")
    assert "已鉴定 3 件" in wang.inner_text(".notice")
    for no in nos:
        wang.check(f"input[value='{no}']")
    wang.fill("input[name=batch_reason]", "2015 年到期的维修记录")
    wang.click("button[value=batch]")
    batch = wang.inner_text("h1 .code")
    assert batch.startswith("XH-") and "待审批" in wang.inner_text("#batch-state")

    zhao = session(browser, base, "zhao")
    zhao.goto(f"{base}/destruction/{batch}")
    zhao.click("button[value=approve]")
    assert "已审批" in zhao.inner_text("#batch-state")

    # in between: a dispute puts one record on hold
    wang.click("header >> text=冻结")
    wang.fill("input[name=name]", "诉讼-2026-01")
    wang.fill("input[name=reason]", "业主诉讼，保全证据")
    wang.click("text=新建冻结")
    wang.fill("textarea[name=archive_nos]", nos[1])
    wang.click("button[value=add]")
    assert f"销毁清册 {batch} 的审批已作废" in wang.inner_text(".notice")
    wang.goto(f"{base}/destruction/{batch}")
    wang.fill("input[name=supervisor]", "sun")
    wang.fill("input[name=place]", "档案室碎纸间")
    wang.click("button[value=execute]")
    assert nos[1] in wang.inner_text(".error") and "冻结" in wang.inner_text(".error")
    assert "待审批" in wang.inner_text("#batch-state")

    wang.goto(f"{base}/holds/诉讼-2026-01")
    wang.fill("input[name=reason]", "已和解")
    wang.click("button[value=release]")
    assert "已解除" in wang.inner_text(".notice")
    zhao.goto(f"{base}/destruction/{batch}")
    zhao.click("button[value=approve]")
    wang.goto(f"{base}/destruction/{batch}")
    wang.fill("input[name=supervisor]", "sun")
    wang.fill("input[name=place]", "档案室碎纸间")
    wang.click("button[value=execute]")
    assert "已执行完毕" in wang.inner_text(".notice") and "已销毁" in wang.inner_text("#batch-state")

    auditor = session(browser, base, "audit1")
    auditor.click("header >> text=销毁登记簿")
    text = auditor.inner_text("main")
    assert all(no in text for no in nos) and "sun" in text
    with auditor.expect_download() as info:
        auditor.click("a.certificate")
    cert = tmp_path / "cert.pdf"
    info.value.save_as(cert)
    assert cert.read_bytes().startswith(b"%PDF")
    auditor.click("button.verify")
    assert auditor.inner_text("#verdict") == "通过"
    assert auditor.locator("td.result").all_inner_texts() == ["通过"] * 3
    auditor.screenshot(path=str(tmp_path / "verify.png"), full_page=True)
