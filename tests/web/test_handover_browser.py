"""移交 and 接管 in a real browser (Debian's chromium via Playwright) against `dangan serve`:
export a building's records as a zip, then take a package over and read the findings."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from tests.browser import serving
from tests.handover.conftest import add_record
from tests.web.test_browser import CHROMIUM

PASSWORD = "browser test pw"


@pytest.fixture
def server(sqlite_system, tmp_path: Path):
    system = sqlite_system
    system.users.set_password(system.actor("secofficer"), "wang", PASSWORD)
    add_record(system, tmp_path, "电梯设备台账", "equipment", "A-01")
    add_record(system, tmp_path, "1号楼建筑竣工图", "equipment", "A-01", "2019-01-12")
    with serving(system.settings.home) as base:
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
        yield browser.new_context(accept_downloads=True).new_page()
        browser.close()


def folder_zip(tmp: Path) -> Path:
    """A plain folder with a GBK CSV list, as an older system exports it, zipped."""
    from dangan.demo import render

    root = tmp / "old-system"
    root.mkdir()
    render.text_pdf(root / "总平面图.pdf", ["翠湖花园竣工总平面图"])
    (root / "清单.csv").write_bytes("文件,题名,类别,位置,日期\r\n总平面图.pdf,翠湖花园竣工总平面图,基础资料,A,2019-01-10\r\n"
                                   .encode("gbk"))
    return Path(shutil.make_archive(str(tmp / "old-system"), "zip", tmp, "old-system"))


def test_archivist_exports_a_building_and_takes_a_folder_over(server, page, tmp_path: Path) -> None:
    page.goto(server + "/login")
    page.fill("input[name=name]", "wang")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.click("text=移交与接管")
    assert "移交与接管" in page.inner_text("h1")

    page.fill("#export-form input[name=location]", "A-01")
    page.fill("#export-form input[name=receiver]", "业主委员会")
    with page.expect_download() as info:
        page.click("#export-form button[type=submit]")
    saved = tmp_path / "download.zip"
    info.value.save_as(saved)
    with zipfile.ZipFile(saved) as zf:
        names = zf.namelist()
    assert any(n.endswith("/bagit.txt") for n in names)
    assert sum("/data/originals/" in n for n in names) == 2

    page.goto(server + "/handover")
    page.set_input_files("#import-form input[name=package]", str(folder_zip(tmp_path)))
    page.click("#import-form button[type=submit]")
    assert "已接收 1 件档案" in page.inner_text("#verdict")
    assert "GBK" in page.inner_text("dl.meta")
    assert "竣工总平面图" in page.inner_text("#checklist")
    assert page.inner_text("#imported").count("JC-A-2019-") == 1

    page.goto(server + "/handover")  # the same package again: refused whole, findings shown
    page.set_input_files("#import-form input[name=package]", str(tmp_path / "old-system.zip"))
    page.click("#import-form button[type=submit]")
    assert "没有接收任何档案" in page.inner_text("#verdict")
    assert "已在本库中" in page.inner_text("#findings")
