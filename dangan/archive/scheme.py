"""The classification scheme (分类方案): categories, retention, security levels and code rules.

It is data, not code: each company edits its own `scheme.toml` (the packaged default is
copied into the data directory by `dangan init`). Because a mistake in that file would
silently misfile or mis-destroy records, `load_scheme` checks it completely and refuses
it with one sentence naming the file, the entry and exactly what is wrong.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, NoReturn, cast, overload

from dangan.archive.codes import (
    PLACEHOLDERS,
    ArchiveTemplate,
    CodeScheme,
    LocationCode,
    MaintenanceType,
    ProjectType,
    format_archive_no,
    parse_archive_no,
    template_problem,
)
from dangan.errors import InvalidInput

__all__ = [
    "CATALOGUE",
    "TRIGGERS",
    "Category",
    "Scheme",
    "SecurityLevel",
    "default_scheme_text",
    "load_scheme",
]

#: When a retention period starts counting (保管期限起算).
TRIGGERS: Mapping[str, str] = {
    "document_date": "文件日期",
    "contract_end": "合同终止日期（没有时用文件日期）",
    "fiscal_year_end": "会计年度末（12 月 31 日）",
}

Trigger = Literal["document_date", "contract_end", "fiscal_year_end"]

#: 目录可查: what readers below a category's security see of its records (never the text).
CATALOGUE: Mapping[str, str] = {
    "none": "不可见（默认）",
    "listed": "可查档号、类别、位置、年度",
    "titled": "可查档号、类别、位置、年度和题名",
}

Catalogue = Literal["none", "listed", "titled"]

_KEY = re.compile(r"[a-z][a-z0-9_]*")
_CATEGORY_CODE = re.compile(r"[A-Z]{1,4}")
_SETTING_VALUE = re.compile(r"[0-9A-Z]+")


@dataclass(frozen=True, order=True)
class SecurityLevel:
    """A 密级; levels compare by `level` (公开 0 < 内部 1 < 秘密 2 < 机密 3)."""

    level: int
    key: str
    name: str

    def __str__(self) -> str:
        return self.key


@dataclass(frozen=True)
class Category:
    """A 类别 with its 保管期限 and default 密级; `retention_years` None means permanent."""

    key: str
    code: str
    name: str
    description: str
    retention_years: int | None
    trigger: Trigger | None
    security: SecurityLevel
    keywords: tuple[str, ...] = ()
    catalogue: Catalogue = "none"

    @property
    def permanent(self) -> bool:
        return self.retention_years is None

    @property
    def retention(self) -> int | Literal["permanent"]:
        """As written in the scheme file: years, or "permanent"."""
        return "permanent" if self.retention_years is None else self.retention_years

    @property
    def retention_code(self) -> str:
        """The DA/T 22 保管期限 code: Y (永久), D30, D10 …"""
        return "Y" if self.retention_years is None else f"D{self.retention_years}"

    @property
    def retention_label(self) -> str:
        return "永久" if self.retention_years is None else f"{self.retention_years} 年"


def _add_years(day: dt.date, years: int) -> dt.date:
    """Same month and day N years later; 29 February falls back to the 28th."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        if day.year + years > dt.MAXYEAR:
            raise InvalidInput(f"保管期限 {years} 年从 {day.isoformat()} 起算超出了可表示的日期范围") from None
        return day.replace(year=day.year + years, day=28)


