"""A record without a readable date waits in 待分类 with a provisional number; the
archivist's confirmation (and any later correction) is in search when the command returns."""

from __future__ import annotations

from pathlib import Path

import pytest

UNDATED = ("消防巡查记录\n项目名称：翠湖花园\n巡查区域：3号楼\n"
           "巡查内容：消防栓、灭火器、疏散通道均正常。\n巡查人：王伟")


@pytest.fixture
def undated_pdf(tmp_path: Path) -> Path:
    from dangan.demo import render

    return Path(render.text_pdf(tmp_path / "巡查记录.pdf", [UNDATED]))


def test_a_record_without_a_date_is_queued_with_the_reason_and_never_gets_this_year(cli, undated_pdf: Path) -> None:
    [out] = cli.json("ingest", str(undated_pdf), "--category", "safety", user="wang")
    assert out["queued"] and out["archive_no"].startswith("DFL-") and out["reasons"] == ["no document date"]
    [row] = cli.json("review", user="wang")
    assert row["suggestion"]["reasons"] == ["no document date"]
    assert row["location"] == "A-03" and row["date"] is None and row["year"] is None
    text = cli("review", user="wang").output
    assert "no document date" in text


def test_confirming_without_a_date_is_refused_and_with_one_the_year_is_the_documents(cli, undated_pdf: Path) -> None:
    [out] = cli.json("ingest", str(undated_pdf), "--category", "safety", user="wang")
    refused = cli("edit", out["archive_no"], "--reason", "核对原件", user="wang")
    assert refused.exit_code == 1 and "文件日期" in refused.stderr
    done = cli.json("edit", out["archive_no"], "--date", "2021-01-19", "--reason", "核对原件", user="wang")
    assert done["archive_no"].endswith("-2021-0001") and done["search"] == "indexed"


def test_confirmation_is_found_by_its_new_number_and_title_without_a_sync(cli, undated_pdf: Path) -> None:
    [out] = cli.json("ingest", str(undated_pdf), "--category", "safety", user="wang")
    edited = cli("edit", out["archive_no"], "--date", "2021-01-19", "--location", "A-03",
                 "--title", "三号楼消防夜巡记录", "--reason", "核对原件", user="wang")
    assert edited.exit_code == 0 and "检索已更新" in edited.output
    number = edited.output.split("：", 1)[1].split("（", 1)[0]
    by_number = cli.json("search", number, user="wang")
    assert [h["archive_no"] for h in by_number["hits"]] == [number]
    by_title = cli.json("search", "夜巡", user="wang")
    assert [h["archive_no"] for h in by_title["hits"]] == [number]


def test_an_index_outage_keeps_the_change_and_says_search_will_catch_up(cli, undated_pdf: Path, monkeypatch) -> None:
    from dangan.search.service import SearchService

    [out] = cli.json("ingest", str(undated_pdf), "--category", "safety", user="wang")

    def down(self, refs):
        raise ConnectionError("index down")

    with monkeypatch.context() as m:
        m.setattr(SearchService, "load_docs", down)
        edited = cli("edit", out["archive_no"], "--date", "2021-01-19", "--reason", "核对原件", user="wang")
    assert edited.exit_code == 0 and "检索将在索引恢复后自动补上" in edited.stderr
    assert cli.json("search", "2021", user="wang")["total"] == 0  # not yet in the index
    assert cli.json("search", "sync", user="root")["applied"] >= 1
    assert cli.json("search", "巡查", user="wang")["total"] == 1
