"""The full due list streams: the same rows, in the same order, as its pages put end to end,
and `dangan retention due --json` without --limit prints exactly the document `due` returns."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner

from dangan.cli import main
from dangan.cli.stream import write_json_rows
from dangan.retention.due import FIELDS
from tests.retention.conftest import add

AS_OF = dt.date(2999, 1, 1)


@pytest.fixture
def archive(system):
    """Ties (same date, category and place), records appraisal and an event changed, a hold,
    a paper box, a title JSON must escape, another estate and a confidential record."""
    wang = system.actor("wang")
    tied = [add(system, title=f"维修单{i}") for i in range(6)]
    add(system, title='引号"反斜杠\\百分号%s 50%', custody="A库-3柜-12盒")
    add(system, title="B 项目维修单", location="B-01-001-0101", date=dt.date(2001, 5, 1))
    add(system, title="业主登记表", category="owner", date=dt.date(1980, 1, 1))  # confidential
    add(system, title="新维修单", date=dt.date.today())
    contract = add(system, title="物业服务合同", category="contract", date=dt.date(2000, 1, 1))
    system.retention.set_event(wang, contract, dt.date(2001, 6, 30), "合同终止")
    system.retention.appraise(wang, [tied[1]], "destroy", "保管期满")
    system.retention.appraise(wang, [tied[2]], "extend", "仍有查考价值", years=3)
    system.retention.create_hold(wang, "诉讼-1", "业主诉讼")
    system.retention.add_to_hold(wang, "诉讼-1", [tied[3]])
    system.users.add(system.actor("secofficer"), "lowmgr", ["manager"], "internal")
    return system


def _streamed(system, user: str, chunk: int = 2, **filters) -> tuple[dict, list[dict]]:
    with system.retention.due_stream(system.actor(user), AS_OF, chunk=chunk, **filters) as (head, rows):
        return head, [dict(zip(FIELDS, row, strict=True)) for row in rows]


def _paged(system, user: str, size: int, **filters) -> list[dict]:
    out: list[dict] = []
    offset = 0
    while page := system.retention.due(system.actor(user), AS_OF, offset=offset, limit=size, **filters)["records"]:
        out += page
        offset += size
    return out


@pytest.mark.parametrize("size", [1, 3, 100])
def test_the_streamed_full_list_is_its_pages_end_to_end(archive, size) -> None:
    head, streamed = _streamed(archive, "wang")
    assert streamed == _paged(archive, "wang", size)
    whole = archive.retention.due(archive.actor("wang"), AS_OF)
    assert whole == {**head, "records": streamed}
    assert len(streamed) == head["total"] == 11
    assert [r["until"] for r in streamed] == sorted(r["until"] for r in streamed)
    by_title = {r["title"]: r for r in streamed}
    assert by_title["维修单1"]["decision"] == "destroy" and by_title["维修单3"]["holds"] == ["诉讼-1"]
    assert by_title["物业服务合同"]["until"] == "2031-06-30" and by_title["维修单0"]["date"] == "2005-03-01"
    assert by_title['引号"反斜杠\\百分号%s 50%']["paper_box"] == "A库-3柜-12盒"


def test_filters_and_clearance_apply_to_the_stream_as_to_pages(archive) -> None:
    for user, filters in (("lowmgr", {}), ("wang", {"location": "A"}), ("wang", {"category": "maintenance"}),
                          ("wang", {"year": 2005}), ("wang", {"location": "B-01"})):
        head, streamed = _streamed(archive, user, **filters)
        assert streamed == _paged(archive, user, 2, **filters), (user, filters)
        assert len(streamed) == head["total"]
    assert all(r["category"] != "owner" for r in _streamed(archive, "lowmgr")[1])
    assert [r["title"] for r in _streamed(archive, "wang", location="B-01")[1]] == ["B 项目维修单"]


def test_the_stream_asks_about_loans_for_every_row(archive) -> None:
    rows = _streamed(archive, "wang")[1]
    asked: list[int] = []

    def on_loan(ids):
        asked.append(len(ids))
        return dict.fromkeys(ids, "L-0001")

    archive.retention.on_loan = on_loan
    assert all(r["on_loan"] == "L-0001" for r in _streamed(archive, "wang", chunk=5)[1])
    assert asked == [5, 5, 1] and len(rows) == 11


def test_cli_full_list_json_is_the_document_due_returns(archive) -> None:
    home = str(archive.settings.home)
    run = CliRunner().invoke(main, ["--home", home, "--as", "wang", "retention", "due", "--as-of",
                                    AS_OF.isoformat(), "--json"], catch_exceptions=False)
    assert run.exit_code == 0, run.stderr
    expected = archive.retention.due(archive.actor("wang"), AS_OF)
    assert run.stdout == json.dumps(expected, ensure_ascii=False, indent=2) + "\n"
    human = CliRunner().invoke(main, ["--home", home, "--as", "wang", "retention", "due", "--as-of",
                                      AS_OF.isoformat()], catch_exceptions=False)
    assert human.exit_code == 0 and "冻结:诉讼-1" in human.stdout and "已鉴定:destroy" in human.stdout
    assert sum("到期 " in line for line in human.stdout.splitlines()) == 11 + 1  # rows and the total


def test_cli_full_list_is_refused_to_staff(archive) -> None:
    run = CliRunner().invoke(main, ["--home", str(archive.settings.home), "--as", "li", "retention", "due",
                                    "--json"], catch_exceptions=False)
    assert run.exit_code == 1 and run.stdout == "" and "权限" in run.stderr


@pytest.mark.parametrize("n", [0, 1, 2, 1999, 2000, 2001, 4500])
def test_the_json_writer_prints_what_json_dumps_prints(n) -> None:
    fields = ("no", "title", "year", "tags", "note", "score")
    odd = ['a},\n      {"b": 1', "%s%%", '"\\', "tab\there", "{\"", "行\u2028分隔", "", "\x00"]
    rows = [(f"N{i}", odd[i % len(odd)], 2000 + i % 7 if i % 5 else None,
             ["x", "y"] if i % 11 == 3 else [], {"k": [1, 2]} if i % 13 == 4 else None,
             1.5 if i % 2 else True) for i in range(n)]
    head = {"as_of": dt.date(2026, 1, 1), "total": n, "counts": {"a": {"1": 2}}}
    out: list[str] = []
    write_json_rows(head, "records", fields, rows, out.append, nested=("tags",))
    docs = {**head, "records": [dict(zip(fields, r, strict=True)) for r in rows]}
    assert "".join(out) == json.dumps(docs, ensure_ascii=False, indent=2, default=str) + "\n"
