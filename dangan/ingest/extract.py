"""Coding from text (著录): the location, document date, 维修编码 and title a record states.

Why a stage of its own: archivists file thousands of scanned forms; each one already
says where it belongs (房号：A区1栋1单元101室), when it was made (签订日期：…) and, for
repairs, its 维修编码. Reading those fields saves the typing, and saying how sure we are
lets the ingest pipeline send doubtful records to the 待分类 queue instead of misfiling.

Forms carry distractors, so every rule prefers *labelled* values:

- location: addresses via `dangan.archive.codes.find_addresses`; an estate named in the
  text (项目名称：翠湖花园) places addresses written without the letter
  (``1号楼2单元0502室``); labelled addresses (房号：/地址：/位置：…) beat prose mentions
  (涉及住户：楼上1502室 is a neighbour, not this record); the most specific place wins;
  other distinct places are reported as candidates. A document that names only its
  estate is placed at the project level. Codes of unregistered projects (model numbers
  such as A123-12) are ignored when projects are registered.
- date: 2024年3月5日, 2024-03-05, 2024/3/5, 2024.03.05, 二〇二四年三月五日; labelled document
  dates (日期：, 签订日期, 报修时间 …) beat the 落款 line, which beats prose; periods
  (自…起至…止), next-inspection, manufacture and expiry dates are never chosen;
  impossible dates are rejected.
- 维修编码: six digits after 维修编码/工单号-style labels, or standing alone in a
  maintenance text with a type prefix the scheme defines; always checked against it.
- title: the first prominent line (short, not a ``字段：值`` line, not a letterhead),
  else `title_hint`.
"""

from __future__ import annotations

import datetime
import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dangan.archive.codes import AddressMatch, CodeScheme, ProjectRef, find_addresses, parse_maintenance_code
from dangan.errors import InvalidInput

__all__ = ["Inferred", "ProjectRef", "extract_date", "extract_maintenance_code", "extract_metadata",
           "extract_title", "find_dates"]


@dataclass
class Inferred:
    """What the text says about its own coding, with a confidence for the location."""

    location: str | None
    location_confidence: float
    location_candidates: list[str] = field(default_factory=list)
    date: datetime.date | None = None
    maintenance_code: str | None = None
    title: str | None = None


# --------------------------------------------------------------------------- helpers


@functools.cache
def _converters() -> tuple[Any, Any]:
    try:
        import opencc

        return opencc.OpenCC("t2s"), opencc.OpenCC("s2t")
    except Exception:  # pragma: no cover - opencc is a declared dependency
        return None, None


def _simplified(s: str) -> str:
    t2s = _converters()[0]
    return t2s.convert(s) if t2s is not None else s


def _label_before(text: str, pos: int) -> str:
    """The field label in front of `pos` on its line: "房号" for "房号：A区…", in Simplified."""
    start = max(text.rfind("\n", 0, pos), text.rfind("　", 0, pos), text.rfind("，", 0, pos),
                text.rfind("；", 0, pos), text.rfind("  ", 0, pos))
    label = text[start + 1:pos].strip().rstrip("：:").strip()
    return _simplified(label)


def _prepare(text: str) -> str:
    # Full-width digits and letters from OCR (Ａ区１栋) become ASCII; lengths may change,
    # which is fine: only values, never offsets, leave this module.
    return unicodedata.normalize("NFKC", text).replace("\r\n", "\n").replace("\r", "\n")


# --------------------------------------------------------------------------- title

_LETTERHEAD = re.compile(r"(有限公司|有限责任公司|物业服务中心|管理处|服务中心|集团)$")
_NOT_TITLE = re.compile(r"^[\d\s\-./:：年月日第页共()（）#*_=~]+$")


