"""An evaluation set for ingest coding (issue #8): generated documents of every category
with their truth, and the accuracy report over them.

Every document has a letterhead above its title line (the title is the line that names
the document), the estate named somewhere (letterhead, 项目名称 field or prose), a place
at estate, building, unit or room level written as a form field or in a sentence
(号楼 / 栋 / 幢 / 座 / 楼栋 label / 东区3栋 / Chinese numerals / A区… / codes such as
A-08), and a document date in one of the Chinese forms, labelled or on the signature
line, among distractor dates (next inspection, manufacture, table rows, periods). About
one in twelve has no date of its own: the truth is None, and anything else is an
invented date. Each document exists in Simplified and in Traditional script (OpenCC
s2t of the same text; the truth title is in the page's script).

`evaluate(docs, projects)` runs the ingest extractor and the scheme's classifier and
returns accuracy per field, per place level and per script.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from dangan.archive.codes import ProjectRef

PROJECTS: tuple[ProjectRef, ...] = (ProjectRef("A", "翠湖花园"), ProjectRef("A3", "锦绣江南"),
                                    ProjectRef("B", "金融中心"))
LEVELS = ("estate", "building", "unit", "room")


@dataclass(frozen=True)
class EvalDoc:
    category: str
    title: str
    location: str | None
    level: str | None
    form: str            # "field" or "prose" (how the place is written)
    date: dt.date | None
    script: str          # "simplified" or "traditional"
    text: str


# category: (title stems, body lines with the category's vocabulary)
_KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "basic": (("项目概况表", "物业管理区域备案证明", "竣工验收备案表"),
              ("规划许可证编号：2019-118", "建筑面积：58000平方米，占地面积：21000平方米", "开发建设单位：翠湖置业有限公司")),
    "contract": (("物业服务合同", "电梯维保外包合同", "绿化养护委托合同", "保洁服务协议"),
                 ("甲方：业主委员会　乙方：物业服务有限公司", "违约责任：按本合同第十条执行", "合同期限：三年")),
    "owner": (("业主登记表", "车位登记表", "入住登记表"),
              ("产权人：王伟　联系方式：13800138000", "家庭成员：三人", "门禁卡：两张")),
    "renovation": (("装修申请表", "装修巡查记录", "装修验收单"),
                   ("装修内容：卫生间防水、墙面刷漆", "装修公司：安居装饰工程有限公司", "装修押金：2000元")),
    "equipment": (("设备台账", "设备清单", "电梯设备档案"),
                  ("设备名称：二次供水水泵　技术参数：15kW", "出厂日期：2012年5月1日", "出厂合格证：齐全")),
    "maintenance": (("维修记录", "设备维修记录", "报修单", "保养记录"),
                    ("故障：楼道灯不亮，已更换灯具", "维修人员：李强", "维修费用：120元")),
    "service": (("投诉处理记录", "回访记录", "满意度调查表"),
                ("投诉内容：夜间噪音扰民", "处理结果：已回访，业主满意", "客服：张敏")),
    "safety": (("消防巡查记录", "火灾事故应急预案", "安全检查记录", "应急演练记录"),
               ("检查内容：消防栓、灭火器、疏散通道", "隐患：无", "下次检查日期：2099年1月1日")),
    "environment": (("绿化养护记录", "保洁检查记录", "消杀记录"),
                    ("作业内容：草坪修剪、苗木浇灌", "垃圾清运：已完成", "保洁员：赵丽")),
    "finance": (("收费明细表", "物业费收费台账", "财务报表"),
                ("收费项目：物业费、水电费", "欠费：无", "收据：已开具")),
}

_CN = "〇一二三四五六七八九"


def _cn_number(n: int) -> str:
    if n < 10:
        return _CN[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else _CN[tens]) + "十" + ("" if ones == 0 else _CN[ones])


def _cn_date(d: dt.date) -> str:
    year = "".join(_CN[int(c)] for c in str(d.year))
    return f"{year}年{_cn_number(d.month)}月{_cn_number(d.day)}日"


def _date_text(rng: random.Random, d: dt.date) -> tuple[str, bool]:
    """(written form, needs a label): 21-01-19 counts only with a document-date label."""
    form = rng.randrange(6)
    if form == 0:
        return f"{d.year}年{d.month}月{d.day}日", False
    if form == 1:
        return _cn_date(d), False
    if form == 2:
        return f"{d.year}.{d.month:02d}.{d.day:02d}", False
    if form == 3:
        return f"{d.year}/{d.month}/{d.day}", False
    if form == 4:
        return f"{d.year % 100:02d}-{d.month:02d}-{d.day:02d}", True
    return f"{d.year}-{d.month:02d}-{d.day:02d}", False


def _building_words(rng: random.Random, b: int) -> str:
    form = rng.randrange(6)
    if form == 0:
        return f"{b}号楼"
    if form == 1:
        return f"{b}栋"
    if form == 2:
        return f"{b}幢"
    if form == 3:
        return f"{_cn_number(b)}号楼"
    if form == 4:
        return f"{b}座"
    return f"东区{b}栋"


def _place(rng: random.Random, project: ProjectRef, level: str, form: str) -> tuple[str, list[str], str]:
    """(location code, lines stating it, where the estate goes: "head" letterhead or "field")."""
    b, u, r = rng.randint(1, 28), rng.randint(1, 4), rng.randint(1, 30) * 100 + rng.randint(1, 4)
    code = project.code
    if level == "estate":
        lines = [f"项目名称：{project.name}"] if form == "field" else [f"本记录适用于{project.name}全体业主及物业使用人。"]
        return code, lines, "head"
    bw = _building_words(rng, b)
    if level == "building":
        code = f"{project.code}-{b:02d}"
        if form == "field":
            label = rng.choice(("巡查区域", "所属楼栋", "楼栋", "养护区域", "位置", "部位"))
            tail = "周边绿地" if label == "养护区域" else ""
            lines = [f"{label}：{bw}{tail}"]
            if rng.random() < 0.3:  # an explicit code instead of words
                lines = [f"位置编码：{code}"]
        else:
            lines = [rng.choice((f"就{bw}的物业服务事宜说明如下。", f"本次工作范围为{bw}及其周边。",
                                 f"本预案适用于{code}范围内。"))]
        return code, lines, "head"
    code = f"{project.code}-{b:02d}-{u:03d}"
    uw = f"{bw}{u}单元"
    if level == "unit":
        lines = [f"位置：{uw}"] if form == "field" else [f"{uw}住户反映楼道情况，现记录如下。"]
        return code, lines, "head"
    code = f"{project.code}-{b:02d}-{u:03d}-{r:04d}"
    room = f"{uw}{r}室"
    if form == "field":
        if rng.random() < 0.3 and project.code.isalpha():
            room = f"{project.code}区{b}栋{u}单元{r}室"
        lines = [f"房号：{room}"]
    else:
        lines = [f"业主居住于{room}，现登记如下。"]
    return code, lines, "head"


def generate(n_per_cell: int = 6, seed: int = 8, projects: Sequence[ProjectRef] = PROJECTS) -> Iterator[EvalDoc]:
    """Documents of every category × place level × form, in Simplified and Traditional;
    `n_per_cell` of each combination (so 10 × 4 × 2 × n × 2 documents)."""
    import opencc

    s2t = opencc.OpenCC("s2t")
    rng = random.Random(seed)
    for category, (titles, body) in _KINDS.items():
        for level in LEVELS:
            for form in ("field", "prose"):
                for _ in range(n_per_cell):
                    project = rng.choice(projects)
                    title_stem = rng.choice(titles)
                    title = f"{project.name}{title_stem}" if rng.random() < 0.4 else title_stem
                    code, place_lines, _ = _place(rng, project, level, form)
                    lines = [f"{project.name}物业服务中心", title]
                    if level != "estate" and title == title_stem:
                        lines.append(f"项目名称：{project.name}" if rng.random() < 0.6 else f"管理项目：{project.name}")
                    lines += place_lines
                    lines += rng.sample(body, k=2)
                    date: dt.date | None  # None below for documents without a date of their own
                    date = dt.date(rng.randint(2012, 2025), rng.randint(1, 12), rng.randint(1, 28))
                    written, needs_label = _date_text(rng, date)
                    style = rng.randrange(13)
                    if category == "finance" and style < 4:
                        start = date.replace(day=1)
                        lines.append(f"统计期间：{start.year}年{start.month}月1日至{date.year}年{date.month}月{date.day}日")
                        lines.append(f"{start.year}-{start.month:02d}-03  101室  物业费  300.00")
                        lines.append(f"{start.year}-{start.month:02d}-05  102室  物业费  300.00")
                    elif style == 12:
                        date = None  # no date of its own: only distractors
                        lines.append(f"下次检查日期：{rng.randint(2026, 2030)}年3月1日")
                    elif needs_label or style < 8:
                        label = rng.choice(("制表日期", "填表日期", "签署日期", "办理日期", "日期", "签订日期"))
                        lines.append(f"{label}：{written}")
                    else:
                        lines.append("经办人：王伟")
                        lines.append(written)  # the 落款 line
                    if date is not None and rng.random() < 0.3:
                        lines.insert(3, f"上次保养日期：{date.year - 1}年6月1日")
                    text = "\n".join(lines)
                    yield EvalDoc(category, title, code, level, form, date, "simplified", text)
                    yield EvalDoc(category, s2t.convert(title), code, level, form, date, "traditional",
                                  s2t.convert(text))


def evaluate(docs: Sequence[EvalDoc], projects: Sequence[ProjectRef] = PROJECTS) -> dict:
    """Accuracy of title, category, location (per level) and date, per script; invented
    dates counted apart (a date found where the document has none, or a wrong one)."""
    from dangan.ingest.classify import Classifier
    from dangan.ingest.extract import extract_metadata

    classifier = Classifier.from_scheme()
    tally: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    invented: dict[str, int] = defaultdict(int)
    wrong: dict[str, int] = defaultdict(int)
    misses: list[tuple[str, str, object, object]] = []
    for d in docs:
        got = extract_metadata(d.text, None, projects)
        category = classifier.predict(d.text, got.title).category
        t = tally[d.script]
        for name, ok in (("title", got.title == d.title), ("category", category == d.category),
                         (f"location:{d.level}", got.location == d.location),
                         ("location", got.location == d.location), ("date", got.date == d.date)):
            t[name][0] += ok
            t[name][1] += 1
            if not ok and len(misses) < 40:
                misses.append((name, d.text.replace("\n", " | ")[:160],
                               getattr(got, name.split(":")[0], category), getattr(d, name.split(":")[0])))
        if got.date is not None and d.date is None:
            invented[d.script] += 1
        if got.date is not None and d.date is not None and got.date != d.date:
            wrong[d.script] += 1
    out: dict = {"documents": len(docs), "invented_dates": sum(invented.values()),
                 "wrong_dates": sum(wrong.values()), "misses": misses}
    for script, fields in tally.items():
        out[script] = {k: {"right": v[0], "of": v[1], "accuracy": round(v[0] / v[1], 4)}
                       for k, v in sorted(fields.items())}
    return out