@dataclass(frozen=True)
class Scheme:
    """A loaded, validated scheme. Build it with `load_scheme`."""

    name: str
    version: int
    categories: tuple[Category, ...]
    levels: tuple[SecurityLevel, ...]
    project_types: tuple[ProjectType, ...]
    maintenance_types: tuple[MaintenanceType, ...]
    codes: CodeScheme
    archive_template: ArchiveTemplate
    sequence_scope: tuple[str, ...]
    default_security: SecurityLevel
    settings: Mapping[str, str] = field(default_factory=dict, compare=False)
    source_text: str = field(default="", repr=False, compare=False)
    path: Path | None = field(default=None, compare=False)

    # -- categories ---------------------------------------------------------------

    def category(self, key_or_code: str | Category) -> Category:
        """A category by key (maintenance), code (WX) or Chinese name (维修保养)."""
        if isinstance(key_or_code, Category):
            if key_or_code in self.categories:
                return key_or_code
            key_or_code = key_or_code.key
        for c in self.categories:
            if key_or_code in (c.key, c.code, c.name):
                return c
        choices = "、".join(f"{c.key}({c.code})" for c in self.categories)
        raise InvalidInput(f'未知类别 "{key_or_code}"；可选：{choices}')

    def catalogue_keys(self, mode: str | None = None) -> list[str]:
        """Keys of the categories whose catalogue lower clearances may see (目录可查):
        every such category, or only those of one mode ("listed" / "titled")."""
        return [c.key for c in self.categories if c.catalogue != "none" and mode in (None, c.catalogue)]

    @property
    def keywords(self) -> Mapping[str, tuple[str, ...]]:
        """Category key → classification keywords, for the keyword classifier."""
        return MappingProxyType({c.key: c.keywords for c in self.categories})

    # -- security -----------------------------------------------------------------

    def security(self, name_or_level: str | int | SecurityLevel) -> SecurityLevel:
        """A 密级 by English key (internal), Chinese name (内部) or number (1)."""
        value: Any = name_or_level
        if isinstance(value, SecurityLevel):
            value = value.key
        if isinstance(value, str) and value.isascii() and value.isdigit():
            value = int(value)
        for lv in self.levels:
            if (isinstance(value, int) and not isinstance(value, bool) and value == lv.level) or value in (lv.key, lv.name):
                return lv
        choices = "、".join(f"{lv.key}({lv.name})" for lv in self.levels)
        raise InvalidInput(f'未知密级 "{name_or_level}"；可选：{choices}，或 0–{len(self.levels) - 1}')

    # -- retention ----------------------------------------------------------------

    def retention_until(self, category: str | Category, document_date: dt.date | None,
                        contract_end: dt.date | None = None) -> dt.date | None:
        """The day the retention period ends; None for a permanent category.

        contract_end counts from the contract's end date when known, else the document
        date; fiscal_year_end from 31 December of the document's year.
        """
        cat = self.category(category)
        if cat.retention_years is None:
            return None
        if isinstance(document_date, dt.datetime):
            document_date = document_date.date()
        if isinstance(contract_end, dt.datetime):
            contract_end = contract_end.date()
        if cat.trigger == "contract_end" and contract_end is not None:
            base = contract_end
        elif document_date is None:
            raise InvalidInput(f"计算{cat.name}（{cat.key}）的保管期限需要文件日期")
        elif cat.trigger == "fiscal_year_end":
            base = dt.date(document_date.year, 12, 31)
        else:
            base = document_date
        return _add_years(base, cat.retention_years)

    def retention_code(self, category: str | Category) -> str:
        """Y for permanent, else D plus years (D30, D10), as DA/T 22 writes 保管期限."""
        return self.category(category).retention_code

    # -- codes --------------------------------------------------------------------

    @property
    def archive_fields(self) -> dict[str, str]:
        """The fixed 档号 fields from [settings] (fonds, org) that a template may use."""
        return {k: v for k, v in self.settings.items() if k in ("fonds", "org")}

    def archive_number(self, category: str | Category, location: str | LocationCode | None,
                       year: int, seq: int) -> str:
        """Format a 档号 for these values under this scheme's template."""
        cat = self.category(category)
        fields: dict[str, object] = {"category": cat.code, "year": year, "seq": seq,
                                     "retention": cat.retention_code, **self.archive_fields}
        if location is not None:
            fields["location"] = location
        return format_archive_no(self.archive_template, fields, self.codes)

    def parse_archive_no(self, s: str) -> dict[str, Any]:
        """Split a 档号 made under this scheme into its fields (strict)."""
        return parse_archive_no(s, self.archive_template, self.codes)

    def project_type(self, letter_or_key: str) -> ProjectType:
        for t in self.project_types:
            if letter_or_key in (t.letter, t.key, t.name):
                return t
        choices = "、".join(f"{t.key}({t.letter} {t.name})" for t in self.project_types)
        raise InvalidInput(f'未知物业类型 "{letter_or_key}"；可选：{choices}')

    def maintenance_type(self, code_or_key: str) -> MaintenanceType:
        for t in self.maintenance_types:
            if code_or_key in (t.code, t.key, t.name):
                return t
        choices = "、".join(f"{t.code} {t.name}({t.key})" for t in self.maintenance_types)
        raise InvalidInput(f'未知维修类型 "{code_or_key}"；可选：{choices}')

    def to_toml(self) -> str:
        """The file text this scheme was loaded from (comments included), to copy or edit."""
        return self.source_text