def extract_title(text: str, title_hint: str | None = None) -> str | None:
    """The first prominent line of the text, else the hint."""
    lines = [ln.strip().strip("【】[]《》") .strip() for ln in _prepare(text).split("\n")[:8]]
    lines = [ln for ln in lines if ln]
    candidates = []
    for i, ln in enumerate(lines[:6]):
        if len(ln) > 40 or "：" in ln or ":" in ln or _NOT_TITLE.match(ln) or len(ln) < 2:
            continue
        candidates.append((i, ln))
    for i, ln in candidates:
        if _LETTERHEAD.search(ln) and any(j > i for j, _ in candidates):
            continue  # a letterhead above the real title
        return ln
    hint = (title_hint or "").strip()
    return hint or None


# --------------------------------------------------------------------------- dates

_CN = {"〇": 0, "零": 0, "○": 0, "Ｏ": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6,
       "七": 7, "八": 8, "九": 9}
_CNN = "〇零○一二三四五六七八九"
_DATE_RES = (
    re.compile(r"(?<![0-9])(?P<y>(?:19|20)\d{2})\s*年\s*(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*[日号號]?(?![0-9])"),
    re.compile(r"(?<![0-9A-Za-z\-./])(?P<y>(?:19|20)\d{2})(?P<s>[-/.])(?P<m>\d{1,2})(?P=s)(?P<d>\d{1,2})(?![0-9]|(?P=s)\d)"),
    re.compile(rf"(?P<cy>[{_CNN}]{{4}})\s*年\s*(?P<cm>[{_CNN}十]{{1,3}})\s*月\s*(?P<cd>[{_CNN}十]{{1,3}})\s*[日号號]"),
)
# a date that is part of a period or a schedule is never the document's own date
_NEGATIVE_LABEL = ("下次", "出厂", "成立", "启用", "安装", "有效", "到期", "截止", "完成", "出生", "交付",
                   "预计", "计划", "上次", "开工", "竣工", "期限", "期间", "至", "止", "生产", "保修",
                   "入职", "发证", "注册", "租期")
_DOC_DATE_LABELS = frozenset({
    "日期", "签订日期", "签署日期", "签约日期", "填表日期", "登记日期", "报修时间", "报修日期", "申请日期",
    "审批日期", "验收日期", "检查日期", "巡查日期", "检测日期", "检验日期", "维保日期", "保养日期",
    "投诉日期", "投诉时间", "回访日期", "回访时间", "调查日期", "编制日期", "报告日期", "收费日期",
    "缴费日期", "培训日期", "演练日期", "办理日期", "记录日期", "发文日期", "签发日期", "受理时间",
    "来访时间", "来访日期", "制表日期", "立卷日期", "归档日期", "维修日期", "处理日期", "时间",
})


@dataclass(frozen=True)
class _DateHit:
    date: datetime.date
    start: int
    end: int
    label: str
    score: float


def _cn_value(s: str) -> int | None:
    if "十" in s:
        left, _, right = s.partition("十")
        tens = 1 if left == "" else _CN.get(left)
        ones = 0 if right == "" else _CN.get(right)
        if tens is None or ones is None or len(left) > 1 or len(right) > 1:
            return None
        return tens * 10 + ones
    if len(s) > 2 or any(ch not in _CN for ch in s):
        return None
    return int("".join(str(_CN[ch]) for ch in s))


def find_dates(text: str) -> list[_DateHit]:
    """Every valid date in the text with its label and a preference score (higher = likelier
    the document date; ≤ 0 = never the document date)."""
    t = _prepare(text)
    hits: list[_DateHit] = []
    taken: list[tuple[int, int]] = []
    for rx in _DATE_RES:
        for m in rx.finditer(t):
            if any(not (m.end() <= a or b <= m.start()) for a, b in taken):
                continue
            g = m.groupdict()
            if g.get("cy"):
                y = int("".join(str(_CN.get(ch, 0)) for ch in g["cy"]))
                mo, d = _cn_value(g["cm"]), _cn_value(g["cd"])
                if mo is None or d is None:
                    continue
            else:
                y, mo, d = int(g["y"]), int(g["m"]), int(g["d"])
            try:
                value = datetime.date(y, mo, d)
            except ValueError:
                continue  # 2024年2月30日 is no date
            taken.append((m.start(), m.end()))
            hits.append(_score_date(t, value, m.start(), m.end()))
    hits.sort(key=lambda h: h.start)
    return hits


