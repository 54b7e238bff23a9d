"""Codes (编码): location codes, 档号, 维修编码, and Chinese addresses mapped to locations.

Parsing is strict on purpose. A code is an identifier that records, searches, loans and
physical boxes point at, so a malformed one is refused with one sentence naming the
segment that is wrong and what was expected — it is never "repaired" into some other
valid code. Normalising full-width or sloppy input is the caller's job.

Widths, the separator, the project letters, category codes and maintenance types come
from a `CodeScheme`, which `dangan.archive.scheme` builds from the editable scheme file.
Every function takes an optional `codes`; `None` means the packaged default scheme.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from dangan.errors import InvalidInput

if TYPE_CHECKING:
    from dangan.archive.scheme import Scheme

__all__ = [
    "PLACEHOLDERS",
    "SEGMENT_NAMES",
    "AddressMatch",
    "ArchiveTemplate",
    "CodeScheme",
    "LocationCode",
    "MaintenanceCode",
    "MaintenanceType",
    "ProjectRef",
    "ProjectType",
    "default_codes",
    "estate_named_in",
    "find_addresses",
    "format_archive_no",
    "parse_address",
    "parse_archive_no",
    "parse_location",
    "parse_maintenance_code",
    "template_problem",
]

#: Chinese names of the location segments, from the top down.
SEGMENT_NAMES = ("项目", "楼栋", "单元", "房间")

#: The 档号 template placeholders and what each one is called in messages.
PLACEHOLDERS: Mapping[str, str] = {
    "category": "类别代码",
    "location": "位置编码",
    "year": "年度",
    "seq": "件号",
    "fonds": "全宗号",
    "org": "机构代码",
    "retention": "保管期限代码",
}

_GENERIC_PROJECT = re.compile(r"[A-Z][0-9]*")
_ASCII_DIGITS = re.compile(r"[0-9]+")
_SETTING_VALUE = re.compile(r"[0-9A-Z]+")
_RETENTION_CODE = re.compile(r"Y|D[1-9][0-9]*")
_WRONG_SEPARATORS = "-_/\\.·—–~:：,，、"


# --------------------------------------------------------------------------- the scheme's code part


@dataclass(frozen=True)
class ProjectType:
    """A property type; its letter starts every project code of that type (A 住宅 …)."""

    letter: str
    key: str
    name: str


@dataclass(frozen=True)
class MaintenanceType:
    """A 维修编码 type: the first digits of a maintenance code (01 日常维修 …)."""

    code: str
    key: str
    name: str


@dataclass(frozen=True)
class CodeScheme:
    """Everything the parsers need to know, so they never hard-code a company's rules."""

    separator: str
    project_types: tuple[ProjectType, ...]
    project_max_digits: int
    building_digits: int
    unit_digits: int
    room_digits: int
    category_codes: tuple[str, ...]
    maintenance_types: tuple[MaintenanceType, ...]
    maintenance_type_digits: int
    maintenance_serial_digits: int

    def __post_init__(self) -> None:
        # scheme.py validates the file with friendly messages; this guards direct construction.
        if len(self.separator) != 1 or self.separator.isalnum() or self.separator.isspace():
            raise ValueError(f"separator must be one punctuation character, not {self.separator!r}")
        for n in (self.building_digits, self.unit_digits, self.room_digits,
                  self.maintenance_type_digits, self.maintenance_serial_digits):
            if not 1 <= n <= 9:
                raise ValueError(f"segment widths must be 1..9, got {n}")
        if not 0 <= self.project_max_digits <= 6 or not self.project_types:
            raise ValueError("need project types and 0..6 project digits")

    @property
    def widths(self) -> tuple[int, int, int]:
        """Digit counts of building, unit and room."""
        return (self.building_digits, self.unit_digits, self.room_digits)

    @property
    def project_letters(self) -> str:
        return "".join(t.letter for t in self.project_types)

    def maintenance_type(self, code: str) -> MaintenanceType | None:
        return next((t for t in self.maintenance_types if t.code == code), None)

    def example_location(self) -> LocationCode:
        """A full example code for messages, e.g. A-01-001-0101."""
        b, u, r = (_example_digits(w) for w in self.widths)
        return LocationCode(self.project_types[0].letter, b, u, r)


@functools.cache
def default_codes() -> CodeScheme:
    """The code rules of the packaged default scheme (loaded once)."""
    from dangan.archive.scheme import load_scheme  # late: scheme.py imports this module

    return load_scheme(None).codes


def __getattr__(name: str) -> Any:
    # `codes.DEFAULT` without importing the scheme at module import time (no import cycle).
    if name == "DEFAULT":
        return default_codes()
    raise AttributeError(name)


def _example_digits(width: int) -> str:
    """01, 001, 0101: the forms DESIGN.md uses for building, unit and room."""
    return ("0" * width + "0101")[-width:] if width >= 4 else "0" * (width - 1) + "1"


