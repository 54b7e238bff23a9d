"""The 待分类 queue in a real browser against `dangan serve`: an archivist opens the queue,
sees why a record waits, confirms it with the document's date, and finds it by the new
title straight away."""

from __future__ import annotations

import io
import os

from dangan.archive.records import RecordInput
from tests.web.test_browser import PASSWORD, page, server  # noqa: F401  (fixtures)


def test_archivist_confirms_an_undated_record_and_finds_it_at_once(sqlite_system, server, page) -> None:  # noqa: F811
    system = sqlite_system
    system.users.set_password(system.actor("secofficer"), "wang", PASSWORD)
    created = system.records.create(
        system.actor("wang"), io.BytesIO(os.urandom(64)),
        RecordInput(original_name="x.pdf", media_type="application/pdf", title="设备台账", category="equipment",
                    location="A-04", text_pages=[{"page": 1, "text": "所属楼栋：4号楼，二次供水水泵。"}],
                    suggestion={"reasons": ["no document date"], "location": "A-04"}, queue=True))
    page.goto(server + "/login")
    page.fill("input[name=name]", "wang")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.click("header a[href='/review']")
    assert created.provisional_no in page.inner_text("table")
    assert "no document date" in page.inner_text("table")
    page.click(f"a[href='/records/{created.provisional_no}/edit']")
    page.fill("input[name=title]", "四号楼水泵设备台账")
    page.fill("input[name=reason]", "核对原件")
    page.click("button.btn")
    assert "待分类档案确认前需要文件日期" in page.inner_text(".error")
    page.fill("input[name=date]", "2019-06-30")
    page.fill("input[name=reason]", "核对原件")
    page.click("button.btn")
    assert page.inner_text("h1") == "四号楼水泵设备台账"
    assert "检索已更新" in page.inner_text("main")
    assert "SB-A-04-2019-0001" in page.inner_text("dl.meta")
    page.goto(server + "/search?q=水泵设备")
    assert "SB-A-04-2019-0001" in page.inner_text("main")