def _score_date(t: str, value: datetime.date, start: int, end: int) -> _DateHit:
    label = _label_before(t, start)
    after = t[end:end + 2]
    line_start = t.rfind("\n", 0, start) + 1
    line_end = t.find("\n", end)
    line = t[line_start: line_end if line_end >= 0 else len(t)].strip()
    in_range = bool(re.match(r"\s*(起|至|到|~|～|—|-{1,2}\s*\d)", after)) or label.endswith(("自", "至", "到", "从"))
    if in_range or any(neg in label for neg in _NEGATIVE_LABEL):
        score = -1.0
    elif label in _DOC_DATE_LABELS or label.endswith(("签订日期", "填报日期", "登记日期")):
        score = 3.0
    elif label.endswith(("日期", "时间")):
        score = 2.0
    elif line == t[start:end].strip() or not label:
        score = 1.5  # the date alone on its line: the 落款
    else:
        score = 1.0
    return _DateHit(value, start, end, label, score)


def extract_date(text: str) -> datetime.date | None:
    """The document date: the best-labelled valid date, else None."""
    best: _DateHit | None = None
    for h in find_dates(text):
        if h.score > 0 and (best is None or h.score > best.score):
            best = h
    return best.date if best else None


# --------------------------------------------------------------------------- 维修编码

_MCODE_LABELLED = re.compile(
    r"(?:维修编码|维修编号|维修单号|工单号|工单编号|派工单号|报修单号|维修工单号|維修編碼|維修編號|工單號|工單編號)"
    r"\s*[：:]?\s*(\d{6})(?!\d)")
_MCODE_ALONE = re.compile(r"(?<![0-9A-Za-z\-./,，¥￥])(0\d{5})(?![0-9\-./%年月日元万])")
_MAINTENANCE_WORDS = re.compile(r"维修|報修|报修|維修|工单|工單|维保|維保|保养|保養")


def extract_maintenance_code(text: str, codes: CodeScheme | None = None) -> str | None:
    """The 维修编码 the text states, checked against the scheme's maintenance types."""
    t = _prepare(text)

    def valid(s: str) -> bool:
        try:
            parse_maintenance_code(s, codes)
        except InvalidInput:
            return False
        return True

    for m in _MCODE_LABELLED.finditer(t):
        if valid(m.group(1)):
            return m.group(1)
    if _MAINTENANCE_WORDS.search(t):
        for m in _MCODE_ALONE.finditer(t):
            if valid(m.group(1)):
                return m.group(1)
    return None


# --------------------------------------------------------------------------- location

_ADDRESS_LABELS = ("房号", "坐落", "地址", "位置", "部位", "区域", "楼栋", "户号", "住址", "房屋", "单元", "物业")
_NEIGHBOUR_LABELS = ("涉及住户", "楼上", "楼下", "隔壁", "对门", "邻居", "投诉对象", "原住址", "相邻", "被投诉")
_ESTATE_LABELS = ("项目名称", "项目", "小区", "物业项目", "小区名称", "管理项目", "楼盘")


@dataclass(frozen=True)
class _Candidate:
    location: str
    level: int
    labelled: int      # 1 address label, 0 none, -1 neighbour label
    explicit: bool     # project from its letter, name or code form (not from context)
    start: int

    @property
    def score(self) -> tuple[int, int, int, int]:
        return (self.labelled, self.level, int(self.explicit), -self.start)


