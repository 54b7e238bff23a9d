"""`dangan ingest` keys its batch by the argument list: the same files and options resume
the same batch; a file changed since (same name, new content) is a new batch."""

from __future__ import annotations

from pathlib import Path

from dangan.demo import render

FORM = "报修单\n项目名称：翠湖花园\n房号：A区1栋1单元101室\n报修时间：2024年3月5日\n报修内容：{what}\n维修编码：010023"


def test_rerunning_finished_arguments_redoes_nothing_and_a_changed_file_is_ingested(cli, tmp_path: Path) -> None:
    path = tmp_path / "报修单.pdf"
    render.text_pdf(path, [FORM.format(what="卫生间水管漏水，已更换接头。")])
    first = cli("ingest", str(path), user="wang")
    assert first.exit_code == 0 and "入库 1 件" in first.output
    again = cli("ingest", str(path), user="wang")
    assert again.exit_code == 0 and "此前均已处理完毕，本次未重做" in again.output
    render.text_pdf(path, [FORM.format(what="厨房下水道堵塞，已疏通。")])
    changed = cli.json("ingest", str(path), user="wang")
    assert [r["status"] for r in changed] == ["ingested"]
    assert changed[0]["archive_no"] == "WX-A-01-001-0101-2024-0002"


def test_other_options_make_another_batch(cli, tmp_path: Path) -> None:
    path = tmp_path / "报修单.pdf"
    render.text_pdf(path, [FORM.format(what="卫生间水管漏水，已更换接头。")])
    assert cli.json("ingest", str(path), user="wang")[0]["status"] == "ingested"
    other = cli.json("ingest", str(path), "--security", "confidential", user="wang")
    assert other[0]["status"] == "duplicate"


def test_resume_or_cancel_with_nothing_abandoned_says_so(cli) -> None:
    assert "没有中断后未完成的入库批次" in cli("ingest", "--resume", user="wang").output
    refused = cli("ingest", "--cancel", "3", user="wang")
    assert refused.exit_code == 1 and "批次 3" in refused.stderr
    bare = cli("ingest", user="wang")
    assert bare.exit_code == 2 and "--resume" in bare.output
