"""The 接管验收 checklist: §29 documents per project, editable, compared on takeover."""

from __future__ import annotations

from pathlib import Path

import pytest

from dangan.errors import InvalidInput
from dangan.handover import checklist
from tests.handover.conftest import add_record, estate


def test_the_default_checklist_is_the_section_29_list(sqlite_system) -> None:
    items = [i.name for i in checklist.load(None, sqlite_system.scheme).items]
    assert items[0] == "竣工总平面图" and "业主资料" in items and len(items) == 7


def test_takeover_reports_what_each_project_is_missing(system, receiver, tmp_path: Path) -> None:
    estate(system, tmp_path)
    system.handover.export(system.actor("wang"), tmp_path / "pkg", location="A")
    report = receiver.handover.takeover(receiver.actor("chen"), tmp_path / "pkg")
    states = {i["item"]: i["state"] for i in report["checklist"]["items"] if i["project"] == "A"}
    assert states["竣工总平面图"] == "present" and states["业主资料"] == "present"
    assert states["物业质量保修文件"] == "missing"


def test_an_edited_checklist_is_used(system, receiver, tmp_path: Path) -> None:
    add_record(system, tmp_path, "电梯设备台账", "equipment", "A-01")
    system.handover.export(system.actor("wang"), tmp_path / "pkg", location="A-01")
    mine = tmp_path / "mine.toml"
    mine.write_text('title = "本公司接管清单"\n[[item]]\nname = "电梯资料"\ncategories = ["SB"]\n'
                    'keywords = ["电梯"]\n[[item]]\nname = "消防资料"\ncategories = ["equipment"]\n'
                    'keywords = ["消防"]\n', encoding="utf-8")
    report = receiver.handover.takeover(receiver.actor("chen"), tmp_path / "pkg", checklist=mine)
    assert report["checklist"]["title"] == "本公司接管清单"
    assert [(i["item"], i["state"]) for i in report["checklist"]["items"]] == [("电梯资料", "present"),
                                                                               ("消防资料", "missing")]


@pytest.mark.parametrize("text, needle", [
    ("[[item]]\ncategories = []\n", "缺少名称"),
    ('[[item]]\nname = "x"\ncategories = ["杂项"]\n', "未知类别"),
    ("title = \n", "不是有效的 TOML"),
    ('title = "空"\n', "没有任何"),
])
def test_a_malformed_checklist_is_refused_clearly(sqlite_system, tmp_path: Path, text: str, needle: str) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInput, match=needle):
        checklist.load(bad, sqlite_system.scheme)
