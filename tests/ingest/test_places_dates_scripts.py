"""Issue #8 rules of the extractor: building-level places with the estate named anywhere,
honest document dates with the rule that chose them, Traditional pages folded."""

from __future__ import annotations

import datetime

import pytest

from dangan.demo.corpus import DEFAULT_PROJECTS
from dangan.ingest.extract import ProjectRef, best_date, extract_metadata, extract_title, script_of

PROJECTS = [ProjectRef(code, name) for code, name, _ in DEFAULT_PROJECTS]
D = datetime.date


def meta(text: str):
    return extract_metadata(text, None, PROJECTS)


# ---------------------------------------------------------------- places


@pytest.mark.parametrize("text, code", [
    ("消防巡查记录\n项目名称：翠湖花园\n巡查区域：3号楼", "A-03"),
    ("设备台账\n翠湖花园物业服务中心\n所属楼栋：4号楼", "A-04"),
    ("绿化养护记录\n翠湖花园\n养护区域：1号楼周边绿地", "A-01"),
    ("物业服务合同\n甲乙双方就翠湖花园9号楼的物业服务事宜达成如下协议。", "A-09"),
    ("翠湖花园\n楼栋：东区3栋", "A-03"),
    ("锦绣江南\n楼栋：C区12幢", "A3-12"),
    ("锦绣江南\n部位：十二座", "A3-12"),
    ("項目名稱：翠湖花園\n巡查區域：三號樓", "A-03"),
    ("翠湖花园安全检查记录\n位置：5栋2单元", "A-05-002"),
])
def test_a_building_or_unit_in_a_field_or_sentence_is_placed_in_the_named_estate(text: str, code: str) -> None:
    assert meta(text).location == code


def test_a_building_without_any_estate_named_is_not_guessed() -> None:
    assert meta("巡查记录\n巡查区域：3号楼").location is None


def test_counts_of_buildings_are_not_places() -> None:
    assert meta("项目概况\n项目名称：翠湖花园\n楼栋数：12栋").location == "A"


def test_two_buildings_as_the_subject_keep_the_estate_and_go_to_review_with_both() -> None:
    got = meta("巡查记录\n项目名称：翠湖花园\n巡查区域：3号楼\n巡查区域：5号楼\n日期：2021年1月19日")
    assert got.location == "A" and got.location_candidates == ["A-03", "A-05"]
    assert got.review == ["two places named"]


def test_an_explicit_code_beats_a_bare_estate_mention_even_in_a_labelled_field() -> None:
    got = meta("錦繡江南物業服務中心\n錦繡江南火災事故應急預案\n物業項目：錦繡江南\n本預案適用於A3-08範圍內")
    assert got.location == "A3-08" and got.review == ["no document date"]


# ---------------------------------------------------------------- dates


@pytest.mark.parametrize("written", ["2021年1月19日", "二〇二一年一月十九日", "2021.01.19", "2021/1/19",
                                     "2O21年1月19日", "2021年l月19日", "二〇二一年一月十九號"])
def test_chinese_date_forms_and_ocr_noise(written: str) -> None:
    assert best_date(f"签署日期：{written}")[0] == D(2021, 1, 19)


def test_a_two_digit_year_counts_only_under_a_document_date_label() -> None:
    assert best_date("制表日期：21-01-19") == (D(2021, 1, 19), "labelled 制表日期")
    assert best_date("编号 21-01-19 批次")[0] is None


def test_the_forms_own_date_beats_dates_in_its_rows() -> None:
    text = ("收费明细表\n2021-01-05  101室  物业费  300\n2021-02-05  102室  物业费  300\n"
            "制表日期：2021年3月1日")
    assert best_date(text) == (D(2021, 3, 1), "labelled 制表日期")


def test_a_ledger_without_its_own_date_is_dated_by_the_end_of_its_period() -> None:
    text = ("物业费收费台账\n统计期间：2021年1月1日至2021年3月31日\n"
            "2021-01-05  101室  物业费  300\n2021-02-05  102室  物业费  300")
    assert best_date(text) == (D(2021, 3, 31), "period end")


def test_rows_of_a_table_alone_give_no_date() -> None:
    assert best_date("收费明细\n2021-01-05  101室  物业费  300\n2021-02-05  102室  物业费  300") == (None, None)


def test_disagreeing_dates_in_prose_give_no_date_rather_than_a_guess() -> None:
    assert best_date("情况说明\n于2021年3月5日巡查，于2021年4月5日复查，均正常。") == (None, None)


def test_a_document_without_a_date_is_marked_for_review() -> None:
    got = meta("消防巡查记录\n项目名称：翠湖花园\n下次检查日期：2026年3月1日\n身份证号：110101198503170012")
    assert got.date is None and got.date_rule is None and "no document date" in got.review


def test_traditional_labels_choose_the_date() -> None:
    assert best_date("出廠日期：2012年5月1日\n簽署日期：2021年1月19日") == (D(2021, 1, 19), "labelled 签署日期")


# ---------------------------------------------------------------- scripts and titles


def test_script_is_decided_from_the_characters() -> None:
    assert script_of("投訴處理記錄\n處理結果：已回訪") == "traditional"
    assert script_of("投诉处理记录\n处理结果：已回访") == "simplified"
    assert script_of("2021-01-19 A-01") == "simplified"


@pytest.mark.parametrize("text, title", [
    ("錦繡花園物業服務中心\n錦繡花園火災事故應急預案\n編制日期：2021年1月19日", "錦繡花園火災事故應急預案"),
    ("錦繡花園物業服務中心\n投訴處理記錄\n投訴人：王先生", "投訴處理記錄"),
    ("錦繡花園物業服務中心\n設備維修記錄\n", "設備維修記錄"),
    ("锦绣花园物业服务中心\n设备维修记录\n", "设备维修记录"),
    ("翠湖物业管理有限公司\n翠湖花园分公司\n绿化养护记录", "绿化养护记录"),
])
def test_the_title_is_the_line_naming_the_document_not_the_letterhead(text: str, title: str) -> None:
    assert extract_title(text) == title


def test_traditional_page_is_coded_like_its_simplified_twin() -> None:
    simp = meta("翠湖花园物业服务中心\n设备维修记录\n位置：3号楼2单元\n日期：2021年1月19日")
    trad = meta("翠湖花園物業服務中心\n設備維修記錄\n位置：3號樓2單元\n日期：2021年1月19日")
    assert (simp.location, simp.date) == (trad.location, trad.date) == ("A-03-002", D(2021, 1, 19))
    assert (simp.script, trad.script) == ("simplified", "traditional")
