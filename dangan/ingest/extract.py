"""Coding from text (著录): the location, document date, 维修编码 and title a record states.

Why a stage of its own: archivists file thousands of scanned forms; each one already
says where it belongs (房号：A区1栋1单元101室), when it was made (签订日期：…) and, for
repairs, its 维修编码. Reading those fields saves the typing, and saying how sure we are
lets the ingest pipeline send doubtful records to the 待分类 queue instead of misfiling.

Forms carry distractors, so every rule prefers *labelled* values, and a Traditional page
(`script_of`: the characters an OpenCC t2s fold changes) is folded to Simplified for
every rule; only the title keeps the page's script.

- location: addresses via `dangan.archive.codes.find_addresses`; an estate named in the
  text (letterhead, title, 项目名称：翠湖花园) places addresses written without the letter
  (``1号楼2单元0502室``) and buildings alone (巡查区域：3号楼, 就9号楼的…, 楼栋：东区3栋 —
  a zone letter that is not the named estate is a zone of it); labelled addresses
  (房号：/地址：/位置：/区域：…) beat prose mentions (涉及住户：楼上1502室 is a neighbour);
  a more specific place on the same chain beats its ancestor (A3-08 over a bare 锦绣江南,
  even in a labelled field); two different buildings (units, rooms) named as the
  subject keep the estate and ask for review ("two places named"). A document that
  names only its estate is placed at the project level. Counts (楼栋数：12栋, 一座) and
  codes of unregistered projects (model numbers such as A123-12) are not places.
- date (`best_date`, with the rule that chose it): 2024年3月5日, 2024-03-05, 2024/3/5,
  2024.03.05, 二〇二四年三月五日, 21-01-19 only under a document-date label, OCR noise
  (2O24, l月); labelled document dates (制表/填表/签署/办理日期, 日期：, 报修时间 …) beat a
  ledger's period end (统计期间：…至…), which beats the 落款 line, which beats prose;
  periods, schedules (下次…, 出厂…) and rows of a table are never chosen; prose dates that
  disagree give no date. No date is ever made up: None sends the record to 待分类
  ("no document date").
- 维修编码: six digits after 维修编码/工单号-style labels, or standing alone in a
  maintenance text with a type prefix the scheme defines; always checked against it.
- title: the first line that names a document (…合同, …记录, …预案, …登记表, …单) and is
  not a letterhead (…物业服务中心, …有限公司), else the first prominent line, else
  `title_hint`.
"""

from __future__ import annotations

import datetime
import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dangan.archive.codes import (
    AddressMatch,
    CodeScheme,
    LocationCode,
    ProjectRef,
    find_addresses,
    parse_maintenance_code,
)
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
    date_rule: str | None = None   # which rule chose the date (shown in the review queue)
    script: str = "simplified"     # the text's script: "simplified" or "traditional"
    review: list[str] = field(default_factory=list)  # why a person must look: "no document date" …


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


def script_of(text: str) -> str:
    """"traditional" when folding to Simplified (OpenCC t2s) changes enough of the Han
    characters, else "simplified". A Simplified page is (almost) a fixed point of t2s;
    a Traditional one changes on most lines. Shared characters count for neither."""
    t2s = _converters()[0]
    if t2s is None or not text:
        return "simplified"
    folded = t2s.convert(text)
    if len(folded) != len(text):  # phrase conversion changed lengths: compare as sets
        changed = len({c for c in text if "\u4e00" <= c <= "\u9fff"} - set(folded))
    else:
        changed = sum(a != b for a, b in zip(text, folded, strict=True))
    han = sum("\u4e00" <= c <= "\u9fff" for c in text)
    return "traditional" if changed >= 2 and changed >= 0.02 * max(han, 1) else "simplified"


def fold(text: str) -> str:
    """The text in Simplified script (Traditional pages folded; Simplified unchanged)."""
    return _simplified(text)


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

_LETTERHEAD = re.compile(r"(有限公司|有限责任公司|物业服务中心|管理处|服务中心|集团|分公司|客服中心|管理中心)$")
#: Words that end (or make) the name of a document: the title line names one of these.
_TITLE_WORDS = re.compile(r"(合同|协议|协议书|记录|记录表|登记表|登记簿|预案|方案|台账|明细|清单|报告|通知|"
                          r"申请表|申请书|单|表|卡|书|函|制度|规定|纪要|计划|说明|证明|确认书|汇总|统计|账|簿)$")
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
    folded = {i: _simplified(ln) for i, ln in candidates}
    for i, ln in candidates:  # the line naming the document (in either script)
        if _TITLE_WORDS.search(folded[i]) and not _LETTERHEAD.search(folded[i]):
            return ln
    for i, ln in candidates:
        if _LETTERHEAD.search(folded[i]) and any(j > i for j, _ in candidates):
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
    rule: str = ""