def _reason(part: str, separator: str, *, letters: bool = False) -> str | None:
    """Name an invisible or easily missed defect, so the message says more than "wrong"."""
    if any(ch.isspace() for ch in part):
        return "含有空白字符"
    if any("\uff01" <= ch <= "\uff5e" for ch in part):
        return "含有全角字符"
    if letters and any("a" <= ch <= "z" for ch in part):
        return "字母应为大写"
    if any(ch in _WRONG_SEPARATORS and ch != separator for ch in part):
        return f'分隔符应为 "{separator}"'
    return None


def _segment_problem(name: str, part: str, expected: str, reason: str | None) -> str:
    if part == "":
        return f"的{name}段为空：应为{expected}"
    why = f"（{reason}）" if reason else ""
    return f'的{name}段 "{part}" 不符合要求{why}：应为{expected}'


# --------------------------------------------------------------------------- location codes


@dataclass(frozen=True)
class LocationCode:
    """A place: project, then optionally building, unit and room (as digit strings).

    Higher levels are prefixes: ``A`` ⊃ ``A-01`` ⊃ ``A-01-001`` ⊃ ``A-01-001-0101``.
    Build one with `parse_location` or `LocationCode.of`, which check the scheme's widths;
    the constructor only checks what holds under every scheme.
    """

    project: str
    building: str | None = None
    unit: str | None = None
    room: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.project, str) or not _GENERIC_PROJECT.fullmatch(self.project):
            raise InvalidInput(f'位置编码的项目段 "{self.project}" 不符合要求：应为 1 个大写字母加可选数字，例如 A 或 A2')
        missing = None
        for name, value in zip(SEGMENT_NAMES[1:], (self.building, self.unit, self.room), strict=True):
            if value is None:
                missing = missing or name
                continue
            if missing:
                raise InvalidInput(f"位置编码有{name}段却缺少{missing}段：下级段必须写在上级段之后")
            if not isinstance(value, str) or not _ASCII_DIGITS.fullmatch(value):
                raise InvalidInput(f'位置编码的{name}段 "{value}" 不符合要求：应为数字')

    @classmethod
    def of(cls, project: str, building: int | None = None, unit: int | None = None,
           room: int | None = None, codes: CodeScheme | None = None) -> LocationCode:
        """From numbers (e.g. read from an address), zero-padded and checked against the scheme."""
        codes = codes or default_codes()
        parts = [project]
        for name, value, width in zip(SEGMENT_NAMES[1:], (building, unit, room), codes.widths, strict=True):
            if value is None:
                break
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < 10 ** width:
                raise InvalidInput(f"{name}号 {value} 超出范围：应为 1 到 {10 ** width - 1} 之间的整数")
            parts.append(str(value).zfill(width))
        return parse_location(codes.separator.join(parts), codes)

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(s for s in (self.project, self.building, self.unit, self.room) if s is not None)

    @property
    def level(self) -> int:
        """1 project, 2 building, 3 unit, 4 room."""
        return len(self.segments)

    @property
    def level_name(self) -> str:
        return ("project", "building", "unit", "room")[self.level - 1]

    @property
    def parent(self) -> LocationCode | None:
        """The next level up; None for a project."""
        if self.level == 1:
            return None
        return LocationCode(*self.segments[:-1])

    def ancestors(self) -> tuple[LocationCode, ...]:
        """Every prefix from the project down to and including this code."""
        segs = self.segments
        return tuple(LocationCode(*segs[:n]) for n in range(1, len(segs) + 1))

    def is_prefix_of(self, other: LocationCode) -> bool:
        """True when `other` is this place or lies below it (a prefix covers itself)."""
        return other.segments[: self.level] == self.segments

    def format(self, codes: CodeScheme | None = None) -> str:
        sep = (codes or default_codes()).separator
        return sep.join(self.segments)

    def __str__(self) -> str:
        # The packaged scheme's separator; a scheme with another one uses .format(codes).
        return "-".join(self.segments)


_PROJECT = re.compile(r"([A-Z])([0-9]*)")


def _project_problem(part: str, codes: CodeScheme) -> str | None:
    m = _PROJECT.fullmatch(part)
    if m and m[1] in codes.project_letters and not m[2].startswith("0") and len(m[2]) <= codes.project_max_digits:
        return None  # the usual case, before any sentence is built (a check run parses every record's code)
    types = "、".join(f"{t.letter} {t.name}" for t in codes.project_types)
    n = codes.project_max_digits
    expected = (f" 1 个大写字母（{types}）加可选的 1–{n} 位编号，例如 A 或 A2" if n
                else f" 1 个大写字母（{types}），例如 A")
    if not m:
        return _segment_problem("项目", part, expected, _reason(part, codes.separator, letters=True))
    letter, digits = m.groups()
    if letter not in codes.project_letters:
        return f'的项目段 "{part}" 不符合要求：首字母应为物业类型 {types} 之一'
    if digits.startswith("0"):
        return f'的项目段 "{part}" 不符合要求：字母后的编号不能以 0 开头，例如 {letter}{digits.lstrip("0") or "1"}'
    if len(digits) > n:
        return _segment_problem("项目", part, expected, f"编号最多 {n} 位" if n else "不带编号")
    return None


