"""Codes (编码) as a specification: what parses, what round-trips, and what is refused and why."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from dangan.archive import codes as codes_mod
from dangan.archive.codes import (
    AddressMatch,
    ArchiveTemplate,
    LocationCode,
    MaintenanceCode,
    ProjectRef,
    default_codes,
    estate_named_in,
    find_addresses,
    format_archive_no,
    parse_address,
    parse_archive_no,
    parse_location,
    parse_maintenance_code,
)
from dangan.errors import InvalidInput

CODES = default_codes()
DEFAULT_TEMPLATE = ArchiveTemplate("{category}-{location}-{year}-{seq}", codes=CODES)
DAT22_TEMPLATE = ArchiveTemplate("{fonds}-{category}·{year}-{retention}-{org}-{seq}",
                                 fonds="0001", org="WY", codes=CODES)
ESTATES = (ProjectRef("A", "翠湖花园"), ProjectRef("A2", "翠湖花园二期"), ProjectRef("B", "金融中心"))

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def refused(fn, *args, **kwargs) -> str:
    """The message of the InvalidInput that `fn` must raise."""
    with pytest.raises(InvalidInput) as info:
        fn(*args, **kwargs)
    return str(info.value)


# --------------------------------------------------------------------------- strategies

project_codes = st.builds(lambda letter, n: letter + (str(n) if n else ""),
                          st.sampled_from("ABCD"), st.one_of(st.just(0), st.integers(1, 999)))


@st.composite
def locations(draw: st.DrawFn, min_level: int = 1) -> LocationCode:
    level = draw(st.integers(min_level, 4))
    segs = [draw(project_codes)]
    for width in (2, 3, 4)[: level - 1]:
        segs.append(str(draw(st.integers(1, 10**width - 1))).zfill(width))
    return LocationCode(*segs)


def _fullwidth(ch: str) -> str:
    return chr(ord(ch) + 0xFEE0)


MUTATIONS = ("drop", "insert", "digit_to_letter", "lowercase", "swap_separator", "whitespace", "fullwidth")


@st.composite
def mutated(draw: st.DrawFn, s: str, droppable: list[int], insertable: list[int]) -> str:
    """One small typo in `s`, only where it cannot spell another valid value."""
    kinds = [k for k in MUTATIONS
             if (k != "drop" or droppable) and (k != "insert" or insertable)
             and (k != "digit_to_letter" or any(c.isdigit() for c in s))
             and (k != "fullwidth" or any(c.isascii() and c.isalnum() for c in s))
             and (k != "lowercase" or s != s.lower())
             and (k != "swap_separator" or any(c in "-·" for c in s))]
    kind = draw(st.sampled_from(kinds))
    if kind == "drop":
        i = draw(st.sampled_from(droppable))
        return s[:i] + s[i + 1:]
    if kind == "insert":
        i = draw(st.sampled_from(insertable))
        return s[:i] + draw(st.sampled_from("0123456789ABZ-")) + s[i:]
    if kind == "digit_to_letter":
        i = draw(st.sampled_from([j for j, c in enumerate(s) if c.isdigit()]))
        return s[:i] + draw(st.sampled_from("OIlZA")) + s[i + 1:]
    if kind == "lowercase":
        return s.lower()
    if kind == "swap_separator":
        i = draw(st.sampled_from([j for j, c in enumerate(s) if c in "-·"]))
        return s[:i] + draw(st.sampled_from(["_", "/", ".", "—", "－", "–", " "])) + s[i + 1:]
    if kind == "whitespace":
        i = draw(st.integers(0, len(s)))
        return s[:i] + draw(st.sampled_from([" ", "\t", "\n", "\u3000"])) + s[i:]
    i = draw(st.sampled_from([j for j, c in enumerate(s) if c.isascii() and c.isalnum()]))
    return s[:i] + _fullwidth(s[i]) + s[i + 1:]


@st.composite
def mutated_locations(draw: st.DrawFn) -> tuple[str, str]:
    loc = draw(locations())
    s = str(loc)
    p = len(loc.project)
    # Digits after the project letter are variable-length (A, A2, A23), so dropping or adding
    # one there, or dropping the "-" of a two-segment code (B-11 → B11), spells another valid
    # code: no parser can tell. Everywhere else a single typo must be refused.
    droppable = [0, *range(p, len(s))]
    if loc.level == 2:
        droppable.remove(p)
    insertable = [0, *range(p + 1, len(s) + 1)] if loc.level > 1 else [0]
    return s, draw(mutated(s, droppable, insertable))


# --------------------------------------------------------------------------- location codes


@pytest.mark.parametrize("text, level", [("A", 1), ("A-01", 2), ("A-01-001", 3), ("A-01-001-0101", 4),
                                         ("B13-99-999-9999", 4), ("D2", 1)])
def test_location_accepts_full_code_and_every_prefix(text: str, level: int) -> None:
    loc = parse_location(text)
    assert loc.level == level
    assert str(loc) == text == loc.format(CODES)


def test_location_hierarchy_parent_prefix_and_ancestors() -> None:
    room = parse_location("A-01-001-0101")
    assert room.parent == parse_location("A-01-001")
    assert parse_location("A").parent is None
    assert [str(a) for a in room.ancestors()] == ["A", "A-01", "A-01-001", "A-01-001-0101"]
    assert parse_location("A-01").is_prefix_of(room)
    assert room.is_prefix_of(room)
    assert not room.is_prefix_of(parse_location("A-01"))
    assert not parse_location("A-02").is_prefix_of(room)
    assert not parse_location("A").is_prefix_of(parse_location("A2-01"))
    assert room.level_name == "room"


def test_location_of_zero_pads_numbers_and_refuses_overflow() -> None:
    assert str(LocationCode.of("A", 1, 2, 502)) == "A-01-002-0502"
    assert str(LocationCode.of("B2", 12)) == "B2-12"
    assert "楼栋号 123 超出范围" in refused(LocationCode.of, "A", 123)


def test_location_constructor_refuses_room_without_unit() -> None:
    assert "缺少单元段" in refused(LocationCode, "A", "01", None, "0101")


@pytest.mark.parametrize("text, fragments", [
    ("A-1-001", ['位置编码 "A-1-001" 的楼栋段 "1" 不符合要求：应为 2 位数字，例如 01']),
    ("A-01-01", ['的单元段 "01"', "3 位数字，例如 001"]),
    ("A-01-001-101", ['的房间段 "101"', "4 位数字，例如 0101"]),
    ("A-01-001-0101-1", ['在房间段之后多出 "1"', "最多 4 段"]),
    ("a-01", ['的项目段 "a"', "字母应为大写"]),
    ("E-01", ['的项目段 "E"', "物业类型 A 住宅、B 商业、C 工业、D 公共"]),
    ("A01", ['的项目段 "A01"', "不能以 0 开头"]),
    ("A1234", ['的项目段 "A1234"', "编号最多 3 位"]),
    ("AB-01", ['的项目段 "AB"', "1 个大写字母"]),
    ("A-01 ", ['的楼栋段 "01 "', "含有空白字符"]),
    (" A-01", ['的项目段 " A"', "含有空白字符"]),
    ("A-０1", ['的楼栋段 "０1"', "含有全角字符"]),
    ("Ａ-01", ['的项目段 "Ａ"', "含有全角字符"]),
    ("A_01_001", ['的项目段 "A_01_001"', '分隔符应为 "-"']),
    ("A-01/001", ['的楼栋段 "01/001"', '分隔符应为 "-"']),
    ("A-00", ['的楼栋段 "00"', "不能全为 0"]),
    ("A-01-000", ['的单元段 "000"', "不能全为 0"]),
    ("A-01-", ["的单元段为空", "3 位数字"]),
    ("A--01", ["的楼栋段为空"]),
    ("", ["位置编码为空", "A-01-001-0101"]),
    ("A-0a", ['的楼栋段 "0a"', "2 位数字"]),
])
def test_location_refusals_name_the_segment_and_the_expected_form(text: str, fragments: list[str]) -> None:
    message = refused(parse_location, text)
    for fragment in fragments:
        assert fragment in message


@FAST
@given(locations())
def test_location_round_trips(loc: LocationCode) -> None:
    assert parse_location(str(loc)) == loc
    assert str(parse_location(str(loc))) == str(loc)
    parent = loc.parent
    if parent is not None:
        assert parent.is_prefix_of(loc) and parse_location(str(parent)) == parent


@FAST
@given(mutated_locations())
def test_location_typos_are_always_refused(case: tuple[str, str]) -> None:
    original, typo = case
    assume(typo != original)
    with pytest.raises(InvalidInput):
        parse_location(typo)


def test_location_rules_follow_the_code_scheme() -> None:
    wide = dataclasses.replace(CODES, building_digits=3, separator=".")
    assert parse_location("A.001.001.0101", wide).format(wide) == "A.001.001.0101"
    assert "3 位数字，例如 001" in refused(parse_location, "A.01", wide)


def test_default_is_reachable_as_a_module_attribute() -> None:
    assert codes_mod.DEFAULT is CODES


# --------------------------------------------------------------------------- 档号


def test_archive_number_default_layout() -> None:
    fields = {"category": "WX", "location": "A-01-001-0101", "year": 2024, "seq": 7, "unused": "x"}
    number = format_archive_no(DEFAULT_TEMPLATE, fields)
    assert number == "WX-A-01-001-0101-2024-0007"
    assert parse_archive_no(number, DEFAULT_TEMPLATE) == {
        "category": "WX", "location": parse_location("A-01-001-0101"), "year": 2024, "seq": 7}


def test_archive_number_with_a_prefix_location_and_a_long_seq() -> None:
    number = format_archive_no("{category}-{location}-{year}-{seq}",
                               {"category": "JC", "location": parse_location("A"), "year": 2023, "seq": 12345})
    assert number == "JC-A-2023-12345"
    assert parse_archive_no(number)["location"] == parse_location("A")


def test_archive_number_dat22_layout() -> None:
    number = format_archive_no(DAT22_TEMPLATE, {"category": "WX", "year": 2024, "retention": "D10", "seq": 7})
    assert number == "0001-WX·2024-D10-WY-0007"
    assert parse_archive_no(number, DAT22_TEMPLATE) == {
        "fonds": "0001", "category": "WX", "year": 2024, "retention": "D10", "org": "WY", "seq": 7}


@pytest.mark.parametrize("number, fragments", [
    ("WX-A-01-001-0101-2024-007", ['的件号 "007"', "至少 4 位数字，例如 0007"]),
    ("WX-A-01-2024-0000", ['的件号 "0000"', "不能为 0"]),
    ("WX-A-01-2024-00123", ['的件号 "00123"', "不能以 0 开头"]),
    ("WX-A-1-2024-0007", ['的位置编码 "A-1" 的楼栋段 "1"', "2 位数字"]),
    ("XX-A-01-2024-0007", ['的类别代码 "XX"', "JC、HT"]),
    ("wx-A-01-2024-0007", ['的类别代码 "wx"']),
    ("WX-A-01-0024-0007", ['的年度 "0024"', "4 位年份"]),
    ("WX-A-01-24-0007", ['的年度 "24"']),
    ("WX-2024-0007", ["不符合格式 {category}-{location}-{year}-{seq}", "应形如 WX-A-01-001-0101-2024-0007"]),
    ("", ["档号为空"]),
])
def test_archive_number_refusals_name_the_field(number: str, fragments: list[str]) -> None:
    message = refused(parse_archive_no, number, DEFAULT_TEMPLATE)
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize("number, fragment", [
    ("0002-WX·2024-D10-WY-0007", '的全宗号 "0002" 不符合要求：本方案的全宗号为 0001'),
    ("0001-WX·2024-D0-WY-0007", '的保管期限代码 "D0"'),
    ("0001-WX·2024-P-WY-0007", "应为 Y（永久）或 D 加年数"),
    ("0001-WX·2024-D10-XY-0007", '的机构代码 "XY"'),
    ("0001-WX-2024-D10-WY-0007", "不符合格式"),
])
def test_dat22_refusals_name_the_field(number: str, fragment: str) -> None:
    assert fragment in refused(parse_archive_no, number, DAT22_TEMPLATE)


def test_format_archive_no_refuses_bad_or_missing_fields() -> None:
    assert "缺少位置编码（location）" in refused(format_archive_no, DEFAULT_TEMPLATE,
                                            {"category": "WX", "year": 2024, "seq": 1})
    assert '件号 "0000"' in refused(format_archive_no, DEFAULT_TEMPLATE,
                                  {"category": "WX", "location": "A", "year": 2024, "seq": 0})
    assert '类别代码 "ZZ"' in refused(format_archive_no, DEFAULT_TEMPLATE,
                                  {"category": "ZZ", "location": "A", "year": 2024, "seq": 1})
    assert "楼栋段" in refused(format_archive_no, DEFAULT_TEMPLATE,
                            {"category": "WX", "location": "A-1", "year": 2024, "seq": 1})


@pytest.mark.parametrize("template, fragment", [
    ("{category}-{place}-{year}-{seq}", "未知占位符 {place}"),
    ("{category}-{location}-{year}", "缺少 {seq}"),
    ("{category}-{year}{seq}", "{year} 与 {seq} 之间缺少分隔符"),
    ("{category}-{year}-{year}-{seq}", "{year} 出现了两次"),
    ("{category}-{year}-{seq:05d}", "不能带格式说明"),
    ("{category}-{year}X{seq}", "不能含字母或数字"),
    ("{category-{year}-{seq}", "不成对的花括号"),
    ("{category}-{year}-{seq}}", "不成对的花括号"),
    ("", "为空"),
])
def test_archive_template_refusals(template: str, fragment: str) -> None:
    message = refused(ArchiveTemplate, template)
    assert message.startswith("档号模板") and fragment in message


years = st.integers(1000, 9999)
seqs = st.integers(1, 10**6)


@FAST
@given(st.sampled_from(CODES.category_codes), locations(), years, seqs)
def test_default_archive_numbers_round_trip(category: str, loc: LocationCode, year: int, seq: int) -> None:
    fields = {"category": category, "location": loc, "year": year, "seq": seq}
    number = format_archive_no(DEFAULT_TEMPLATE, fields)
    assert parse_archive_no(number, DEFAULT_TEMPLATE) == fields
    assert format_archive_no(DEFAULT_TEMPLATE, parse_archive_no(number, DEFAULT_TEMPLATE)) == number


retention_codes = st.one_of(st.just("Y"), st.integers(1, 100).map(lambda n: f"D{n}"))


@FAST
@given(st.sampled_from(CODES.category_codes), years, retention_codes, seqs)
def test_dat22_archive_numbers_round_trip(category: str, year: int, retention: str, seq: int) -> None:
    fields = {"fonds": "0001", "category": category, "year": year, "retention": retention, "org": "WY", "seq": seq}
    number = format_archive_no(DAT22_TEMPLATE, fields)
    assert parse_archive_no(number, DAT22_TEMPLATE) == fields


def _regions(template: ArchiveTemplate, fields: dict, number: str) -> list[tuple[str, int, int]]:
    """(field name or "sep", start, end) spans of a formatted number, to aim typos at."""
    rendered = {"category": fields["category"], "location": str(fields["location"]),
                "year": str(fields["year"]), "seq": str(fields["seq"]).zfill(4),
                "fonds": "0001", "org": "WY", "retention": fields["retention"]}
    out, pos = [], 0
    for is_field, text in codes_mod._tokenise(template.pattern):
        value = rendered[text] if is_field else text
        out.append((text if is_field else "sep", pos, pos + len(value)))
        pos += len(value)
    assert "".join(number[a:b] for _, a, b in out) == number
    return out


@st.composite
def mutated_archive_numbers(draw: st.DrawFn) -> tuple[str, str, ArchiveTemplate]:
    template = draw(st.sampled_from([DEFAULT_TEMPLATE, DAT22_TEMPLATE]))
    fields = {"category": draw(st.sampled_from(CODES.category_codes)), "location": draw(locations()),
              "year": draw(years), "retention": draw(retention_codes), "seq": draw(st.integers(1, 9999))}
    number = format_archive_no(template, fields)
    # Variable-length parts can lose or gain a character and still be valid (project A12 → A1,
    # location B-11 → B11, 保管期限 D30 → D3, 件号 1234 → 12345), so length typos are aimed
    # at the fixed parts; the other typos may land anywhere.
    droppable, insertable = [], []
    for name, start, end in _regions(template, fields, number):
        if name in ("category", "year", "seq", "fonds", "org", "sep"):
            droppable += range(start, end)
        if name in ("category", "year", "fonds", "org"):
            insertable += range(start, end + 1)
    return number, draw(mutated(number, droppable, insertable)), template


@FAST
@given(mutated_archive_numbers())
def test_archive_number_typos_are_always_refused(case: tuple[str, str, ArchiveTemplate]) -> None:
    """A typo is refused — unless it spells another complete, valid number (a dropped
    separator can turn room 1000 + year 1000 + 件号 0001 into year 1000 + 件号 10000001);
    then it is that number exactly, never something accepted half-way."""
    original, typo, template = case
    assume(typo != original)
    try:
        fields = parse_archive_no(typo, template)
    except InvalidInput:
        return
    assert format_archive_no(template, fields) == typo


def test_parse_archive_no_accepts_a_scheme_for_categories_and_template() -> None:
    from dangan.archive.scheme import load_scheme

    scheme = load_scheme()
    assert parse_archive_no("WX-A-01-2024-0001", scheme.archive_template, scheme)["seq"] == 1
    assert parse_archive_no("WX-A-01-2024-0001", None, scheme)["year"] == 2024


# --------------------------------------------------------------------------- 维修编码


def test_maintenance_code_parses_type_and_serial() -> None:
    code = parse_maintenance_code("010023")
    assert code == MaintenanceCode("01", 23)
    assert str(code) == "010023" == code.format(CODES)


@pytest.mark.parametrize("text, fragments", [
    ("01002", ["现为 5 位", "6 位数字（2 位类型 + 4 位流水号），例如 010023"]),
    ("0100234", ["现为 7 位"]),
    ("990023", ['的类型段 "99" 未定义', "01 日常维修、02 紧急维修"]),
    ("0A0023", ['的类型段 "0A"', "2 位数字"]),
    ("01002X", ['的流水号段 "002X"', "4 位数字"]),
    ("01002３", ['的流水号段 "002３"', "含有全角字符"]),
    ("010000", ['的流水号段 "0000"', "不能为 0"]),
    ("01 023", ['的流水号段 " 023"', "含有空白字符"]),
    ("", ["维修编码为空"]),
])
def test_maintenance_code_refusals_name_the_part(text: str, fragments: list[str]) -> None:
    message = refused(parse_maintenance_code, text)
    for fragment in fragments:
        assert fragment in message


maintenance_codes = st.builds(MaintenanceCode, st.sampled_from([t.code for t in CODES.maintenance_types]),
                              st.integers(1, 9999))


@FAST
@given(maintenance_codes)
def test_maintenance_codes_round_trip(code: MaintenanceCode) -> None:
    assert parse_maintenance_code(str(code)) == code


@FAST
@given(maintenance_codes.flatmap(lambda c: st.tuples(st.just(str(c)),
                                                     mutated(str(c), list(range(6)), list(range(7))))))
def test_maintenance_code_typos_are_always_refused(case: tuple[str, str]) -> None:
    original, typo = case
    assume(typo != original)
    with pytest.raises(InvalidInput):
        parse_maintenance_code(typo)


def test_maintenance_code_format_refuses_an_undefined_type() -> None:
    assert '的类型段 "77" 未定义' in refused(MaintenanceCode("77", 1).format)


# --------------------------------------------------------------------------- Chinese addresses


def locs(text: str, **kwargs) -> list[tuple[str, str, str]]:
    return [(str(m.location), m.text, m.project_from) for m in find_addresses(text, **kwargs)]


@pytest.mark.parametrize("text, expected", [
    ("A区1栋1单元101室", "A-01-001-0101"),
    ("A区01栋001单元0101室", "A-01-001-0101"),
    ("A區1棟1單元101室", "A-01-001-0101"),
    ("A区1号楼2单元0502室", "A-01-002-0502"),
    ("A区1號樓2單元0502室", "A-01-002-0502"),
    ("B区3幢1单元1203室", "B-03-001-1203"),
    ("B区3座1单元1203室", "B-03-001-1203"),
    ("A区1栋2单元502房", "A-01-002-0502"),
    ("A区1栋2单元502号", "A-01-002-0502"),
    ("A区一号楼二单元502室", "A-01-002-0502"),
    ("A区十二栋三单元101室", "A-12-003-0101"),
    ("A区二十一栋一单元一〇一室", "A-21-001-0101"),
    ("A2区 5栋 2单元 302室", "A2-05-002-0302"),
    ("A区3栋", "A-03"),
    ("A区3栋2单元", "A-03-002"),
])
def test_letter_form_addresses(text: str, expected: str) -> None:
    assert locs(f"关于{text}的记录") == [(expected, text, "letter")]
    assert str(parse_address(text)) == expected


@pytest.mark.parametrize("text, expected", [
    ("翠湖花园1号楼2单元0502室", "A-01-002-0502"),
    ("翠湖花园1栋2单元502室", "A-01-002-0502"),
    ("翠湖花园二期3号楼1单元101室", "A2-03-001-0101"),
    ("翠湖花園1號樓2單元0502室", "A-01-002-0502"),
    ("金融中心3座", "B-03"),
    ("翠湖花园 1号楼2单元", "A-01-002"),
])
def test_estate_name_places_an_address_without_a_letter(text: str, expected: str) -> None:
    assert locs(f"住址：{text}。", projects=ESTATES) == [(expected, text, "name")]
    assert str(parse_address(text, ESTATES)) == expected


def test_default_project_places_a_bare_address() -> None:
    assert locs("1号楼2单元0502室", default_project="A") == [("A-01-002-0502", "1号楼2单元0502室", "default")]
    assert str(parse_address("1号楼2单元0502室", default_project="B")) == "B-01-002-0502"
    # "共3栋" in prose is not an address: a default project needs at least a unit in free text
    assert locs("小区共3栋楼", default_project="A") == []
    assert str(parse_address("3栋", default_project="A")) == "A-03"


def test_bare_address_without_letter_name_or_default_is_not_placed() -> None:
    assert locs("1号楼2单元0502室") == []
    assert locs("碧水园1号楼2单元0502室", projects=ESTATES) == []
    assert "没有写明项目" in refused(parse_address, "1号楼2单元0502室")


@pytest.mark.parametrize("text", [
    "A区123栋", "A区1栋1234单元", "A区1栋1单元12345室", "A区0栋", "A区1栋0单元",
    "E区1栋1单元101室", "a区1栋1单元101室", "3号楼梯间", "前排1座位", "GA区1栋1单元101室",
])
def test_not_addresses(text: str) -> None:
    assert locs(text, projects=ESTATES) == []


def test_overflow_is_not_rescued_by_the_default_project() -> None:
    assert locs("A区123栋1单元101室", default_project="A") == []
    assert locs("E区1栋1单元101室", default_project="A") == []


def test_room_without_unit_keeps_only_the_building() -> None:
    assert locs("A区1栋502室") == [("A-01", "A区1栋", "letter")]
    assert "缺少单元" in refused(parse_address, "A区1栋502室")


def test_code_forms_in_free_text() -> None:
    text = "维修地点A-01-001-0101，另见B2-03-002。"
    assert [(str(m.location), m.kind) for m in find_addresses(text)] == [("A-01-001-0101", "code"),
                                                                        ("B2-03-002", "code")]
    assert locs("楼栋：A-03") == [("A-03", "A-03", "letter")]


@pytest.mark.parametrize("text", [
    "WX-A-01-001-0101-2024-0007",  # inside a 档号
    "A-01-001-010",                 # room too short: no prefix match either
    "XA-01-001",                    # inside a longer token
    "A-01-001-0101X",
    "A-01-001_2",
    "A-1-001",
    "E-01-001",
    "A",                            # a lone letter is not a place
])
def test_code_forms_need_clean_boundaries_and_validity(text: str) -> None:
    assert locs(text) == []


def test_matches_do_not_overlap_and_come_in_order() -> None:
    text = "翠湖花园1号楼2单元0502室（A-01-002-0502）与A区3栋"
    found = find_addresses(text, ESTATES)
    assert [(str(m.location), m.project_from, m.kind) for m in found] == [
        ("A-01-002-0502", "name", "address"), ("A-01-002-0502", "letter", "code"), ("A-03", "letter", "address")]
    assert all(a.end <= b.start for a, b in itertools.pairwise(found))
    assert all(text[m.start:m.end] == m.text for m in found)


def test_an_estate_name_alone_is_the_project() -> None:
    assert locs("项目名称：翠湖花园二期", projects=ESTATES) == [("A2", "翠湖花园二期", "name")]
    assert locs("金融中心大堂", projects=ESTATES) == [("B", "金融中心", "name")]
    assert parse_address("翠湖花园", ESTATES) == parse_location("A")


def test_a_document_naming_one_estate_places_its_bare_addresses() -> None:
    text = "项目名称：翠湖花园\n报修地址：1号楼2单元0502室"
    estate = estate_named_in(text, ESTATES)
    assert estate == "A"
    assert locs(text, projects=ESTATES, default_project=estate) == [
        ("A", "翠湖花园", "name"), ("A-01-002-0502", "1号楼2单元0502室", "default")]
    assert estate_named_in("翠湖花园与金融中心", ESTATES) is None
    assert estate_named_in("没有项目", ESTATES) is None
    assert estate_named_in("翠湖花園", ESTATES) == "A"


def test_longest_estate_name_wins() -> None:
    assert locs("翠湖花园二期1号楼2单元", projects=ESTATES) == [("A2-01-002", "翠湖花园二期1号楼2单元", "name")]


@pytest.mark.parametrize("text, fragment", [
    ("", "地址为空"),
    ("随便写写", "无法识别"),
    ("A区123栋", "的楼栋号 123 超出范围：楼栋应为 1 到 99"),
    ("A区1栋1单元10101室", "的房间号 10101 超出范围"),
    ("E区1栋", '的项目 "E" 不符合要求'),
    ("A区1栋1单元101室和A区2栋", '含有 2 个地址（"A区1栋1单元101室"、"A区2栋"）'),
    ("A区1栋1单元101室隔壁", '其余 "隔壁" 无法识别'),
])
def test_parse_address_refusals(text: str, fragment: str) -> None:
    assert fragment in refused(parse_address, text)


def test_parse_address_accepts_a_location_code() -> None:
    assert parse_address("A-01-001") == parse_location("A-01-001")


def test_bad_project_registry_is_refused() -> None:
    assert '的项目代码 "a1"' in refused(find_addresses, "x", [ProjectRef("a1", "某园")])
    assert "名称必须唯一" in refused(find_addresses, "x", [ProjectRef("A", "某园"), ProjectRef("B", "某园")])
    assert '默认项目 "Z"' in refused(find_addresses, "x", (), "Z")


_CN = "〇一二三四五六七八九"


def _cn(n: int) -> str:
    if n < 10:
        return _CN[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else _CN[tens]) + "十" + (_CN[ones] if ones else "")


@st.composite
def written_addresses(draw: st.DrawFn) -> tuple[str, LocationCode, str, tuple[ProjectRef, ...], str | None]:
    """A location written the Chinese way, in a random mix of the accepted forms."""
    loc = draw(locations(min_level=2))
    source = draw(st.sampled_from(["letter", "name", "default"]))
    if source == "default" and loc.level == 2:
        source = "letter"
    projects: tuple[ProjectRef, ...] = ()
    default = None
    if source == "letter":
        text = loc.project + draw(st.sampled_from(["区", "區", " 区"]))
    elif source == "name":
        projects = (ProjectRef(loc.project, "翠湖花园"), ProjectRef("D9", "翠湖"))
        text = draw(st.sampled_from(["翠湖花园", "翠湖花園"]))
    else:
        text, default = "", loc.project

    def number(value: str, chinese_ok: bool) -> str:
        n = int(value)
        forms = [str(n), value]
        if chinese_ok and n < 100:
            forms.append(_cn(n))
        return draw(st.sampled_from(forms))

    text += number(loc.building, True) + draw(st.sampled_from(["栋", "棟", "号楼", "號樓", "幢", "座"]))
    if loc.unit:
        text += number(loc.unit, True) + draw(st.sampled_from(["单元", "單元"]))
    if loc.room:
        text += number(loc.room, False) + draw(st.sampled_from(["室", "房", "号"]))
    return text, loc, source, projects, default


@FAST
@given(written_addresses())
def test_written_addresses_are_recognised_and_their_codes_parse_back(case) -> None:
    text, loc, source, projects, default = case
    prose = f"关于{text}的记录"
    found = find_addresses(prose, projects, default)
    assert found == [AddressMatch(loc, 2, 2 + len(text), text, source)]
    assert parse_location(str(found[0].location)) == loc
    assert parse_address(text, projects, default) == loc


@FAST
@given(st.text(alphabet="A区B区a1234567890一二十栋棟号楼單单元室房-_ 翠湖花园", max_size=40))
def test_any_text_yields_only_valid_non_overlapping_places(text: str) -> None:
    found = find_addresses(text, ESTATES, "A")
    for m in found:
        assert text[m.start:m.end] == m.text
        assert parse_location(str(m.location)) == m.location
    assert all(a.end <= b.start for a, b in itertools.pairwise(found))


def test_maintenance_rules_follow_the_code_scheme() -> None:
    five = dataclasses.replace(CODES, maintenance_serial_digits=5)
    assert MaintenanceCode("01", 23).format(five) == "0100023"
    assert parse_maintenance_code("0100023", five) == MaintenanceCode("01", 23)
    assert "7 位数字（2 位类型 + 5 位流水号）" in refused(parse_maintenance_code, "010023", five)