_SHORT_DATE = re.compile(r"(?<![0-9A-Za-z\-./])(?P<y>\d{2})-(?P<m>\d{2})-(?P<d>\d{2})(?![0-9\-./])")
#: Labels of a period (统计期间：2021年1月1日至2021年3月31日): its end dates a ledger.
_PERIOD_LABELS = ("统计期间", "所属期间", "所属期", "统计周期", "账期", "收费期间", "计费期间", "结算期间",
                  "报表期间", "台账期间")
#: Labels naming the document's own date beyond _DOC_DATE_LABELS' exact names.
_OWN_DATE_SUFFIXES = ("签订日期", "填报日期", "登记日期", "制表日期", "填表日期", "签署日期", "办理日期",
                      "签发日期", "编制日期", "报告日期")


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


def _denoise(t: str) -> str:
    """OCR noise inside dates: O/o read for 0, l/I/| for 1 between digits (2O21年1l月)."""
    t = re.sub(r"(?<=\d)[Oo](?=\d|\s*[年月日\-./])", "0", t)
    return re.sub(r"(?<=[\d年月\-./])[lI|](?=\d|[年月日号\-./])", "1", t)


def find_dates(text: str) -> list[_DateHit]:
    """Every valid date in the text with its label and a preference score (higher = likelier
    the document date; ≤ 0 = never the document date), in Simplified or Traditional."""
    t = _denoise(_simplified(_prepare(text)))
    hits: list[_DateHit] = []
    taken: list[tuple[int, int]] = []
    for rx in (*_DATE_RES, _SHORT_DATE):
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
            short = rx is _SHORT_DATE
            if short:
                y += 2000
            try:
                value = datetime.date(y, mo, d)
            except ValueError:
                continue  # 2024年2月30日 is no date
            taken.append((m.start(), m.end()))
            hit = _score_date(t, value, m.start(), m.end())
            if short and hit.score < 3.0:
                # 21-01-19 could be any order: only a labelled document date makes it one
                hit = _DateHit(hit.date, hit.start, hit.end, hit.label, -1.0, "short date without label")
            hits.append(hit)
    hits.sort(key=lambda h: h.start)
    return hits


def _is_table_row(line: str) -> bool:
    """A row of a table: several cells apart by runs of spaces, tabs or bars."""
    return len(re.findall(r"\t|\||　| {2,}", line.strip())) >= 2


def _score_date(t: str, value: datetime.date, start: int, end: int) -> _DateHit:
    label = _label_before(t, start)
    after = t[end:end + 2]
    line_start = t.rfind("\n", 0, start) + 1
    line_end = t.find("\n", end)
    line = t[line_start: line_end if line_end >= 0 else len(t)].strip()
    line_label = t[line_start:start].strip().rstrip("：:").strip()
    opens_range = bool(re.match(r"\s*(起|至|到|~|～|—|-{1,2}\s*\d)", after))
    closes_range = label.endswith(("至", "到", "~", "～", "—")) or bool(re.search(r"(至|到|~|～|—)\s*$", t[line_start:start]))
    period = any(line_label.startswith(p) for p in _PERIOD_LABELS)
    if period and closes_range and not opens_range:
        return _DateHit(value, start, end, label, 1.8, "period end")
    if opens_range or closes_range or label.endswith(("自", "从")) or any(neg in label for neg in _NEGATIVE_LABEL):
        return _DateHit(value, start, end, label, -1.0, "period or schedule")
    if label in _DOC_DATE_LABELS or label.endswith(_OWN_DATE_SUFFIXES):
        return _DateHit(value, start, end, label, 3.0, f"labelled {label}")
    if label.endswith(("日期", "时间")):
        return _DateHit(value, start, end, label, 2.0, f"labelled {label}")
    if line == t[start:end].strip():
        return _DateHit(value, start, end, label, 1.5, "signature line")
    if _is_table_row(line):
        return _DateHit(value, start, end, label, 0.0, "table row")
    if label.endswith(("于", "在")) or not label:
        return _DateHit(value, start, end, label, 1.0, "prose")
    return _DateHit(value, start, end, label, 0.5, "other")


def best_date(text: str) -> tuple[datetime.date | None, str | None]:
    """(document date, the rule that chose it); (None, None) when no date belongs to the
    document — a year is never made up. Prose dates decide only when they agree."""
    hits = [h for h in find_dates(text) if h.score > 0]
    if not hits:
        return None, None
    top = max(h.score for h in hits)
    best = [h for h in hits if h.score == top]
    if top < 1.5 and len({h.date for h in best}) > 1:
        return None, None  # several dates in the content, none the document's own
    return best[0].date, best[0].rule


def extract_date(text: str) -> datetime.date | None:
    """The document date: the best-labelled valid date, else None."""
    return best_date(text)[0]


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


_COUNT_WORDS = re.compile(r"[一二两三四五六七八九十]+(?:座|栋|幢)")
_SUBJECT_LABELS = ("区域", "楼栋", "部位", "位置", "范围", "地点", "房号", "坐落", "地址", "楼号")