def _digits_problem(name: str, part: str, width: int, codes: CodeScheme) -> str | None:
    if len(part) == width and _ASCII_DIGITS.fullmatch(part) and int(part) != 0:
        return None  # the usual case, before any sentence is built
    example = _example_digits(width)
    expected = f" {width} 位数字，例如 {example}"
    if len(part) == width and _ASCII_DIGITS.fullmatch(part):
        if int(part) == 0:
            return f'的{name}段 "{part}" 不符合要求：不能全为 0，例如 {example}'
        return None
    return _segment_problem(name, part, expected, _reason(part, codes.separator))


def _location_or_problem(s: object, codes: CodeScheme) -> LocationCode | str:
    """The parsed code, or the tail of an error sentence (after the subject)."""
    if not isinstance(s, str):
        return f"应为字符串，例如 {codes.example_location().format(codes)}"
    if s == "":
        ex = codes.example_location()
        prefixes = "、".join(LocationCode(*ex.segments[:n]).format(codes) for n in range(1, 4))
        return f"为空：应形如 {ex.format(codes)}，或其前缀 {prefixes}"
    parts = s.split(codes.separator)
    if len(parts) > 4:
        extra = codes.separator.join(parts[4:])
        layout = codes.separator.join(SEGMENT_NAMES)
        return f'在房间段之后多出 "{extra}"：最多 4 段（{layout}），例如 {codes.example_location().format(codes)}'
    problem = _project_problem(parts[0], codes)
    if problem:
        return problem
    for name, part, width in zip(SEGMENT_NAMES[1:], parts[1:], codes.widths, strict=False):
        problem = _digits_problem(name, part, width, codes)
        if problem:
            return problem
    return LocationCode(*parts)


_LOCATIONS: dict[tuple[str, int], tuple[CodeScheme, LocationCode | str]] = {}


def _location_cached(s: object, codes: CodeScheme) -> LocationCode | str:
    """`_location_or_problem`, remembered: a building's records all carry its code, and a
    check run parses every record's location and 档号. Both outcomes are immutable; the
    scheme is compared by identity, as hashing one would cost more than the parse."""
    if not isinstance(s, str):
        return _location_or_problem(s, codes)
    key = (s, id(codes))
    hit = _LOCATIONS.get(key)
    if hit is not None and hit[0] is codes:
        return hit[1]
    result = _location_or_problem(s, codes)
    if len(_LOCATIONS) >= 8192:
        _LOCATIONS.clear()
    _LOCATIONS[key] = (codes, result)
    return result


def _subject(kind: str, s: object) -> str:
    return kind if s == "" else f'{kind} "{s}" '


def _requirement(problem: str) -> str:
    """The part of a segment problem after "不符合要求", to restate it under another subject."""
    if "不符合要求" in problem:
        return problem.split("不符合要求", 1)[1]
    return "：" + problem.split("：", 1)[1]


def parse_location(s: str, codes: CodeScheme | None = None) -> LocationCode:
    """Parse ``A-01-001-0101`` or a prefix (``A``, ``A-01``, ``A-01-001``), strictly."""
    result = _location_cached(s, codes or default_codes())
    if isinstance(result, str):
        raise InvalidInput(_subject("位置编码", s) + result)
    return result


# --------------------------------------------------------------------------- 档号 (archive numbers)

_TEMPLATE_TOKEN = re.compile(r"\{([^{}]*)\}")


def _tokenise(pattern: str) -> list[tuple[bool, str]] | str:
    """[(is_field, text)], or a problem tail when the template is malformed."""
    tokens: list[tuple[bool, str]] = []
    pos = 0
    for m in _TEMPLATE_TOKEN.finditer(pattern):
        literal = pattern[pos:m.start()]
        if "{" in literal or "}" in literal:
            return "含有不成对的花括号"
        if literal:
            tokens.append((False, literal))
        tokens.append((True, m.group(1)))
        pos = m.end()
    tail = pattern[pos:]
    if "{" in tail or "}" in tail:
        return "含有不成对的花括号"
    if tail:
        tokens.append((False, tail))
    return tokens


def template_problem(pattern: str) -> str | None:
    """Why a 档号 template cannot work (the tail of a sentence), or None if it is usable.

    A template must name each placeholder at most once, contain {seq}, and put a
    separator without letters or digits between any two placeholders, so that a
    number can be split back into its fields unambiguously.
    """
    if not isinstance(pattern, str) or not pattern.strip():
        return "为空：应形如 {category}-{location}-{year}-{seq}"
    tokens = _tokenise(pattern)
    if isinstance(tokens, str):
        return tokens
    available = "、".join(f"{{{k}}}" for k in PLACEHOLDERS)
    seen: set[str] = set()
    prev: tuple[bool, str] | None = None
    for i, (is_field, text) in enumerate(tokens):
        if is_field:
            if ":" in text or "!" in text:
                return f"的占位符 {{{text}}} 不能带格式说明：件号位数由 seq_width 设定"
            if text not in PLACEHOLDERS:
                return f"含有未知占位符 {{{text}}}：可用 {available}"
            if text in seen:
                return f"中占位符 {{{text}}} 出现了两次：每个占位符只能用一次"
            if prev is not None and prev[0]:
                return f"中 {{{prev[1]}}} 与 {{{text}}} 之间缺少分隔符：应加上 - 或 · 等符号"
            seen.add(text)
        elif prev is not None and i + 1 < len(tokens) and re.search("[0-9A-Za-z]", text):
            return f'中 {{{prev[1]}}} 与 {{{tokens[i + 1][1]}}} 之间的分隔符 "{text}" 不能含字母或数字'
        prev = (is_field, text)
    if "seq" not in seen:
        return "缺少 {seq}：档号必须以件号区分"
    return None