def _estates(t: str, projects: Sequence[ProjectRef]) -> list[tuple[str, int, bool]]:
    """(project code, position, labelled) for every registered estate named in the text."""
    if not projects:
        return []
    s2t = _converters()[1]
    names: dict[str, str] = {}
    for p in projects:
        names[p.name] = p.code
        if s2t is not None:
            names.setdefault(s2t.convert(p.name), p.code)
    rx = re.compile("|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)))
    out = []
    for m in rx.finditer(t):
        label = _label_before(t, m.start())
        out.append((names[m.group()], m.start(), any(label.endswith(x) for x in _ESTATE_LABELS)))
    return out


def _context_project(estates: list[tuple[str, int, bool]]) -> tuple[str | None, bool, bool]:
    """(project the text is about, named with a label, unambiguous)."""
    if not estates:
        return None, False, True
    labelled = [e for e in estates if e[2]]
    pool = labelled or estates
    codes = {e[0] for e in pool}
    return pool[0][0], bool(labelled), len(codes) == 1


def _classify_label(label: str) -> int:
    if any(x in label for x in _NEIGHBOUR_LABELS):
        return -1
    if any(x in label for x in _ADDRESS_LABELS):
        return 1
    return 0


def extract_location(text: str, projects: Sequence[ProjectRef], default_project: str | None = None,
                     codes: CodeScheme | None = None) -> tuple[str | None, float, list[str]]:
    """(location, confidence, distinct candidates best first) as stated by the text."""
    t = _prepare(text)
    estates = _estates(t, projects)
    context, context_labelled, context_clear = _context_project(estates)
    fallback = context or default_project
    registered = {p.code for p in projects}
    matches: list[AddressMatch] = find_addresses(t, projects, fallback, codes)
    cands: list[_Candidate] = []
    for m in matches:
        loc = m.location
        if registered and loc.project not in registered:
            continue  # a model number such as A123-12, not one of our estates
        label = _label_before(t, m.start)
        explicit = m.project_from != "default"
        cands.append(_Candidate(str(loc), loc.level, _classify_label(label), explicit, m.start))

    if not cands:
        if context is not None:
            conf = (0.8 if context_labelled else 0.6) * (1.0 if context_clear else 0.7)
            others = sorted({e[0] for e in estates} - {context})
            return context, round(conf, 3), [context, *others]
        return None, 0.0, []

    cands.sort(key=lambda c: c.score, reverse=True)
    best = cands[0]
    distinct: list[str] = []
    for c in cands:
        if c.location not in distinct:
            distinct.append(c.location)
    # ancestors of the chosen place agree with it; anything else is a rival
    rivals = [c for c in cands if not best.location.startswith(c.location + "-")
              and c.location != best.location and not c.location.startswith(best.location + "-")]
    candidates = [best.location] + [x for x in distinct[1:] if not best.location.startswith(x + "-")]

    conf = 0.9 if best.labelled == 1 else 0.75
    if best.labelled == -1:
        conf = 0.4
    if not best.explicit:
        conf -= 0.0 if context is not None else 0.1  # placed by the configured default only
    if context is not None and best.location.split("-")[0] != context and best.explicit:
        conf -= 0.15  # the address's estate disagrees with the 项目名称
    if any(r.labelled >= best.labelled and r.labelled >= 0 for r in rivals):
        conf *= 0.7
    if best.explicit and best.labelled == 1 and not rivals:
        conf = 0.95
    return best.location, round(max(0.05, min(conf, 0.99)), 3), candidates


# --------------------------------------------------------------------------- all together


def extract_metadata(text: str, title_hint: str | None, projects: Sequence[ProjectRef],
                     default_project: str | None = None, codes: CodeScheme | None = None) -> Inferred:
    """Everything the text states about its coding; see the module docstring for the rules.

    `projects` are the registered estates (code and name); `default_project` is the
    project assumed for addresses that name none (a per-batch setting), used only when
    the text names no registered estate; `codes` is the scheme's code rules (default:
    the packaged scheme).
    """
    location, confidence, candidates = extract_location(text, projects, default_project, codes)
    return Inferred(
        location=location,
        location_confidence=confidence,
        location_candidates=candidates,
        date=extract_date(text),
        maintenance_code=extract_maintenance_code(text, codes),
        title=extract_title(text, title_hint),
    )