def extract_location(text: str, projects: Sequence[ProjectRef], default_project: str | None = None,
                     codes: CodeScheme | None = None) -> tuple[str | None, float, list[str]]:
    """(location, confidence, distinct candidates best first) as stated by the text."""
    location, confidence, candidates, _ = _locate(text, projects, default_project, codes)
    return location, confidence, candidates


def _locate(text: str, projects: Sequence[ProjectRef], default_project: str | None = None,
            codes: CodeScheme | None = None) -> tuple[str | None, float, list[str], str | None]:
    """extract_location plus the reason a person must decide (two buildings), if any."""
    t = _simplified(_prepare(text))
    estates = _estates(t, projects)
    context, context_labelled, context_clear = _context_project(estates)
    fallback = context or default_project
    registered = {p.code for p in projects}
    named = {e[0] for e in estates}
    # with the estate named in the document, "巡查区域：3号楼" is a building of that estate
    matches: list[AddressMatch] = find_addresses(t, projects, fallback, codes,
                                                 building_only=context is not None and context_clear)
    cands: list[_Candidate] = []
    for m in matches:
        loc = m.location
        explicit = m.project_from != "default"
        if (context is not None and context_clear and m.kind == "address" and m.project_from == "letter"
                and loc.project != context and loc.project not in named and loc.level >= 2):
            # 楼栋：B2区3栋 on a page about 翠湖花园: a zone of that estate, not project B2
            loc = LocationCode(context, *loc.segments[1:])
            explicit = False
        if registered and loc.project not in registered:
            continue  # a model number such as A123-12, not one of our estates
        label = _label_before(t, m.start)
        if m.project_from == "default" and loc.level == 2 and (
                (_COUNT_WORDS.fullmatch(m.text.strip()) and _classify_label(label) != 1)
                or label.endswith(("数", "数量", "共"))):
            continue  # 一座城市, 楼栋数：12栋 — counts, not places
        cands.append(_Candidate(str(loc), loc.level, _classify_label(label), explicit, m.start))

    if not cands:
        if context is not None:
            conf = (0.8 if context_labelled else 0.6) * (1.0 if context_clear else 0.7)
            others = sorted({e[0] for e in estates} - {context})
            return context, round(conf, 3), [context, *others], None
        return None, 0.0, [], None

    cands.sort(key=lambda c: c.score, reverse=True)
    best = cands[0]
    # a more specific place on the same chain (A ⊃ A-08) is the same statement made precise:
    # an explicit code or building beats a bare estate mention, even one in a labelled field
    below = [c for c in cands if c.labelled >= 0 and c.location.startswith(best.location + "-")]
    if below:
        best = max(below, key=lambda c: (c.level, c.labelled, int(c.explicit), -c.start))
    distinct: list[str] = []
    for c in cands:
        if c.location not in distinct:
            distinct.append(c.location)
    # ancestors of the chosen place agree with it; anything else is a rival
    rivals = [c for c in cands if not best.location.startswith(c.location + "-")
              and c.location != best.location and not c.location.startswith(best.location + "-")]
    candidates = [best.location] + [x for x in distinct if x != best.location
                                    and not best.location.startswith(x + "-")]

    # two different buildings (or units, rooms) named as the subject: do not guess
    subject_rivals = [r for r in rivals if r.labelled >= max(best.labelled, 0) and r.level >= 2
                      and r.location.split("-")[0] == best.location.split("-")[0] and best.level >= 2]
    if subject_rivals and best.labelled >= 0:
        estate = best.location.split("-")[0]
        return estate, 0.3, [x for x in candidates if x != estate], "two places named"

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
    return best.location, round(max(0.05, min(conf, 0.99)), 3), candidates, None


# --------------------------------------------------------------------------- all together


def extract_metadata(text: str, title_hint: str | None, projects: Sequence[ProjectRef],
                     default_project: str | None = None, codes: CodeScheme | None = None) -> Inferred:
    """Everything the text states about its coding; see the module docstring for the rules.

    `projects` are the registered estates (code and name); `default_project` is the
    project assumed for addresses that name none (a per-batch setting), used only when
    the text names no registered estate; `codes` is the scheme's code rules (default:
    the packaged scheme). Traditional text is folded to Simplified for every rule; the
    title keeps the script of the page.
    """
    location, confidence, candidates, doubt = _locate(text, projects, default_project, codes)
    date, rule = best_date(text)
    review = [doubt] if doubt else []
    if date is None:
        review.append("no document date")
    return Inferred(
        location=location,
        location_confidence=confidence,
        location_candidates=candidates,
        date=date,
        maintenance_code=extract_maintenance_code(fold(text), codes),
        title=extract_title(text, title_hint),
        date_rule=rule,
        script=script_of(text),
        review=review,
    )