@dataclass(frozen=True)
class ArchiveTemplate:
    """A 档号 layout: the template string, the 件号 width and the fixed settings it uses.

    `codes` (when given) is the scheme whose category codes and location rules apply;
    `Scheme.archive_template` fills it in, so callers can pass the template alone.
    """

    pattern: str = "{category}-{location}-{year}-{seq}"
    seq_width: int = 4
    fonds: str | None = None
    org: str | None = None
    codes: CodeScheme | None = None

    def __post_init__(self) -> None:
        problem = template_problem(self.pattern)
        if problem:
            raise InvalidInput(f'档号模板 "{self.pattern}" {problem}')
        if isinstance(self.seq_width, bool) or not isinstance(self.seq_width, int) or not 1 <= self.seq_width <= 12:
            raise InvalidInput(f"档号件号位数 {self.seq_width!r} 不符合要求：应为 1 到 12 之间的整数")
        for name in ("fonds", "org"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, str) and _SETTING_VALUE.fullmatch(value)):
                raise InvalidInput(f'{PLACEHOLDERS[name]} "{value}" 不符合要求：应为大写字母或数字，例如 0001')

    @property
    def fields(self) -> tuple[str, ...]:
        """The placeholders, in template order."""
        return _template_fields(self.pattern)

    def example(self) -> str:
        """A well-formed number under this template, for messages."""
        codes = self.codes or default_codes()
        category = "WX" if "WX" in codes.category_codes or not codes.category_codes else codes.category_codes[0]
        fields = {"category": category,
                  "location": codes.example_location().format(codes), "year": 2024, "seq": 7,
                  "fonds": self.fonds or "0001", "org": self.org or "WY", "retention": "D10"}
        return _render(self, fields, codes)

    def format(self, fields: Mapping[str, object]) -> str:
        return format_archive_no(self, fields)

    def parse(self, s: str) -> dict[str, Any]:
        return parse_archive_no(s, self)


@functools.lru_cache(maxsize=64)
def _template_fields(pattern: str) -> tuple[str, ...]:
    """A valid template's placeholders, worked out once (every 档号 parse asks)."""
    tokens = _tokenise(pattern)
    assert not isinstance(tokens, str)
    return tuple(text for is_field, text in tokens if is_field)


def _as_template(template: str | ArchiveTemplate) -> ArchiveTemplate:
    return template if isinstance(template, ArchiveTemplate) else ArchiveTemplate(template)


@functools.lru_cache(maxsize=64)
def _loose_regex(pattern: str, location_separator: str) -> re.Pattern[str]:
    """Split a number into its fields by the template's separators; the values are checked later.

    Only {location} may contain the location separator, so the split is unique.
    """
    tokens = _tokenise(pattern)
    assert not isinstance(tokens, str)
    seps: set[str] = set()
    for i, (is_field, text) in enumerate(tokens):
        if not is_field and 0 < i < len(tokens) - 1:
            seps.update(text)
    out = []
    for is_field, text in tokens:
        if not is_field:
            out.append(re.escape(text))
            continue
        excluded = seps - {location_separator} if text == "location" else seps
        cls = f"[^{''.join(re.escape(c) for c in sorted(excluded))}]*" if excluded else ".*"
        out.append(f"(?P<{text}>{cls})")
    return re.compile("".join(out), re.DOTALL)


_YEAR = re.compile(r"[1-9][0-9]{3}")


