"""The classification scheme as a specification: the default data, lookups, retention, validation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from dangan.archive.codes import LocationCode, parse_location
from dangan.archive.scheme import Category, SecurityLevel, default_scheme_text, load_scheme
from dangan.errors import InvalidInput

DEFAULT = load_scheme()
TEXT = default_scheme_text()

EXPECTED_CATEGORIES = [
    ("basic", "JC", "permanent", None),
    ("contract", "HT", 30, "contract_end"),
    ("owner", "YZ", 30, "document_date"),
    ("renovation", "ZX", 30, "document_date"),
    ("equipment", "SB", "permanent", None),
    ("maintenance", "WX", 10, "document_date"),
    ("service", "KF", 10, "document_date"),
    ("safety", "AQ", 30, "document_date"),
    ("environment", "HJ", 10, "document_date"),
    ("finance", "CW", 30, "fiscal_year_end"),
]


def edited(old: str, new: str, text: str = TEXT) -> str:
    """The default file with the first `old` replaced, failing loudly if `old` is absent."""
    assert old in text, old
    return text.replace(old, new, 1)


def load_text(tmp_path: Path, text: str, name: str = "scheme.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_scheme(path)


def refusal(tmp_path: Path, text: str) -> str:
    with pytest.raises(InvalidInput) as info:
        load_text(tmp_path, text, "my-scheme.toml")
    message = str(info.value)
    assert message.startswith("分类方案文件 my-scheme.toml ")
    return message


# --------------------------------------------------------------------------- the default data


def test_default_scheme_has_the_ten_categories_of_the_design() -> None:
    got = [(c.key, c.code, c.retention, c.trigger) for c in DEFAULT.categories]
    assert got == EXPECTED_CATEGORIES


def test_owner_files_default_to_confidential_and_the_rest_to_internal() -> None:
    assert DEFAULT.category("owner").security.key == "confidential"
    assert {c.security.key for c in DEFAULT.categories if c.key != "owner"} == {"internal"}
    assert DEFAULT.default_security.key == "internal"


def test_every_category_has_15_to_30_distinct_chinese_keywords() -> None:
    owners: dict[str, str] = {}
    for c in DEFAULT.categories:
        assert 15 <= len(c.keywords) <= 30, c.key
        for kw in c.keywords:
            assert all("\u4e00" <= ch <= "\u9fff" for ch in kw), kw
            assert kw not in owners, f"{kw} in both {owners.get(kw)} and {c.key}"
            owners[kw] = c.key
    assert "报修单" in DEFAULT.keywords["maintenance"]


def test_security_levels_in_order() -> None:
    assert [(lv.level, lv.key, lv.name) for lv in DEFAULT.levels] == [
        (0, "public", "公开"), (1, "internal", "内部"), (2, "confidential", "秘密"), (3, "secret", "机密")]
    assert DEFAULT.security("public") < DEFAULT.security("internal") < DEFAULT.security(2) < DEFAULT.security("机密")


def test_project_types_and_maintenance_types() -> None:
    assert [(t.letter, t.key, t.name) for t in DEFAULT.project_types] == [
        ("A", "residential", "住宅"), ("B", "commercial", "商业"), ("C", "industrial", "工业"), ("D", "public", "公共")]
    assert DEFAULT.project_type("commercial").letter == "B"
    types = {t.code: t for t in DEFAULT.maintenance_types}
    assert (types["01"].name, types["02"].name) == ("日常维修", "紧急维修")
    assert len(types) >= 4
    assert DEFAULT.maintenance_type("emergency").code == "02"


def test_code_rules_of_the_default_scheme() -> None:
    codes = DEFAULT.codes
    assert (codes.separator, codes.building_digits, codes.unit_digits, codes.room_digits) == ("-", 2, 3, 4)
    assert codes.category_codes == tuple(code for _, code, _, _ in EXPECTED_CATEGORIES)
    assert DEFAULT.archive_template.pattern == "{category}-{location}-{year}-{seq}"
    assert DEFAULT.archive_template.seq_width == 4
    assert DEFAULT.sequence_scope == ("category", "year")
    assert DEFAULT.archive_fields == {"fonds": "0001", "org": "WY"}


def test_the_packaged_file_can_be_copied_and_reloaded_unchanged(tmp_path: Path) -> None:
    assert DEFAULT.to_toml() == DEFAULT.source_text == TEXT
    copy = load_text(tmp_path, DEFAULT.to_toml())
    assert copy == DEFAULT
    assert copy.path == tmp_path / "scheme.toml"


# --------------------------------------------------------------------------- lookups


@pytest.mark.parametrize("ref", ["maintenance", "WX", "维修保养"])
def test_category_by_key_code_or_name(ref: str) -> None:
    assert DEFAULT.category(ref).key == "maintenance"


def test_unknown_category_lists_the_choices() -> None:
    with pytest.raises(InvalidInput) as info:
        DEFAULT.category("repairs")
    assert str(info.value).startswith('未知类别 "repairs"；可选：basic(JC)、contract(HT)、')


@pytest.mark.parametrize("ref, key", [("internal", "internal"), ("内部", "internal"), (1, "internal"),
                                      ("3", "secret"), (0, "public"), ("秘密", "confidential")])
def test_security_by_key_name_or_number(ref: object, key: str) -> None:
    level = DEFAULT.security(ref)
    assert level.key == key and DEFAULT.security(level) is level


@pytest.mark.parametrize("ref", ["top-secret", 4, -1, True, "Internal"])
def test_unknown_security_lists_the_choices(ref: object) -> None:
    with pytest.raises(InvalidInput) as info:
        DEFAULT.security(ref)
    assert "未知密级" in str(info.value) and "public(公开)" in str(info.value)


# --------------------------------------------------------------------------- retention


def test_retention_counts_years_from_the_document_date() -> None:
    assert DEFAULT.retention_until("maintenance", dt.date(2024, 3, 15)) == dt.date(2034, 3, 15)
    assert DEFAULT.retention_until("owner", dt.date(2020, 1, 2)) == dt.date(2050, 1, 2)


def test_permanent_categories_have_no_end() -> None:
    assert DEFAULT.retention_until("basic", dt.date(2024, 3, 15)) is None
    assert DEFAULT.retention_until("equipment", None) is None


def test_contract_retention_counts_from_the_contract_end_else_the_document_date() -> None:
    assert DEFAULT.retention_until("contract", dt.date(2020, 5, 1), dt.date(2025, 4, 30)) == dt.date(2055, 4, 30)
    assert DEFAULT.retention_until("HT", dt.date(2020, 5, 1)) == dt.date(2050, 5, 1)


def test_finance_retention_counts_from_the_end_of_the_fiscal_year() -> None:
    assert DEFAULT.retention_until("finance", dt.date(2024, 3, 15)) == dt.date(2054, 12, 31)


def test_leap_day_documents_expire_on_the_28th() -> None:
    assert DEFAULT.retention_until("maintenance", dt.date(2024, 2, 29)) == dt.date(2034, 2, 28)


def test_retention_needs_a_date() -> None:
    with pytest.raises(InvalidInput, match="需要文件日期"):
        DEFAULT.retention_until("maintenance", None)


def test_retention_codes_follow_dat22() -> None:
    assert [DEFAULT.retention_code(k) for k in ("basic", "contract", "maintenance")] == ["Y", "D30", "D10"]
    assert DEFAULT.category("basic").retention_label == "永久"


# --------------------------------------------------------------------------- 档号 under a scheme


def test_archive_number_under_the_default_scheme() -> None:
    number = DEFAULT.archive_number("maintenance", "A-01-001-0101", 2024, 7)
    assert number == "WX-A-01-001-0101-2024-0007"
    assert DEFAULT.parse_archive_no(number)["location"] == parse_location("A-01-001-0101")


def test_a_dat22_layout_is_expressible_as_data(tmp_path: Path) -> None:
    text = edited('template = "{category}-{location}-{year}-{seq}"',
                  'template = "{fonds}-{category}·{year}-{retention}-{org}-{seq}"')
    text = edited('sequence_scope = ["category", "year"]',
                  'sequence_scope = ["fonds", "category", "year", "retention", "org"]', text)
    scheme = load_text(tmp_path, text)
    assert scheme.archive_number("basic", None, 2024, 12) == "0001-JC·2024-Y-WY-0012"
    number = scheme.archive_number("maintenance", None, 2024, 7)
    assert number == "0001-WX·2024-D10-WY-0007"
    assert scheme.parse_archive_no(number) == {"fonds": "0001", "category": "WX", "year": 2024,
                                               "retention": "D10", "org": "WY", "seq": 7}


def test_records_style_usage_with_extra_fields() -> None:
    from dangan.archive.codes import format_archive_no, parse_archive_no

    cat = DEFAULT.category("owner")
    fields = {"category": cat.code, "location": "B2-03-002-1203", "year": 2023,
              "retention": DEFAULT.retention_code(cat), **DEFAULT.archive_fields, "seq": 1}
    number = format_archive_no(DEFAULT.archive_template, fields)
    assert number == "YZ-B2-03-002-1203-2023-0001"
    assert parse_archive_no(number, DEFAULT.archive_template, DEFAULT)["location"] == LocationCode(
        "B2", "03", "002", "1203")


def test_an_edited_scheme_changes_the_code_rules(tmp_path: Path) -> None:
    text = edited("building_digits = 2", "building_digits = 3")
    text = edited('code = "WX"', 'code = "WB"', text)
    scheme = load_text(tmp_path, text)
    assert str(parse_location("A-001", scheme.codes)) == "A-001"
    assert scheme.archive_number("maintenance", "A-001", 2024, 1) == "WB-A-001-2024-0001"
    with pytest.raises(InvalidInput, match='类别代码 "WX"'):
        scheme.parse_archive_no("WX-A-001-2024-0001")


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("old, new, fragments", [
    ('retention = 10\ntrigger = "document_date"', 'retention = 10\ntrigger = "doc_date"',
     ['第 6 个 [[categories]]（key = "maintenance"）的 trigger "doc_date" 未知',
      "document_date、contract_end、fiscal_year_end"]),
    ('code = "HT"', 'code = "JC"', ['类别代码 "JC" 重复', '第 1 个 [[categories]]（key = "basic"）和第 2 个']),
    ('key = "contract"\ncode = "HT"\n', 'key = "contract"\n', ['（key = "contract"）缺少字段 code']),
    ('retention = 10', 'retention = "10年"', ['的 retention 应为正整数年数或 "permanent"，实际为 "10年"']),
    ('retention = 10', 'retention = 0', ["的 retention 应为正整数年数", "实际为 0"]),
    ('retention = 10', 'retention = true', ["实际为 true"]),
    ('retention = "permanent"\nsecurity', 'retention = "permanent"\ntrigger = "document_date"\nsecurity',
     ["是永久保管，不应写 trigger"]),
    ('retention = 10\ntrigger = "document_date"\n', 'retention = 10\n', ["缺少字段 trigger"]),
    ('security = "confidential"', 'security = "top"', ['的 security "top" 未定义：可选 public、internal']),
    ('template = "{category}-{location}-{year}-{seq}"', 'template = "{category}-{place}-{year}-{seq}"',
     ['[archive_number] 的 template "{category}-{place}-{year}-{seq}" 含有未知占位符 {place}']),
    ('template = "{category}-{location}-{year}-{seq}"', 'template = "{category}-{location}-{year}{seq}"',
     ["{year} 与 {seq} 之间缺少分隔符"]),
    ('sequence_scope = ["category", "year"]', 'sequence_scope = ["category", "project"]',
     ['sequence_scope 含有 "project"', "否则档号会重复"]),
    ('sequence_scope = ["category", "year"]', 'sequence_scope = "category"', ["sequence_scope 应为字段名数组"]),
    ('fonds = "0001"', 'fonds = "00 01"', ['[settings] 的 fonds "00 01" 不符合要求']),
    ('retention = 10', 'retenton = 10', ["有未知字段 retenton"]),
    ('level = 1', 'level = 2', ["的 level 应为 1：密级须按由低到高排列"]),
    ('separator = "-"', 'separator = "A"', ['[codes] 的 separator "A" 不符合要求']),
    ("building_digits = 2", "building_digits = 0", ["[codes] 的 building_digits 应为 1 到 9 之间的整数，实际为 0"]),
    ('code = "01"', 'code = "1"', ['（key = "routine"）的 code "1" 不符合要求：应为 2 位数字']),
    ('code = "02"', 'code = "01"', ['维修类型代码 "01" 重复']),
    ('"维修", "保养",', '"维修", "维修",', ['关键词 "维修" 重复']),
    ('letter = "B"', 'letter = "A"', ['物业类型字母 "A" 重复']),
    ('key = "basic"', 'key = "Basic"', ['的 key "Basic" 不符合要求']),
    ('code = "JC"', 'code = "J1"', ['的 code "J1" 不符合要求：应为 1 到 4 个大写字母']),
    ("[codes]\n", "[codez]\n", ["文件顶层有未知字段 codez"]),
    ('name = "维修保养"', 'name = "基础资料"', ['类别名称 "基础资料" 重复']),
])
def test_invalid_scheme_files_are_refused_with_the_place_and_the_problem(
        tmp_path: Path, old: str, new: str, fragments: list[str]) -> None:
    message = refusal(tmp_path, edited(old, new))
    for fragment in fragments:
        assert fragment in message


def test_fonds_placeholder_needs_the_setting(tmp_path: Path) -> None:
    text = edited('fonds = "0001"', "")
    text = edited('template = "{category}-{location}-{year}-{seq}"', 'template = "{fonds}-{category}-{year}-{seq}"',
                  text)
    assert "档号模板用到了 {fonds}，但 [settings] 没有 fonds" in refusal(tmp_path, text)


def test_broken_toml_is_refused(tmp_path: Path) -> None:
    assert "不是有效的 TOML" in refusal(tmp_path, TEXT + "\n[[categories]\n")


def test_missing_categories_are_refused(tmp_path: Path) -> None:
    text = TEXT[: TEXT.index("[[categories]]")]
    assert "缺少 [[categories]]" in refusal(tmp_path, text)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="不存在"):
        load_scheme(tmp_path / "nope.toml")


def test_non_utf8_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "gbk.toml"
    path.write_bytes(TEXT.encode("gbk"))
    with pytest.raises(InvalidInput, match="UTF-8"):
        load_scheme(path)


def test_objects_are_frozen() -> None:
    cat = DEFAULT.category("maintenance")
    assert isinstance(cat, Category) and isinstance(cat.security, SecurityLevel)
    with pytest.raises(AttributeError):
        cat.code = "XX"  # type: ignore[misc]
