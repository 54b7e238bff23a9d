"""The pages in a real browser (Debian's chromium driven by Playwright) against a real
`dangan serve`: log in, search in Chinese, open a record, log out."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dangan.archive.records import RecordInput

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "browser test pw"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(sqlite_system):
    system = sqlite_system
    system.users.set_password(system.actor("secofficer"), "li", PASSWORD)
    for title, text, cat in (("二号楼电梯维修单", "二号楼电梯门无法关闭，已更换门机皮带。", "maintenance"),
                             ("地下车库漏水处理", "地下车库顶板漏水，已做防水修补。", "maintenance"),
                             ("业主登记表", "业主资料，仅限秘密级。", "owner")):
        system.records.create(system.actor("wang"), io.BytesIO(os.urandom(64)),
                              RecordInput(original_name="x.pdf", media_type="application/pdf", title=title,
                                          category=cat, location="A-01-001-0101",
                                          text_pages=[{"page": 1, "text": text}]))
    system.search_service.sync()
    port = free_port()
    env = {**os.environ, "DANGAN_HOME": str(system.settings.home)}
    exe = Path(sys.executable).with_name("dangan")
    proc = subprocess.Popen([str(exe), "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("dangan serve did not start: " + proc.stdout.read().decode(errors="replace")[-2000:])
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def page():
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed (scripts/bootstrap.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--disable-sync"])
        yield browser.new_page()
        browser.close()


def test_staff_logs_in_searches_and_opens_a_record(server, page, tmp_path) -> None:
    page.goto(server + "/")
    assert "/login" in page.url
    page.fill("input[name=name]", "li")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    assert "共 2 件" in page.inner_text("h1")  # the confidential owner form is not counted
    page.fill("input[name=q]", "漏水")
    page.click("form.bar button")
    assert "共 1 件" in page.inner_text("h1")
    assert page.inner_text(".hit mark") == "漏水"
    page.click(".hit a.code")
    assert page.inner_text("h1") == "地下车库漏水处理"
    assert "防水修补" in page.inner_text("pre.text")
    page.screenshot(path=str(tmp_path / "record.png"), full_page=True)
    page.click("header button")
    assert "/login" in page.url


def test_wrong_password_shows_a_chinese_message(server, page) -> None:
    page.goto(server + "/login")
    page.fill("input[name=name]", "li")
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit]")
    assert "用户名或密码不正确" in page.inner_text(".error")