def _field_value(name: str, raw: object, template: ArchiveTemplate, codes: CodeScheme) -> tuple[Any, str | None]:
    """(canonical value, None) or (None, problem tail) for one 档号 field."""
    label = PLACEHOLDERS[name]
    if name == "location":
        if isinstance(raw, LocationCode):
            raw = raw.format(codes)
        result = _location_cached(raw, codes)
        if isinstance(result, str):
            return None, (f'的{label} "{raw}" ' + result) if raw != "" else f"的{label}{result}"
        return result, None
    if name in ("year", "seq") and isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw).zfill(4 if name == "year" else template.seq_width)
    if not isinstance(raw, str):
        return None, f"的{label} {raw!r} 不符合要求：应为字符串或整数"
    if name == "category" and raw in codes.category_codes:
        return raw, None  # the usual cases first, before any sentence is built
    if name == "year" and _YEAR.fullmatch(raw):
        return int(raw), None
    if name == "seq" and _ASCII_DIGITS.fullmatch(raw) and len(raw) >= template.seq_width and int(raw) != 0 \
            and not (len(raw) > template.seq_width and raw.startswith("0")):
        return int(raw), None
    why = _reason(raw, "")
    why = f"（{why}）" if why and not why.startswith("分隔符") else ""
    if name == "category":
        choices = "、".join(codes.category_codes)
        if raw not in codes.category_codes:
            return None, f'的{label} "{raw}" 不符合要求{why}：应为已定义的类别代码 {choices} 之一'
        return raw, None
    if name == "year":
        if not _YEAR.fullmatch(raw):
            return None, f'的{label} "{raw}" 不符合要求{why}：应为 4 位年份，例如 2024'
        return int(raw), None
    if name == "seq":
        width = template.seq_width
        example = "7".zfill(width)
        if not (_ASCII_DIGITS.fullmatch(raw) and len(raw) >= width):
            return None, f'的{label} "{raw}" 不符合要求{why}：应为至少 {width} 位数字，例如 {example}'
        if int(raw) == 0:
            return None, f'的{label} "{raw}" 不符合要求：件号从 {"1".zfill(width)} 开始，不能为 0'
        if len(raw) > width and raw.startswith("0"):
            return None, f'的{label} "{raw}" 不符合要求：超过 {width} 位时不能以 0 开头'
        return int(raw), None
    if name == "retention":
        if not _RETENTION_CODE.fullmatch(raw):
            return None, f'的{label} "{raw}" 不符合要求{why}：应为 Y（永久）或 D 加年数，例如 D30、D10'
        return raw, None
    # fonds, org: fixed by the scheme when it sets them, so a number from elsewhere is refused
    expected = getattr(template, name)
    if expected is not None and raw != expected:
        return None, f'的{label} "{raw}" 不符合要求{why}：本方案的{label}为 {expected}'
    if not _SETTING_VALUE.fullmatch(raw):
        return None, f'的{label} "{raw}" 不符合要求{why}：应为大写字母或数字，例如 0001'
    return raw, None


def _render(template: ArchiveTemplate, values: Mapping[str, object], codes: CodeScheme) -> str:
    tokens = _tokenise(template.pattern)
    assert not isinstance(tokens, str)
    out = []
    for is_field, text in tokens:
        if not is_field:
            out.append(text)
            continue
        value = values[text]
        if text == "location":
            out.append(value.format(codes) if isinstance(value, LocationCode) else str(value))
        elif text in ("seq", "year"):
            out.append(str(value).zfill(template.seq_width if text == "seq" else 4))
        else:
            out.append(str(value))
    return "".join(out)


def format_archive_no(template: str | ArchiveTemplate, fields: Mapping[str, object],
                      codes: CodeScheme | None = None) -> str:
    """Render a 档号, checking every field strictly; extra keys in `fields` are ignored.

    fonds and org default to the template's settings; seq is zero-padded to the width.
    """
    template = _as_template(template)
    codes = codes or template.codes or default_codes()
    values: dict[str, Any] = {}
    for name in template.fields:
        raw = fields.get(name)
        if raw is None and name in ("fonds", "org"):
            raw = getattr(template, name)
        if raw is None:
            raise InvalidInput(f"生成档号缺少{PLACEHOLDERS[name]}（{name}）：模板 {template.pattern} 需要它")
        value, problem = _field_value(name, raw, template, codes)
        if problem:
            raise InvalidInput("生成档号时" + problem.removeprefix("的"))
        values[name] = value
    return _render(template, values, codes)


def parse_archive_no(s: str, template: str | ArchiveTemplate | None = None,
                     scheme: Scheme | CodeScheme | None = None) -> dict[str, Any]:
    """Split a 档号 into its fields, strictly: year and seq as int, location as LocationCode.

    `scheme` (a Scheme or a CodeScheme) supplies category codes and location rules;
    by default those of the template, else the packaged scheme.
    """
    if template is None:
        template = scheme.archive_template if scheme is not None and hasattr(scheme, "archive_template") \
            else ArchiveTemplate()
    template = _as_template(template)
    codes = getattr(scheme, "codes", scheme) or template.codes or default_codes()
    assert isinstance(codes, CodeScheme)
    if not isinstance(s, str) or s == "":
        raise InvalidInput(f"档号为空：应形如 {template.example()}")
    m = _loose_regex(template.pattern, codes.separator).fullmatch(s)
    if not m:
        why = _reason(s, codes.separator)
        why = f"（{why}）" if why and not why.startswith("分隔符") else ""
        raise InvalidInput(f'档号 "{s}" 不符合格式 {template.pattern}{why}：应形如 {template.example()}')
    out: dict[str, Any] = {}
    for name in template.fields:
        value, problem = _field_value(name, m.group(name), template, codes)
        if problem:
            raise InvalidInput(f'档号 "{s}" {problem}')
        out[name] = value
    return out


