"""Coding from text: location, document date, 维修编码 and title, preferring labelled fields."""

from __future__ import annotations

import datetime

import pytest

from dangan.demo.corpus import DEFAULT_PROJECTS, generate
from dangan.ingest.extract import (
    ProjectRef,
    extract_date,
    extract_maintenance_code,
    extract_metadata,
    extract_title,
)

PROJECTS = [ProjectRef(code, name) for code, name, _ in DEFAULT_PROJECTS]
D = datetime.date


def where(text: str, default: str | None = None) -> str | None:
    return extract_metadata(text, None, PROJECTS, default).location


# ---------------------------------------------------------------- location


def test_letter_address_becomes_a_room_code() -> None:
    assert where("房号：A区1栋1单元101室") == "A-01-001-0101"


def test_estate_name_places_address_without_letter() -> None:
    assert where("项目名称：翠湖花园\n房号：1号楼2单元0502室") == "A-01-002-0502"
    assert where("地址：翠湖花园1号楼2单元0502室") == "A-01-002-0502"


def test_longest_estate_name_wins() -> None:
    assert where("项目名称：翠湖花园二期\n房号：3号楼1单元1201室") == "A2-03-001-1201"


def test_traditional_address_forms_are_understood() -> None:
    assert where("房號：A區1棟1單元101室") == "A-01-001-0101"
    assert where("項目名稱：翠湖花園\n房號：2號樓1單元0302室") == "A-02-001-0302"


def test_code_form_is_taken_as_written() -> None:
    assert where("位置：B-02-001-1808") == "B-02-001-1808"


def test_full_width_digits_from_ocr_are_folded() -> None:
    assert where("房号：Ａ区１栋１单元１０１室") == "A-01-001-0101"


def test_labelled_address_beats_a_neighbour_mentioned_in_the_text() -> None:
    text = "项目名称：翠湖花园\n涉及住户：3栋2单元1602室\n房号：3栋2单元1502室\n投诉内容：楼上漏水"
    got = extract_metadata(text, None, PROJECTS)
    assert got.location == "A-03-002-1502"
    assert "A-03-002-1602" in got.location_candidates


def test_most_specific_place_wins_and_its_ancestors_are_not_rivals() -> None:
    got = extract_metadata("位置：A区3栋\n房号：A区3栋2单元1201室", None, PROJECTS)
    assert got.location == "A-03-002-1201"
    assert got.location_candidates == ["A-03-002-1201"]
    assert got.location_confidence >= 0.9


def test_two_different_labelled_addresses_lower_the_confidence() -> None:
    got = extract_metadata("房号：A区1栋1单元101室\n房号：B区2栋1单元808室", None, PROJECTS)
    assert set(got.location_candidates) == {"A-01-001-0101", "B-02-001-0808"}
    assert got.location_confidence < 0.7


def test_document_naming_only_its_estate_is_placed_at_project_level() -> None:
    got = extract_metadata("物业服务合同\n项目名称：金融中心\n签订日期：2024年3月5日", None, PROJECTS)
    assert got.location == "B"
    assert 0.5 <= got.location_confidence < 0.9


def test_document_without_a_place_has_no_location() -> None:
    got = extract_metadata("安全培训记录\n培训主题：消防安全知识培训\n培训日期：2024年3月5日", None, PROJECTS)
    assert (got.location, got.location_confidence, got.location_candidates) == (None, 0.0, [])


def test_model_numbers_of_unregistered_projects_are_not_places() -> None:
    assert where("设备名称：水泵\n规格型号：A123-12\n楼栋数：12栋") is None


def test_default_project_places_letterless_addresses_only_when_no_estate_is_named() -> None:
    assert where("房号：1号楼2单元0502室") is None
    assert where("房号：1号楼2单元0502室", default="C") == "C-01-002-0502"
    assert where("项目名称：滨江公园\n房号：1号楼2单元0502室", default="C") == "D-01-002-0502"


def test_city_street_numbers_are_not_addresses() -> None:
    assert where("项目地址：深圳市南山区科技园路88号\n项目名称：锦绣江南") == "A3"


# ---------------------------------------------------------------- date


@pytest.mark.parametrize("written", ["2024年3月5日", "2024-03-05", "2024/3/5", "2024.03.05", "二〇二四年三月五日",
                                     "2024 年 3 月 5 日"])
