"""`dangan borrow …` as CONTRACT.md states it: JSON shapes, exit codes, one-sentence errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import Cli, cli, text_pdf  # noqa: F401  (fixtures)
from tests.cli.test_core_commands import assert_refused


@pytest.fixture
def records(cli: Cli, text_pdf: Path, tmp_path: Path) -> dict[str, str]:  # noqa: F811
    for name, role, level in (("zhao", "manager", "confidential"), ("sun", "staff", "internal")):
        assert cli("user", "add", name, "--role", role, "--clearance", level, "--department", "工程部",
                   user="secofficer").exit_code == 0
    a = cli.json("ingest", str(text_pdf), "--category", "maintenance", "--location", "A-01-001-0101",
                 user="wang")[0]["archive_no"]
    from dangan.demo import render

    other = Path(render.text_pdf(tmp_path / "业主登记表.pdf", ["业主登记表\n业主：张三\n房号：A区1栋1单元102室"]))
    c = cli.json("ingest", str(other), "--category", "owner", "--location", "A-01-001-0102",
                 "--security", "confidential", user="wang")[0]["archive_no"]
    return {"a": a, "c": c}


def test_a_physical_loan_through_the_command_line(cli: Cli, records) -> None:  # noqa: F811
    loan = cli.json("borrow", "request", records["a"], "--purpose", "核对", "--kind", "physical", user="li")
    assert {"loan_id", "state", "due"} <= set(loan) and loan["state"] == "requested"
    lid = loan["loan_id"]
    assert cli.json("borrow", "approve", lid, user="wang")["state"] == "approved"
    assert cli.json("borrow", "checkout", lid, user="wang")["due"]
    assert cli.json("borrow", "renew", lid, "--days", "7", user="wang")["days"] == 14
    rows = cli.json("borrow", "list", "--overdue", "--as-of", "2999-01-01", user="wang")
    assert [r["loan_id"] for r in rows] == [lid]
    done = cli.json("borrow", "return", lid, "--condition", "damaged", "--note", "水渍", user="wang")
    assert done["state"] == "returned" and done["condition"] == "damaged"
    [inc] = cli.json("borrow", "incidents", user="wang")
    cli.json("borrow", "close-incident", str(inc["id"]), "--resolution", "已晾干修复", user="wang")
    shown = cli.json("borrow", "show", lid, user="li")
    assert [e["event"] for e in shown["events"]] == ["request", "approve", "checkout", "renew", "return",
                                                     "incident.close"]
    human = cli("borrow", "list", user="li")
    assert human.exit_code == 0 and lid in human.stdout and "已归还" in human.stdout


def test_refusals_are_one_sentence_and_exit_1(cli: Cli, records) -> None:  # noqa: F811
    lid = cli.json("borrow", "request", records["c"], "--purpose", "纠纷", "--kind", "view", user="li")["loan_id"]
    assert_refused(cli("borrow", "approve", lid, user="li"), "审批借阅")
    assert_refused(cli("borrow", "approve", lid, user="wang"), "负责人")
    assert_refused(cli("borrow", "approve", "JY-2026-424242", user="wang"), "不存在")
    assert_refused(cli("borrow", "request", "WX-A-01-2020-0404", "--purpose", "x", user="li"), "不存在")
    assert_refused(cli("borrow", "request", records["a"], "--purpose", "x", "--until", "2001-01-01",
                       user="li"), "今天之后")
    assert_refused(cli("borrow", "return", lid, "--condition", "intact", user="wang"), "不在借阅中")
    assert cli("borrow", "request", records["a"], "--purpose", "x", "--kind", "lend", user="li").exit_code == 2
    assert cli("borrow", "list", "--as-of", "2026-01-01", user="wang").exit_code == 2
    assert cli.json("borrow", "approve", lid, user="zhao")["state"] == "approved"


def test_the_ledger_exports_as_xlsx_from_the_command_line(cli: Cli, records, tmp_path: Path) -> None:  # noqa: F811
    cli.json("borrow", "request", records["a"], "--purpose", "核对", user="li")
    out = tmp_path / "ledger.xlsx"
    data = cli.json("borrow", "ledger", "-o", str(out), user="audit1")
    assert data["rows"] == 1 and out.read_bytes()[:2] == b"PK"
    assert_refused(cli("borrow", "ledger", user="li"), "登记簿")


def test_custody_from_the_command_line(cli: Cli, records, tmp_path: Path) -> None:  # noqa: F811
    for args in (("K1", "--kind", "room", "--name", "一号库房"),
                 ("H001", "--kind", "box", "--name", "第1盒", "--parent", "K1")):
        assert cli("custody", "add-place", *args, user="wang").exit_code == 0
    assert cli.json("custody", "move", records["a"], "--to", "H001", user="wang")[0]["to"] == "H001"
    ok = cli("custody", "check", "H001", f"dangan:record:{records['a']}", user="wang")
    assert ok.exit_code == 0 and "账实相符" in ok.stdout
    diff = cli("custody", "check", "H001", user="wang")
    assert diff.exit_code == 1 and "缺失" in diff.stdout
    assert_refused(cli("custody", "check", "H001", "WX-NOPE-1", user="wang"), "不是任何档案")
    out = tmp_path / "labels.pdf"
    assert cli("custody", "labels", "--box", "H001", "-o", str(out), user="wang").exit_code == 0
    assert out.read_bytes()[:4] == b"%PDF"