# --------------------------------------------------------------------------- 维修编码


@dataclass(frozen=True)
class MaintenanceCode:
    """A 维修编码: type (``01`` 日常维修 …) and serial; ``010023`` is type 01, serial 23."""

    type: str
    serial: int

    def __post_init__(self) -> None:
        if not isinstance(self.type, str) or not _ASCII_DIGITS.fullmatch(self.type):
            raise InvalidInput(f'维修编码的类型段 "{self.type}" 不符合要求：应为数字，例如 01')
        if isinstance(self.serial, bool) or not isinstance(self.serial, int) or self.serial < 1:
            raise InvalidInput(f"维修编码的流水号 {self.serial!r} 不符合要求：应为从 1 开始的整数")

    def format(self, codes: CodeScheme | None = None) -> str:
        """Render under a scheme, refusing types it does not define or serials that overflow."""
        codes = codes or default_codes()
        text = f"{self.type}{self.serial:0{codes.maintenance_serial_digits}d}"
        parse_maintenance_code(text, codes)
        return text

    def __str__(self) -> str:
        # The packaged scheme's 4-digit serial; a scheme with another width uses .format(codes).
        return f"{self.type}{self.serial:04d}"


def parse_maintenance_code(s: str, codes: CodeScheme | None = None) -> MaintenanceCode:
    """Parse a 维修编码 such as ``010023``, strictly."""
    codes = codes or default_codes()
    tw, sw = codes.maintenance_type_digits, codes.maintenance_serial_digits
    types = "、".join(f"{t.code} {t.name}" for t in codes.maintenance_types)
    first = codes.maintenance_types[0].code if codes.maintenance_types else "01"
    example = f"{first}{'23'.zfill(sw)}"
    if not isinstance(s, str) or s == "":
        raise InvalidInput(f"维修编码为空：应为 {tw + sw} 位数字（{tw} 位类型 + {sw} 位流水号），例如 {example}")
    if len(s) != tw + sw:
        why = _reason(s, "")
        why = f"，{why}" if why and not why.startswith("分隔符") else ""
        raise InvalidInput(f'维修编码 "{s}" 不符合要求（现为 {len(s)} 位{why}）：'
                           f"应为 {tw + sw} 位数字（{tw} 位类型 + {sw} 位流水号），例如 {example}")
    type_part, serial_part = s[:tw], s[tw:]
    if not _ASCII_DIGITS.fullmatch(type_part):
        why = _reason(type_part, "")
        why = f"（{why}）" if why and not why.startswith("分隔符") else ""
        raise InvalidInput(f'维修编码 "{s}" 的类型段 "{type_part}" 不符合要求{why}：应为 {tw} 位数字，可选 {types}')
    if codes.maintenance_type(type_part) is None:
        raise InvalidInput(f'维修编码 "{s}" 的类型段 "{type_part}" 未定义：可选 {types}')
    if not _ASCII_DIGITS.fullmatch(serial_part):
        why = _reason(serial_part, "")
        why = f"（{why}）" if why and not why.startswith("分隔符") else ""
        raise InvalidInput(f'维修编码 "{s}" 的流水号段 "{serial_part}" 不符合要求{why}：'
                           f"应为 {sw} 位数字，例如 {'23'.zfill(sw)}")
    if int(serial_part) == 0:
        raise InvalidInput(f'维修编码 "{s}" 的流水号段 "{serial_part}" 不符合要求：流水号从 {"1".zfill(sw)} 开始，不能为 0')
    return MaintenanceCode(type_part, int(serial_part))


# --------------------------------------------------------------------------- Chinese addresses


@dataclass(frozen=True)
class ProjectRef:
    """A registered estate: its project code and the name documents call it by."""

    code: str
    name: str


ProjectSource = Literal["letter", "name", "default"]


@dataclass(frozen=True)
class AddressMatch:
    """A place found in text: the location, where it was, and how its project was known.

    `kind` is "address" for the Chinese form (A区1栋…) and "code" for A-01-001-0101.
    """

    location: LocationCode
    start: int
    end: int
    text: str
    project_from: ProjectSource
    kind: Literal["address", "code"] = "address"


