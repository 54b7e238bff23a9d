"""In a real browser (Debian's chromium via Playwright) against a real `dangan serve` and a
real `dangan worker`: an archivist uploads a scan on 采集 (hand_off = "queue"), the batch page follows the
worker's progress by itself, and the admin's 系统状态 shows the queue."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dangan.demo import render
from tests.web.test_browser import CHROMIUM, free_port

PASSWORD = "browser test pw"


@pytest.fixture
def running(sqlite_system, tmp_path: Path):
    system = sqlite_system
    for name in ("wang", "root"):
        system.users.set_password(system.actor("secofficer"), name, PASSWORD)
    port = free_port()
    env = {**os.environ, "DANGAN_HOME": str(system.settings.home), "OMP_THREAD_LIMIT": "1",
           "DANGAN_WEB_HAND_OFF": "queue"}
    exe = str(Path(sys.executable).with_name("dangan"))
    log = (tmp_path / "procs.log").open("ab")
    web = subprocess.Popen([exe, "serve", "--port", str(port)], env=env, stdout=log, stderr=log)
    worker = subprocess.Popen([exe, "worker", "--processes", "1", "--poll", "0.5"], env=env, stdout=log,
                              stderr=log, start_new_session=True)
    import socket

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    yield f"http://127.0.0.1:{port}"
    web.terminate()
    os.killpg(worker.pid, signal.SIGTERM)
    web.wait(timeout=10)
    worker.wait(timeout=60)


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


def log_in(page, server: str, name: str) -> None:
    page.goto(server + "/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def test_archivist_uploads_and_the_batch_page_follows_the_worker(running, page, tmp_path: Path) -> None:
    scan = render.text_pdf(tmp_path / "电梯维修单.pdf", ["维修工单\n翠湖花园1号楼电梯门机皮带更换\n填表日期：2024年3月5日"])
    log_in(page, running, "wang")
    page.click("nav >> text=采集")
    page.set_input_files("input[name=files]", str(scan))
    page.select_option("select[name=category]", "maintenance")
    page.fill("input[name=location]", "A-01-001-0101")
    page.click("#upload-form button[type=submit]")
    assert "采集批次" in page.inner_text("h1")
    # the page follows the batch by itself until the worker has finished the file
    page.locator("[data-done]", has_text="1 / 1").wait_for(timeout=120_000)
    assert "已入库" in page.inner_text("table")
    page.screenshot(path=str(tmp_path / "batch.png"), full_page=True)
    assert page.inner_text("[data-no]").startswith("WX-")

    page.click("header button")  # log out; the admin looks at the system
    log_in(page, running, "root")
    page.click("text=系统管理")
    page.click("#queue-status")
    assert "入库队列" in page.inner_text("main") and "filesystem" in page.inner_text("#storage")