def test_date_forms(written: str) -> None:
    assert extract_date(f"日期：{written}") == D(2024, 3, 5)


def test_chinese_numeral_dates_with_tens() -> None:
    assert extract_date("签订日期：二〇一九年十二月三十一日") == D(2019, 12, 31)
    assert extract_date("签订日期：二〇二〇年十月二十日") == D(2020, 10, 20)


def test_labelled_document_date_beats_other_dates() -> None:
    text = ("出厂日期：2012年5月1日\n合同期限：自2024年1月1日起至2026年12月31日止\n"
            "签订日期：2023年12月20日\n下次检测日期：2024-12-20")
    assert extract_date(text) == D(2023, 12, 20)


def test_repair_time_beats_completion_time() -> None:
    assert extract_date("报修时间：2024年10月23日 14:51\n维修人员：王伟　完成时间：2024.10.24") == D(2024, 10, 23)


def test_signature_line_date_is_used_when_nothing_is_labelled() -> None:
    assert extract_date("情况说明\n楼道灯已更换。\n物业服务中心\n2024年3月5日") == D(2024, 3, 5)


def test_impossible_dates_are_rejected() -> None:
    assert extract_date("日期：2024年2月30日") is None
    assert extract_date("日期：2023-13-01") is None
    assert extract_date("日期：2024年2月30日\n2024年2月29日") == D(2024, 2, 29)


def test_periods_and_schedules_are_never_the_document_date() -> None:
    assert extract_date("审计期间：2023年1月1日至2023年12月31日") is None
    assert extract_date("下次保养日期：2024-04-01") is None


def test_archive_numbers_and_codes_are_not_dates() -> None:
    assert extract_date("档号：WX-A-01-001-0101-2024-0007　位置 A-01-001-0101") is None


# ---------------------------------------------------------------- 维修编码


def test_labelled_maintenance_code() -> None:
    assert extract_maintenance_code("维修编码：010023") == "010023"
    assert extract_maintenance_code("工单号:020145　报修人：李娜") == "020145"
    assert extract_maintenance_code("維修編碼：010023") == "010023"


def test_standalone_code_needs_a_defined_type_and_a_maintenance_context() -> None:
    assert extract_maintenance_code("维修记录 010023 已完成") == "010023"
    assert extract_maintenance_code("维修记录 990023 已完成") is None   # no type 99
    assert extract_maintenance_code("培训记录 010023") is None          # no maintenance context


def test_labelled_code_with_undefined_type_is_refused() -> None:
    assert extract_maintenance_code("维修编码：990001") is None


def test_amounts_dates_and_phone_numbers_are_not_maintenance_codes() -> None:
    text = "维修费用：010023.00元\n报修时间：2024-01-05\n电话：0571-012345\n面积 012345%"
    assert extract_maintenance_code(text) is None


# ---------------------------------------------------------------- title


def test_title_is_the_first_prominent_line() -> None:
    assert extract_title("\n  维修工单  \n工单号：010023\n") == "维修工单"


def test_letterhead_and_field_lines_are_not_titles() -> None:
    assert extract_title("翠湖花园物业服务中心\n装修验收单\n房号：A区1栋1单元101室") == "装修验收单"
    assert extract_title("项目名称：翠湖花园\n2024年3月5日", "scan-0001") == "scan-0001"


def test_title_hint_is_the_fallback() -> None:
    assert extract_title("", "业主登记表") == "业主登记表"
    assert extract_title("", None) is None


# ---------------------------------------------------------------- on the synthetic corpus


def test_corpus_coding_is_recovered() -> None:
    docs = list(generate(600, seed=31))
    got = [extract_metadata(d.text, None, PROJECTS) for d in docs]
    stated = [(d, g) for d, g in zip(docs, got, strict=True) if d.location]
    assert sum(d.location == g.location for d, g in stated) / len(stated) >= 0.95
    assert all(g.location is None for d, g in zip(docs, got, strict=True) if not d.location)
    assert sum(d.date == g.date for d, g in zip(docs, got, strict=True)) / len(docs) >= 0.95
    assert all(d.maintenance_code == g.maintenance_code for d, g in zip(docs, got, strict=True))
    assert all(d.title == g.title for d, g in zip(docs, got, strict=True))