_CN_DIGITS = {"〇": 0, "零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4,
              "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_NUM = r"(?:[0-9]+|[〇零一二两三四五六七八九十]+)"
_GAP = r"[ \t]*"
_BUILDING_MARK = r"(?:号楼(?!梯)|號樓(?!梯)|号栋|號棟|号幢|號幢|[#＃]楼(?!梯)|栋|棟|幢|座(?![位椅谈談机機]))"
_UNIT_MARK = r"(?:单元|單元)"
_ROOM_MARK = r"(?:室|房|号|號)"


def _cn_number(s: str) -> tuple[int, int] | None:
    """(value, digit count) of a small Chinese numeral: 十二 → 12, 一〇一 → 101."""
    if "十" in s:
        if s.count("十") > 1:
            return None
        left, right = s.split("十")
        tens = 1 if left == "" else (_CN_DIGITS.get(left) if len(left) == 1 else None)
        ones = 0 if right == "" else (_CN_DIGITS.get(right) if len(right) == 1 else None)
        if not tens or ones is None or (right and ones == 0):
            return None
        return tens * 10 + ones, 2
    if any(ch not in _CN_DIGITS for ch in s):
        return None
    return int("".join(str(_CN_DIGITS[ch]) for ch in s)), len(s)


def _address_number(token: str | None, width: int) -> int | None:
    """The number if it fits the segment width and is not zero, else None."""
    if token is None:
        return None
    if _ASCII_DIGITS.fullmatch(token):
        value, n = int(token), len(token)
    else:
        parsed = _cn_number(token)
        if parsed is None:
            return None
        value, n = parsed
    return value if value >= 1 and n <= width else None


@functools.cache
def _to_traditional() -> Any:
    try:
        import opencc  # optional at this layer: names then match in Simplified only
    except ImportError:  # pragma: no cover
        return None
    return opencc.OpenCC("s2t")


@functools.lru_cache(maxsize=4096)
def _name_variants(name: str) -> frozenset[str]:
    """A registered name in Simplified and Traditional script (翠湖花园 / 翠湖花園)."""
    out = {name}
    conv = _to_traditional()
    if conv is not None:
        out.add(conv.convert(name))
    return frozenset(out)


@functools.lru_cache(maxsize=64)
def _address_regex(names: tuple[str, ...]) -> re.Pattern[str]:
    letter = rf"(?<![A-Za-z0-9])(?P<letter>[A-Za-z][0-9]*){_GAP}[区區]{_GAP}"
    prefix = f"(?:{letter}|(?P<name>{'|'.join(map(re.escape, names))}){_GAP})?" if names else f"(?:{letter})?"
    return re.compile(
        prefix
        + rf"(?<![0-9])(?P<b>{_NUM}){_GAP}{_BUILDING_MARK}"
        + rf"(?:{_GAP}(?P<u>{_NUM}){_GAP}{_UNIT_MARK}"
        + rf"(?:{_GAP}(?P<r>{_NUM}){_GAP}{_ROOM_MARK})?)?"
    )


@functools.lru_cache(maxsize=64)
def _names_regex(names: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(map(re.escape, names)))


@functools.lru_cache(maxsize=16)
def _code_regex(separator: str) -> re.Pattern[str]:
    sep = re.escape(separator)
    edge = rf"A-Za-z0-9_{sep}"
    return re.compile(rf"(?<![{edge}])[A-Z][0-9]*(?:{sep}[0-9]+){{1,3}}(?![{edge}])")


def _check_projects(projects: Sequence[ProjectRef], default_project: str | None,
                    codes: CodeScheme) -> dict[str, str]:
    """Validate the registry once; map every name variant to its project code."""
    by_name: dict[str, str] = {}
    for p in projects:
        problem = _project_problem(p.code, codes)
        if problem:
            raise InvalidInput(f'已登记项目 "{p.name}" 的项目代码 "{p.code}" 不符合要求' + _requirement(problem))
        if not p.name or p.name.strip() != p.name:
            raise InvalidInput(f'项目 {p.code} 的名称 "{p.name}" 不符合要求：不能为空，首尾不能有空白')
        for variant in _name_variants(p.name):
            if by_name.get(variant, p.code) != p.code:
                raise InvalidInput(f'项目名称 "{p.name}" 同时登记给了 {by_name[variant]} 和 {p.code}：名称必须唯一')
            by_name[variant] = p.code
    if default_project is not None:
        problem = _project_problem(default_project, codes) if isinstance(default_project, str) else "应为字符串"
        if problem:
            raise InvalidInput(f'默认项目 "{default_project}" 不符合要求' + _requirement(problem))
    return by_name


def _from_address(m: re.Match[str], by_name: Mapping[str, str], default_project: str | None,
                  codes: CodeScheme, *, building_only_default: bool) -> tuple[LocationCode, ProjectSource] | str:
    """The location a loose address match denotes, or why it denotes none."""
    source: ProjectSource
    if m.group("letter") is not None:
        project, source = m.group("letter"), "letter"
        problem = _project_problem(project, codes)
        if problem:
            return f'中的项目 "{project}" 不符合要求' + _requirement(problem)
    elif m.groupdict().get("name") is not None:
        project, source = by_name[m.group("name")], "name"
    elif default_project is not None:
        project, source = default_project, "default"
    else:
        return "没有写明项目：应以项目字母（如 A区）或已登记的项目名称开头，或指定默认项目"
    numbers: list[int] = []
    for name, key, width in zip(SEGMENT_NAMES[1:], "bur", codes.widths, strict=True):
        token = m.group(key)
        if token is None:
            break
        value = _address_number(token, width)
        if value is None:
            return f"的{name}号 {token} 超出范围：{name}应为 1 到 {10 ** width - 1}"
        numbers.append(value)
    if source == "default" and len(numbers) < 2 and not building_only_default:
        return "只写了楼栋，又没有项目：无法可靠定位"
    building, unit, room = [*numbers, None, None, None][:3]  # building, unit, room as read
    return LocationCode.of(project, building, unit, room, codes=codes), source


def find_addresses(text: str, projects: Sequence[ProjectRef] = (), default_project: str | None = None,
                   codes: CodeScheme | None = None, *, building_only: bool = False) -> list[AddressMatch]:
    """Every place named in `text`, in order, non-overlapping (the longest wins).

    Recognises A区1栋1单元101室 (also 區/棟/單元, 号楼/號樓, 座/幢, 房/号, Chinese numerals,
    building- or unit-only prefixes), registered estate names right before 1号楼…, and
    code forms A-01 … A-01-001-0101 standing as their own token. A registered name on its
    own is the project itself (翠湖花园 → A). Without a project letter,
    name or `default_project` there is no match; with only the default project, a match
    needs at least the unit, since "3栋" alone in prose is rarely an address — unless
    `building_only` says the caller knows the estate from the document itself (巡查区域：
    3号楼 on a page naming 翠湖花园). A number that overflows its segment discards the
    whole address.
    """
    codes = codes or default_codes()
    by_name = _check_projects(projects, default_project, codes)
    names = tuple(sorted(by_name, key=lambda n: (-len(n), n)))
    candidates: list[AddressMatch] = []
    for m in _address_regex(names).finditer(text):
        result = _from_address(m, by_name, default_project, codes, building_only_default=building_only)
        if not isinstance(result, str):
            loc, source = result
            candidates.append(AddressMatch(loc, m.start(), m.end(), m.group(), source))
    if names:
        for m in _names_regex(names).finditer(text):
            loc = LocationCode(by_name[m.group()])
            candidates.append(AddressMatch(loc, m.start(), m.end(), m.group(), "name"))
    for m in _code_regex(codes.separator).finditer(text):
        found = _location_or_problem(m.group(), codes)
        if isinstance(found, LocationCode):
            candidates.append(AddressMatch(found, m.start(), m.end(), m.group(), "letter", "code"))
    chosen: list[AddressMatch] = []
    for c in sorted(candidates, key=lambda c: (c.start - c.end, c.start)):
        if all(c.end <= o.start or o.end <= c.start for o in chosen):
            chosen.append(c)
    return sorted(chosen, key=lambda c: c.start)


def parse_address(s: str, projects: Sequence[ProjectRef] = (), default_project: str | None = None,
                  codes: CodeScheme | None = None) -> LocationCode:
    """The location of a string that is exactly one address (or one location code)."""
    codes = codes or default_codes()
    by_name = _check_projects(projects, default_project, codes)
    example = "A区1栋1单元101室 或 翠湖花园1号楼2单元0502室"
    if not isinstance(s, str) or not s.strip():
        raise InvalidInput(f"地址为空：应形如 {example}")
    body = s.strip()
    loc = _location_or_problem(body, codes)
    if isinstance(loc, LocationCode):
        return loc
    if body in by_name:
        return LocationCode(by_name[body])
    names = tuple(sorted(by_name, key=lambda n: (-len(n), n)))
    m = _address_regex(names).fullmatch(body)
    if m:
        result = _from_address(m, by_name, default_project, codes, building_only_default=True)
        if isinstance(result, str):
            raise InvalidInput(f'地址 "{s}" ' + result.removeprefix("中"))
        return result[0]
    if re.search(rf"{_BUILDING_MARK}{_GAP}{_NUM}{_GAP}{_ROOM_MARK}", body):
        raise InvalidInput(f'地址 "{s}" 缺少单元：房间必须写在单元之后，例如 A区1栋1单元502室')
    found = find_addresses(body, projects, default_project, codes)
    if len(found) > 1:
        listed = "、".join(f'"{m.text}"' for m in found)
        raise InvalidInput(f'地址 "{s}" 含有 {len(found)} 个地址（{listed}）：应只写一个地址')
    if found:
        rest = "、".join(x for x in (body[: found[0].start], body[found[0].end:]) if x)
        raise InvalidInput(f'地址 "{s}" 中只有 "{found[0].text}" 能识别为位置，其余 "{rest}" 无法识别：'
                           f"应只写一个地址，例如 {example}")
    raise InvalidInput(f'地址 "{s}" 无法识别：应形如 {example}，或位置编码 {codes.example_location().format(codes)}')


def estate_named_in(text: str, projects: Sequence[ProjectRef], codes: CodeScheme | None = None) -> str | None:
    """The project code when `text` names exactly one registered estate, else None.

    A document that names its estate once ("项目名称：翠湖花园") and then writes only
    "1号楼2单元0502室" is placed by that name: pass the result as `default_project`.
    """
    by_name = _check_projects(projects, None, codes or default_codes())
    if not by_name:
        return None
    names = tuple(sorted(by_name, key=lambda n: (-len(n), n)))
    found = {by_name[m.group()] for m in _names_regex(names).finditer(text)}
    return found.pop() if len(found) == 1 else None