# --------------------------------------------------------------------------- loading


def default_scheme_text() -> str:
    """The packaged default scheme file, for `dangan init` to copy into the data directory."""
    return resources.files("dangan.archive").joinpath("data", "scheme.toml").read_text(encoding="utf-8")


def load_scheme(path: Path | str | None = None) -> Scheme:
    """Load and validate a scheme file; None means the packaged default."""
    if path is None:
        return _default_scheme()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"分类方案文件 {path} 不存在：可从默认方案复制一份再修改") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"分类方案文件 {path} 不是 UTF-8 编码的文本：请另存为 UTF-8") from None
    except OSError as exc:
        raise InvalidInput(f"分类方案文件 {path} 无法读取：{exc.strerror or exc}") from None
    return _parse(text, path.name, path)


@functools.cache
def _default_scheme() -> Scheme:
    return _parse(default_scheme_text(), "scheme.toml（内置默认方案）", None)


def _in(where: str) -> str:
    """"中" + the place, spaced only next to ASCII so the sentence reads naturally."""
    return "中" + (" " if where[0].isascii() else "") + where + (" " if where[-1].isascii() else "")


def _show(value: object) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "表"
    if isinstance(value, list):
        return "数组"
    return str(value)


class _Reader:
    """Typed access to the parsed TOML that fails with a sentence naming file and place."""

    def __init__(self, file_name: str) -> None:
        self.file = file_name

    def fail(self, what: str) -> NoReturn:
        raise InvalidInput(f"分类方案文件 {self.file} {what}")

    def only(self, table: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
        for key in table:
            if key not in allowed:
                self.fail(f"{_in(where)}有未知字段 {key}：可用字段为 {'、'.join(allowed)}")

    def table(self, data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
        value = data.get(key)
        if value is None:
            self.fail(f"缺少 {where}")
        if not isinstance(value, dict):
            self.fail(f"{_in(where)}应为表，实际为 {_show(value)}")
        return value

    def tables(self, data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
        value = data.get(key)
        if not value:
            self.fail(f"缺少 [[{key}]]：至少要有一项")
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.fail(f"中 {key} 应写成 [[{key}]] 表数组")
        return value

    @overload
    def string(self, table: Mapping[str, Any], key: str, where: str, *, required: Literal[True] = True,
               pattern: re.Pattern[str] | None = None, expected: str = "") -> str: ...

    @overload
    def string(self, table: Mapping[str, Any], key: str, where: str, *, required: bool,
               pattern: re.Pattern[str] | None = None, expected: str = "") -> str | None: ...

    def string(self, table: Mapping[str, Any], key: str, where: str, *, required: bool = True,
               pattern: re.Pattern[str] | None = None, expected: str = "") -> str | None:
        """A required field is never None: a missing one fails (overloads tell mypy so)."""
        if key not in table:
            if required:
                self.fail(f"{_in(where)}缺少字段 {key}")
            return None
        value = table[key]
        if not isinstance(value, str) or not value.strip() or value != value.strip():
            self.fail(f"{_in(where)}的 {key} 应为非空文本（首尾无空白），实际为 {_show(value)}")
        if pattern is not None and not pattern.fullmatch(value):
            self.fail(f"{_in(where)}的 {key} {_show(value)} 不符合要求：应为{expected}")
        return value

    def integer(self, table: Mapping[str, Any], key: str, where: str, lo: int, hi: int,
                default: int | None = None) -> int:
        if key not in table:
            if default is None:
                self.fail(f"{_in(where)}缺少字段 {key}")
            return default
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            self.fail(f"{_in(where)}的 {key} 应为 {lo} 到 {hi} 之间的整数，实际为 {_show(value)}")
        return value

    def unique(self, seen: dict[str, str], value: str, what: str, where: str) -> None:
        if value in seen:
            self.fail(f"中{what} {_show(value)} 重复：{seen[value]}和{where}都用了它")
        seen[value] = where


def _entry(kind: str, i: int, item: Mapping[str, Any], label_key: str) -> str:
    label = item.get(label_key)
    suffix = f"（{label_key} = {_show(label)}）" if isinstance(label, str) else ""
    return f"第 {i} 个 [[{kind}]]{suffix}"


def _parse(text: str, file_name: str, path: Path | None) -> Scheme:
    r = _Reader(file_name)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        r.fail(f"不是有效的 TOML：{exc}")
    r.only(data, ("name", "version", "settings", "archive_number", "codes", "maintenance_code",
                  "maintenance_types", "project_types", "security_levels", "categories"), "文件顶层")
    name = r.string(data, "name", "文件顶层", required=False) or "分类方案"
    version = r.integer(data, "version", "文件顶层", 1, 10**6, default=1)

    # [settings]
    settings_t = data.get("settings", {})
    if not isinstance(settings_t, dict):
        r.fail(f"中 [settings] 应为表，实际为 {_show(settings_t)}")
    r.only(settings_t, ("fonds", "org", "default_security"), "[settings]")
    settings: dict[str, str] = {}
    for key in ("fonds", "org"):
        value = r.string(settings_t, key, "[settings]", required=False, pattern=_SETTING_VALUE,
                         expected="大写字母或数字，例如 0001")
        if value is not None:
            settings[key] = value

    # [[security_levels]]
    levels: list[SecurityLevel] = []
    seen_key: dict[str, str] = {}
    seen_name: dict[str, str] = {}
    for i, item in enumerate(r.tables(data, "security_levels"), 1):
        where = _entry("security_levels", i, item, "key")
        r.only(item, ("key", "name", "level"), where)
        key = r.string(item, "key", where, pattern=_KEY, expected="小写英文字母开头的标识，例如 internal")
        lname = r.string(item, "name", where)
        level = r.integer(item, "level", where, 0, 99)
        assert key is not None and lname is not None
        r.unique(seen_key, key, "密级 key", where)
        r.unique(seen_name, lname, "密级名称", where)
        if level != i - 1:
            r.fail(f"{_in(where)}的 level 应为 {i - 1}：密级须按由低到高排列，level 从 0 起连续编号")
        levels.append(SecurityLevel(level, key, lname))
    by_level_key = {lv.key: lv for lv in levels}
    level_choices = "、".join(by_level_key)

    default_key = r.string(settings_t, "default_security", "[settings]", required=False)
    if default_key is None:
        default_security = by_level_key.get("internal", levels[min(1, len(levels) - 1)])
    elif default_key not in by_level_key:
        r.fail(f"中 [settings] 的 default_security {_show(default_key)} 未定义：可选 {level_choices}")
    else:
        default_security = by_level_key[default_key]

    # [[project_types]]
    project_types: list[ProjectType] = []
    seen_letter: dict[str, str] = {}
    seen_key, seen_name = {}, {}
    for i, item in enumerate(r.tables(data, "project_types"), 1):
        where = _entry("project_types", i, item, "key")
        r.only(item, ("letter", "key", "name"), where)
        letter = r.string(item, "letter", where, pattern=re.compile("[A-Z]"), expected=" 1 个大写字母，例如 A")
        key = r.string(item, "key", where, pattern=_KEY, expected="小写英文字母开头的标识，例如 residential")
        pname = r.string(item, "name", where)
        assert letter is not None and key is not None and pname is not None
        r.unique(seen_letter, letter, "物业类型字母", where)
        r.unique(seen_key, key, "物业类型 key", where)
        r.unique(seen_name, pname, "物业类型名称", where)
        project_types.append(ProjectType(letter, key, pname))

    # [codes] and [maintenance_code]
    codes_t = r.table(data, "codes", "[codes]")
    r.only(codes_t, ("separator", "project_max_digits", "building_digits", "unit_digits", "room_digits"),
           "[codes]")
    separator = r.string(codes_t, "separator", "[codes]", pattern=re.compile(r"[^0-9A-Za-z\s{}\u3000]"),
                         expected=" 1 个不是字母、数字或空白的符号，例如 -")
    widths = {k: r.integer(codes_t, k, "[codes]", 1, 9)
              for k in ("building_digits", "unit_digits", "room_digits")}
    project_max_digits = r.integer(codes_t, "project_max_digits", "[codes]", 0, 6)
    mc_t = r.table(data, "maintenance_code", "[maintenance_code]")
    r.only(mc_t, ("type_digits", "serial_digits"), "[maintenance_code]")
    type_digits = r.integer(mc_t, "type_digits", "[maintenance_code]", 1, 4)
    serial_digits = r.integer(mc_t, "serial_digits", "[maintenance_code]", 1, 9)

    # [[maintenance_types]]
    maintenance_types: list[MaintenanceType] = []
    seen_code: dict[str, str] = {}
    seen_key, seen_name = {}, {}
    code_re = re.compile(f"[0-9]{{{type_digits}}}")
    for i, item in enumerate(r.tables(data, "maintenance_types"), 1):
        where = _entry("maintenance_types", i, item, "key")
        r.only(item, ("code", "key", "name"), where)
        mcode = r.string(item, "code", where, pattern=code_re, expected=f" {type_digits} 位数字，例如 01")
        key = r.string(item, "key", where, pattern=_KEY, expected="小写英文字母开头的标识，例如 routine")
        mname = r.string(item, "name", where)
        assert mcode is not None and key is not None and mname is not None
        if int(mcode) == 0:
            r.fail(f"{_in(where)}的 code {_show(mcode)} 不符合要求：不能全为 0")
        r.unique(seen_code, mcode, "维修类型代码", where)
        r.unique(seen_key, key, "维修类型 key", where)
        r.unique(seen_name, mname, "维修类型名称", where)
        maintenance_types.append(MaintenanceType(mcode, key, mname))

    # [[categories]]
    categories: list[Category] = []
    seen_key, seen_code, seen_name = {}, {}, {}
    triggers = "、".join(TRIGGERS)
    for i, item in enumerate(r.tables(data, "categories"), 1):
        where = _entry("categories", i, item, "key")
        r.only(item, ("key", "code", "name", "description", "retention", "trigger", "security", "keywords",
                      "catalogue"), where)
        key = r.string(item, "key", where, pattern=_KEY, expected="小写英文字母开头的标识，例如 maintenance")
        code = r.string(item, "code", where, pattern=_CATEGORY_CODE, expected=" 1 到 4 个大写字母，例如 WX")
        cname = r.string(item, "name", where)
        assert key is not None and code is not None and cname is not None
        description = r.string(item, "description", where, required=False) or ""
        r.unique(seen_key, key, "类别 key", where)
        r.unique(seen_code, code, "类别代码", where)
        r.unique(seen_name, cname, "类别名称", where)
        if "retention" not in item:
            r.fail(f'{_in(where)}缺少字段 retention：应为保管年数或 "permanent"')
        retention = item["retention"]
        if retention == "permanent":
            years = None
        elif isinstance(retention, int) and not isinstance(retention, bool) and 0 < retention <= 1000:
            years = retention
        else:
            r.fail(f'{_in(where)}的 retention 应为正整数年数或 "permanent"，实际为 {_show(retention)}')
        trigger = item.get("trigger")
        if years is None and trigger is not None:
            r.fail(f"{_in(where)}是永久保管，不应写 trigger（现为 {_show(trigger)}）")
        if years is not None and trigger is None:
            r.fail(f"{_in(where)}缺少字段 trigger：非永久保管的类别须写明从哪天起算，可选 {triggers}")
        if trigger is not None and trigger not in TRIGGERS:
            r.fail(f"{_in(where)}的 trigger {_show(trigger)} 未知：可选 {triggers}")
        sec_key = r.string(item, "security", where)
        if sec_key not in by_level_key:
            r.fail(f"{_in(where)}的 security {_show(sec_key)} 未定义：可选 {level_choices}")
        keywords = item.get("keywords", [])
        if not isinstance(keywords, list):
            r.fail(f"{_in(where)}的 keywords 应为文本数组，实际为 {_show(keywords)}")
        seen_kw: set[str] = set()
        for kw in keywords:
            if not isinstance(kw, str) or not kw.strip() or kw != kw.strip():
                r.fail(f"{_in(where)}的 keywords 含有无效关键词 {_show(kw)}：应为非空文本，首尾无空白")
            if kw in seen_kw:
                r.fail(f"{_in(where)}的 keywords 中关键词 {_show(kw)} 重复")
            seen_kw.add(kw)
        catalogue = item.get("catalogue", "none")
        if not isinstance(catalogue, str) or catalogue not in CATALOGUE:
            r.fail(f"{_in(where)}的 catalogue {_show(catalogue)} 未知：可选 {'、'.join(CATALOGUE)}")
        categories.append(Category(key, code, cname, description, years, trigger,
                                   by_level_key[sec_key], tuple(keywords), cast(Catalogue, catalogue)))

    codes = CodeScheme(
        separator=separator or "-",
        project_types=tuple(project_types),
        project_max_digits=project_max_digits,
        building_digits=widths["building_digits"],
        unit_digits=widths["unit_digits"],
        room_digits=widths["room_digits"],
        category_codes=tuple(c.code for c in categories),
        maintenance_types=tuple(maintenance_types),
        maintenance_type_digits=type_digits,
        maintenance_serial_digits=serial_digits,
    )

    # [archive_number]
    an_t = r.table(data, "archive_number", "[archive_number]")
    r.only(an_t, ("template", "seq_width", "sequence_scope"), "[archive_number]")
    template = r.string(an_t, "template", "[archive_number]")
    assert template is not None
    problem = template_problem(template)
    if problem:
        r.fail(f"中 [archive_number] 的 template {_show(template)} {problem}")
    seq_width = r.integer(an_t, "seq_width", "[archive_number]", 1, 12, default=4)
    archive_template = ArchiveTemplate(template, seq_width, settings.get("fonds"), settings.get("org"), codes)
    for placeholder in ("fonds", "org"):
        if placeholder in archive_template.fields and placeholder not in settings:
            r.fail(f"中档号模板用到了 {{{placeholder}}}，但 [settings] 没有 {placeholder}"
                   f"（{PLACEHOLDERS[placeholder]}）：请在 [settings] 中写明")
    scope = an_t.get("sequence_scope", ["category", "year"])
    if not isinstance(scope, list) or not all(isinstance(s, str) for s in scope):
        r.fail(f"中 [archive_number] 的 sequence_scope 应为字段名数组，实际为 {_show(scope)}")
    usable = [f for f in archive_template.fields if f != "seq"]
    for s in scope:
        if s not in usable:
            r.fail(f"中 [archive_number] 的 sequence_scope 含有 {_show(s)}：件号只能按档号模板中的字段"
                   f"（{'、'.join(usable)}）分别计数，否则档号会重复")
    if len(set(scope)) != len(scope):
        r.fail("中 [archive_number] 的 sequence_scope 有重复的字段")

    return Scheme(
        name=name,
        version=version,
        categories=tuple(categories),
        levels=tuple(levels),
        project_types=tuple(project_types),
        maintenance_types=tuple(maintenance_types),
        codes=codes,
        archive_template=archive_template,
        sequence_scope=tuple(scope),
        default_security=default_security,
        settings=MappingProxyType(dict(settings)),
        source_text=text,
        path=path,
    )
