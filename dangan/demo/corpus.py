"""Synthetic Chinese property-management documents (物业服务档案) for demos, tests and benchmarks.

Why this exists: the ingest stages (classification, coding, personal-data masking) and the
search benchmarks need many realistic documents whose true category, location, date,
维修编码 and personal data are known. Real archives cannot be shipped, so this module
writes forms that look like the ones a property company files — 业主登记表, 维修工单,
消防安全巡查记录, 收费明细 … — with the archivists' vocabulary, mixed address forms
(``A区1栋1单元101室``, ``翠湖花园1号楼2单元0502室``, Traditional ``A區1棟1單元101室``, the code
``A-01-001-0101``), distractors (contract periods, next-inspection dates, landlines,
credit codes, amounts) and deliberately shared vocabulary across categories so that
classification accuracy is measured honestly.

Generation is deterministic for a given seed and fast (tens of thousands of documents
per second), because a million-record search benchmark is built from it.

Personal data in ``SyntheticDoc.pii`` is listed *as written in the text* (so
``value in doc.text`` holds; spaced and dashed forms included); normalise with
:func:`dangan.archive.pii.normalise` to compare with detector output.
"""

from __future__ import annotations

import bisect
import datetime
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

_T = TypeVar("_T")

__all__ = ["CATEGORIES", "DEFAULT_PROJECTS", "SyntheticDoc", "generate", "to_traditional"]

#: (code, registered name, property type). The letter is the type: A 住宅, B 商业, C 工业, D 公共.
DEFAULT_PROJECTS: tuple[tuple[str, str, str], ...] = (
    ("A", "翠湖花园", "residential"),
    ("A2", "翠湖花园二期", "residential"),
    ("A3", "锦绣江南", "residential"),
    ("B", "金融中心", "commercial"),
    ("B2", "万象商业广场", "commercial"),
    ("C", "高新产业园", "industrial"),
    ("D", "滨江公园", "public"),
)

#: The scheme keys, in scheme order.
CATEGORIES: tuple[str, ...] = (
    "basic", "contract", "owner", "renovation", "equipment",
    "maintenance", "service", "safety", "environment", "finance",
)


@dataclass
class SyntheticDoc:
    """One generated document with its ground truth."""

    category: str
    title: str
    location: str | None
    address_text: str | None
    date: datetime.date
    maintenance_code: str | None
    text: str
    security: str
    pii: dict[str, list[str]] = field(default_factory=dict)


# --------------------------------------------------------------------------- vocabulary

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰红梅建国志文斌辉鹏飞俊宇浩然子涵欣怡思雨梓轩晨阳佳琪海燕春雷德福永庆淑珍秀兰凤琴家豪一鸣嘉怡雅婷振华国强丽萍晓东小红"
_COMPANIES = (
    "安居物业服务有限公司", "锦程物业管理有限公司", "恒信物业服务有限公司",
    "华源物业管理有限公司", "嘉和物业服务有限公司",
)
_DEVELOPERS = ("翠湖置业有限公司", "锦绣房地产开发有限公司", "万象投资发展有限公司", "城建开发集团有限公司")
_VENDORS = {
    "elevator": ("迅达电梯工程有限公司", "通力电梯维保有限公司", "奥的斯电梯服务有限公司"),
    "fire": ("安泰消防检测有限公司", "中消安全技术服务有限公司"),
    "clean": ("洁美保洁服务有限公司", "绿洲环境工程有限公司"),
    "decor": ("美家装饰工程有限公司", "尚品宅居装饰有限公司", "金螳螂家装有限公司"),
}
_STREETS = ("科技园路", "滨江大道", "建设北路", "人民南路", "湖滨路", "文三路", "解放大道")
_CITIES = ("深圳市南山区", "杭州市西湖区", "广州市天河区", "成都市武侯区", "南京市鼓楼区", "武汉市江汉区")
_ID_REGIONS = (
    "110101", "110105", "310104", "310115", "440305", "440106", "330106", "330102",
    "320102", "510107", "420103", "370102", "610113", "500103", "350203", "430104",
)
_MOBILE_PREFIXES = (
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152",
    "155", "157", "158", "159", "166", "173", "176", "177", "180", "181", "182", "185",
    "186", "187", "188", "189", "191", "198", "199",
)
_BANK_PREFIXES = ("622202", "622848", "621700", "622588", "623668", "621483", "622700", "621226")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_CN_DIGITS = "〇一二三四五六七八九"

_EQUIPMENT = (
    ("电梯", "DT"), ("生活水泵", "SB"), ("消防水泵", "XF"), ("高压配电柜", "PD"),
    ("柴油发电机", "FD"), ("中央空调机组", "KT"), ("排污泵", "PW"), ("门禁系统", "MJ"),
    ("监控摄像系统", "JK"), ("变压器", "BY"),
)
_FAULTS = (
    "卫生间水管漏水，楼下天花板渗水", "厨房下水道堵塞，排水不畅", "客厅灯具不亮，开关跳闸",
    "入户门锁损坏无法反锁", "阳台地漏返水", "热水器进水阀门滴水", "墙面插座无电",
    "卫生间防水层失效导致渗漏", "窗户密封条老化漏雨", "水表前阀门关不严",
    "马桶水箱配件损坏长流水", "空调冷凝水管脱落",
)
_PUBLIC_FAULTS = (
    "电梯运行异响，轿厢抖动", "楼道声控灯损坏", "地下车库排水沟堵塞", "单元门禁读卡器失灵",
    "屋面防水层开裂渗水", "消防栓箱门损坏", "生活水泵压力不足", "楼道窗户玻璃破损",
)
_COMPLAINTS = (
    "楼上住户卫生间漏水，多次报修仍未彻底维修", "夜间装修噪音扰民", "地下车库车位被长期占用",
    "电梯经常停运，维修不及时", "小区垃圾清运不及时，气味较大", "物业费收费标准有异议",
    "绿化带杂草丛生，养护不到位", "楼道堆放杂物，存在消防隐患", "宠物犬未拴绳影响出行",
    "维修人员上门服务态度差", "水管爆裂后处理速度慢", "保洁人员未按时清扫楼道",
)
_GREEN_TASKS = ("草坪修剪", "乔木修枝", "绿篱整形", "施肥", "浇水灌溉", "病虫害防治", "补种花卉", "除杂草", "落叶清扫")
_CLEAN_AREAS = ("大堂", "楼道及扶手", "电梯轿厢", "地下车库", "垃圾收集点", "外围道路", "楼梯间", "天台", "公共卫生间")
_FIRE_ITEMS = ("消防栓", "灭火器", "疏散通道", "安全出口指示灯", "应急照明", "防火门", "烟感探测器", "喷淋头", "消防控制室")
_TRAINING = ("消防安全知识培训", "灭火器及消防栓使用培训", "电梯困人救援培训", "防台防汛应急培训", "用电安全培训", "有限空间作业安全培训")
_PLANS = ("电梯困人应急预案", "火灾事故应急预案", "台风暴雨应急预案", "水浸事故应急预案", "停水停电应急预案", "燃气泄漏应急预案")
_RENOVATION_ITEMS = ("水电线路改造", "卫生间防水", "厨房墙地砖铺贴", "吊顶", "木地板铺设", "门窗更换", "墙面刷漆", "橱柜安装")
_FEE_ITEMS = ("物业服务费", "公摊水电费", "车位管理费", "垃圾处理费", "二次供水加压费", "电梯运行费")
_BUDGET_ITEMS = (
    "人员工资及福利", "公共设施设备日常运行维护费", "绿化养护费", "清洁卫生费", "秩序维护费",
    "办公费用", "物业共用部位公众责任保险费", "电梯年检及维保费", "消防设施维护费",
)

_SEC_ORDER = ("public", "internal", "confidential", "secret")


def _make_names(count: int = 4096) -> tuple[str, ...]:
    """A fixed pool of Chinese person names (one- and two-character given names)."""
    r = random.Random(20240305)
    out = []
    for _ in range(count):
        given = r.choice(_GIVEN) + (r.choice(_GIVEN) if r.random() < 0.55 else "")
        out.append(r.choice(_SURNAMES) + given)
    return tuple(out)


_NAMES = _make_names()
_N_NAMES = len(_NAMES)


# --------------------------------------------------------------------------- Traditional

_T_FALLBACK = {
    "区": "區", "栋": "棟", "单": "單", "号": "號", "楼": "樓", "业": "業", "养": "養", "维": "維",
    "修": "修", "记": "記", "录": "錄", "电": "電", "梯": "梯", "检": "檢", "测": "測", "设": "設",
    "备": "備", "项": "項", "称": "稱", "园": "園", "间": "間", "门": "門", "费": "費", "务": "務",
    "员": "員", "处": "處", "报": "報", "查": "查", "时": "時", "内": "內", "容": "容", "话": "話",
    "联": "聯", "系": "系", "证": "證", "织": "織", "训": "訓", "预": "預", "应": "應", "急": "急",
    "产": "產", "权": "權", "装": "裝", "验": "驗", "收": "收", "审": "審", "计": "計", "财": "財",
    "绿": "綠", "洁": "潔", "环": "環", "境": "境", "签": "簽", "负": "負", "责": "責", "况": "況",
}
_T_TABLE: dict[int, str] | None = None


def _all_vocab_chars() -> str:
    parts: list[str] = [_SURNAMES, _GIVEN]
    for v in globals().values():
        if isinstance(v, str):
            parts.append(v)
        elif isinstance(v, tuple):
            parts.extend(x for x in v if isinstance(x, str))
            for x in v:
                if isinstance(x, tuple):
                    parts.extend(y for y in x if isinstance(y, str))
        elif isinstance(v, dict):
            for x in v.values():
                if isinstance(x, tuple):
                    parts.extend(y for y in x if isinstance(y, str))
    for spec in _TYPES:
        parts.extend(spec.titles)
        parts.extend(spec.body)
        parts.extend(x for x in spec.render.__code__.co_consts if isinstance(x, str))
        for const in spec.render.__code__.co_consts:
            if isinstance(const, tuple):
                parts.extend(x for x in const if isinstance(x, str))
    for extra in _EXTRA.values():
        parts.extend(extra)
    parts.extend(_SHARED)
    for _code, name, _t in DEFAULT_PROJECTS:
        parts.append(name)
    return "".join(parts) + "项目名称房号日期地址位置编号负责人签字盖章审核经办登记填表联系电话身份证号码银行卡账户开户行"


def _traditional_table() -> dict[int, str]:
    """Character table Simplified → Traditional for this module's vocabulary.

    Built once with OpenCC when available (character by character, so lengths never
    change); a small fixed table otherwise. Character-level conversion is what a
    Traditional-script estate office's forms look like closely enough for tests.
    """
    global _T_TABLE
    if _T_TABLE is not None:
        return _T_TABLE
    table = {ord(k): v for k, v in _T_FALLBACK.items() if k != v}
    try:
        import opencc

        conv = opencc.OpenCC("s2t")
        for ch in set(_all_vocab_chars()):
            if "\u4e00" <= ch <= "\u9fff":
                t = conv.convert(ch)
                if len(t) == 1 and t != ch:
                    table[ord(ch)] = t
    except Exception:  # pragma: no cover - opencc is a declared dependency
        pass
    # keep 里/乾 style ambiguous conversions sane for our vocabulary
    for ch in "里干后台面":
        table.pop(ord(ch), None)
    _T_TABLE = table
    return table


_T_LUT: np.ndarray | None = None


def to_traditional(text: str) -> str:
    """Convert generated text to Traditional script (character-level, length-preserving).

    A numpy lookup over UTF-32 code units: ~15x faster than str.translate, which matters
    because a million-document benchmark converts tens of thousands of texts.
    """
    global _T_LUT
    if _T_LUT is None:
        lut = np.arange(0x10000, dtype=np.uint32)
        for k, v in _traditional_table().items():
            lut[k] = ord(v)
        _T_LUT = lut
    units = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    if units.size and units.max() >= 0x10000:
        return text.translate(_traditional_table())
    return _T_LUT[units].tobytes().decode("utf-32-le")


# --------------------------------------------------------------------------- context


@dataclass(slots=True)
class _Place:
    code: str           # location code or prefix, "" when none
    text: str           # as written
    estate: str         # registered project name ("" when none)
    project: str        # project code ("" when none)
    level: str          # room | unit | building | estate | none
    building: int = 0
    unit: int = 0
    room: str = ""      # written room number, e.g. "101"


class _Ctx:
    """Per-document state handed to a document-type renderer."""

    __slots__ = ("company", "d", "mcode", "pii", "place", "rng", "trad")

    def __init__(self, rng: random.Random, place: _Place, d: datetime.date, trad: bool) -> None:
        self.rng = rng
        self.place = place
        self.d = d
        self.pii: dict[str, list[str]] = {}
        self.company = _ch(rng, _COMPANIES)
        self.trad = trad
        self.mcode: str | None = None

    # -- people and numbers ------------------------------------------------
    def name(self) -> str:
        return _NAMES[int(self.rng.random() * _N_NAMES)]

    def _add(self, kind: str, value: str) -> str:
        self.pii.setdefault(kind, []).append(value)
        return value

    def id_card(self) -> str:
        r = self.rng
        birth = datetime.date(1950, 1, 1) + datetime.timedelta(days=_ri(r, 0, 18250))
        body = f"{_ch(r, _ID_REGIONS)}{birth:%Y%m%d}{_ri(r, 0, 1000):03d}"
        s = sum(int(c) * w for c, w in zip(body, _ID_WEIGHTS, strict=True))
        return self._add("id_card", body + _ID_CHECK[s % 11])

    def mobile(self) -> str:
        r = self.rng
        num = _ch(r, _MOBILE_PREFIXES) + f"{_ri(r, 0, 100_000_000):08d}"
        x = r.random()
        if x < 0.72:
            out = num
        elif x < 0.84:
            out = f"{num[:3]} {num[3:7]} {num[7:]}"
        elif x < 0.93:
            out = f"{num[:3]}-{num[3:7]}-{num[7:]}"
        else:
            out = f"+86 {num}"
        return self._add("mobile", out)

    def bank_card(self) -> str:
        r = self.rng
        length = 19 if r.random() < 0.6 else 16
        body = _ch(r, _BANK_PREFIXES) + "".join(str(_ri(r, 0, 10)) for _ in range(length - 7))
        num = body + _luhn_digit(body)
        out = " ".join(num[i:i + 4] for i in range(0, len(num), 4)) if r.random() < 0.4 else num
        return self._add("bank_card", out)

    def landline(self) -> str:
        r = self.rng
        if r.random() < 0.4:
            return f"400-{_ri(r, 100, 1000)}-{_ri(r, 1000, 10000)}"
        return f"0{_ch(r, ('571', '755', '20', '28', '25', '27'))}-{_ri(r, 10_000_000, 100_000_000)}"

    def amount(self, lo: int, hi: int) -> str:
        v = _ri(self.rng, lo * 100, hi * 100) / 100
        return f"{v:,.2f}" if self.rng.random() < 0.5 else f"{v:.2f}"

    def area(self) -> str:
        return f"{_ri(self.rng, 4500, 18000) / 100:.2f}"

    # -- dates --------------------------------------------------------------
    def fmt(self, d: datetime.date, style: int | None = None) -> str:
        if style is None:
            x = self.rng.random()
            style = 0 if x < 0.62 else 1 if x < 0.76 else 2 if x < 0.86 else 3 if x < 0.95 else 4
        if style == 0:
            return f"{d.year}年{d.month}月{d.day}日"
        if style == 1:
            return f"{d:%Y-%m-%d}"
        if style == 2:
            return f"{d.year}/{d.month}/{d.day}"
        if style == 3:
            return f"{d:%Y.%m.%d}"
        return _cn_date(d)

    def shift(self, days_lo: int, days_hi: int) -> datetime.date:
        return self.d + datetime.timedelta(days=_ri(self.rng, days_lo, days_hi))

    def when(self) -> str:
        """The document date as written."""
        return self.fmt(self.d)

    def clock(self) -> str:
        return f"{_ri(self.rng, 8, 21):02d}:{_ri(self.rng, 0, 60):02d}"

    # -- places -------------------------------------------------------------
    def estate_line(self) -> list[str]:
        p = self.place
        return [f"项目名称：{p.estate}"] if p.estate else []

    def other_room(self) -> str:
        """A neighbouring room written in Chinese form (a distractor address)."""
        p = self.place
        if not p.room:
            return ""
        floor = int(p.room[:-2]) + 1
        return f"{p.building}栋{p.unit}单元{floor}{p.room[-2:]}室"

    def pick(self, pool: Sequence[str], k: int) -> list[str]:
        return _sample(self.rng, pool, k)


def _ri(r: random.Random, lo: int, hi: int) -> int:
    """Uniform int in [lo, hi); much cheaper than Random.randrange (speed target ≥ 20k docs/s)."""
    return lo + int(r.random() * (hi - lo))


def _ch(r: random.Random, seq: Sequence[_T]) -> _T:
    """Random element; cheaper than Random.choice."""
    return seq[int(r.random() * len(seq))]


def _sample(r: random.Random, pool: Sequence[str], k: int) -> list[str]:
    """k distinct elements of pool (all of them, shuffled, when k >= len(pool))."""
    n = len(pool)
    if k >= n:
        out = list(pool)
        r.shuffle(out)
        return out
    seen: set[int] = set()
    res: list[str] = []
    while len(res) < k:
        i = int(r.random() * n)
        if i not in seen:
            seen.add(i)
            res.append(pool[i])
    return res


def _luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        n = ord(ch) - 48
        if i % 2 == 0:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return str((10 - total % 10) % 10)


def _cn_num(n: int) -> str:
    if n < 10:
        return _CN_DIGITS[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else _CN_DIGITS[tens]) + "十" + (_CN_DIGITS[ones] if ones else "")


def _cn_date(d: datetime.date) -> str:
    year = "".join(_CN_DIGITS[int(c)] for c in str(d.year))
    return f"{year}年{_cn_num(d.month)}月{_cn_num(d.day)}日"


# --------------------------------------------------------------------------- document types


@dataclass(frozen=True)
class _Type:
    category: str
    titles: tuple[str, ...]
    levels: tuple[tuple[str, float], ...]      # location level -> weight
    render: Callable[[_Ctx], list[str]]
    body: tuple[str, ...]
    security: tuple[tuple[str, float], ...]
    weight: float = 1.0
    mixed: bool = False   # a generic memo: little of its own vocabulary, much borrowed


_SHARED = (
    "本记录一式两份，物业服务中心与相关部门各执一份，归档备查。",
    "请相关部门及时跟进处理，并将结果反馈至物业服务中心。",
    "如有疑问请联系物业服务中心。",
    "以上情况属实，特此记录。",
    "资料经档案管理员核对无误后立卷归档。",
    "本表由物业服务中心填写，业主签字确认。",
)


def _sig(c: _Ctx, *roles: str) -> list[str]:
    return [f"{role}：{c.name()}" for role in roles]


# Each renderer returns the field lines; body sentences and the signature/date are added
# by the generic assembler. The document date must appear labelled or as the 落款 line.


def _r_license(c: _Ctx) -> list[str]:
    r = c.rng
    credit = "91" + "".join(_ch(r, "0123456789") for _ in range(6)) + "MA" + "".join(
        _ch(r, "0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(8))
    est = datetime.date(_ri(r, 1998, 2015), _ri(r, 1, 13), _ri(r, 1, 28))
    return [
        f"企业名称：{c.company}",
        f"统一社会信用代码：{credit}",
        f"法定代表人：{c.name()}",
        f"注册资本：人民币{_ri(r, 100, 5000)}万元",
        f"成立日期：{c.fmt(est)}",
        f"资质等级：物业服务企业{_ch(r, ('一', '二', '三'))}级资质",
        "经营范围：物业管理；停车场服务；家政服务；园林绿化工程施工",
        f"证照有效期至：{c.fmt(c.shift(700, 3000))}",
        f"登记日期：{c.when()}",
    ]


def _r_overview(c: _Ctx) -> list[str]:
    r = c.rng
    p = c.place
    handover = c.shift(-2000, -100)
    return [
        *c.estate_line(),
        f"项目地址：{_ch(r, _CITIES)}{_ch(r, _STREETS)}{_ri(r, 1, 300)}号",
        f"开发建设单位：{_ch(r, _DEVELOPERS)}",
        f"物业服务企业：{c.company}",
        f"占地面积：{_ri(r, 20000, 200000)}平方米，总建筑面积：{_ri(r, 50000, 600000)}平方米",
        f"楼栋数：{_ri(r, 4, 30)}栋，总户数：{_ri(r, 300, 3000)}户，绿化率：{_ri(r, 30, 45)}%",
        f"交付使用日期：{c.fmt(handover)}",
        f"物业类型：{ {'A': '住宅', 'B': '商业', 'C': '工业', 'D': '公共'}.get(p.project[:1], '住宅') }",
        f"编制日期：{c.when()}",
    ]


def _r_qualification(c: _Ctx) -> list[str]:
    r = c.rng
    return [
        f"单位名称：{c.company}",
        f"证书编号：{_ch(r, ('粤', '浙', '川', '苏'))}物{_ri(r, 2010, 2024)}{_ri(r, 1000, 9999)}",
        f"年检结论：{_ch(r, ('合格', '合格', '基本合格'))}",
        f"从业人员：{_ri(r, 120, 2000)}人，其中持证管理人员{_ri(r, 20, 200)}人",
        f"在管项目：{_ri(r, 5, 60)}个，在管面积{_ri(r, 50, 900)}万平方米",
        f"检查日期：{c.when()}",
    ]


def _r_contract(c: _Ctx) -> list[str]:
    r = c.rng
    start = c.shift(10, 60)
    years = _ch(r, (1, 2, 3, 5))
    end = datetime.date(start.year + years, start.month, min(start.day, 28)) - datetime.timedelta(days=1)
    return [
        f"合同编号：HT-{c.d.year}-{_ri(r, 1, 300):03d}",
        f"甲方：{c.place.estate or '本项目'}业主委员会" if r.random() < 0.6 else f"甲方：{_ch(r, _DEVELOPERS)}",
        f"乙方：{c.company}",
        *c.estate_line(),
        f"服务期限：自{c.fmt(start, 0)}起至{c.fmt(end, 0)}止",
        f"物业服务费标准：住宅{_ri(r, 150, 450) / 100:.2f}元/平方米·月，商业{_ri(r, 500, 1200) / 100:.2f}元/平方米·月",
        f"签订日期：{c.fmt(c.d, _ch(r, (0, 0, 4)))}",
    ]


def _r_takeover(c: _Ctx) -> list[str]:
    r = c.rng
    return [
        f"移交单位：{_ch(r, _DEVELOPERS)}",
        f"承接单位：{c.company}",
        *c.estate_line(),
        "查验范围：共用部位、共用设施设备及相关场地",
        f"移交资料：竣工总平面图{_ri(r, 1, 5)}份、竣工图{_ri(r, 20, 200)}张、设施设备技术资料{_ri(r, 5, 40)}册、质量保修文件{_ri(r, 2, 10)}份",
        f"遗留问题：{_ch(r, ('屋面局部渗漏待整改', '地下车库排水待完善', '无', '部分楼道消防栓配件缺失'))}",
        f"签订日期：{c.when()}",
    ]


def _r_outsourcing(c: _Ctx) -> list[str]:
    r = c.rng
    kind = _ch(r, ("elevator", "fire", "clean"))
    what = {"elevator": "电梯维护保养", "fire": "消防设施维护保养及年度检测", "clean": "公共区域保洁及垃圾清运"}[kind]
    start = c.shift(5, 40)
    return [
        f"合同编号：WB-{c.d.year}-{_ri(r, 1, 100):03d}",
        f"委托方：{c.company}",
        f"受托方：{_ch(r, _VENDORS[kind])}",
        *c.estate_line(),
        f"服务内容：{what}",
        f"合同金额：人民币{c.amount(20000, 400000)}元/年",
        f"服务期限：自{c.fmt(start, 0)}起一年",
        f"签订日期：{c.when()}",
    ]


def _room_line(c: _Ctx, label: str = "房号") -> list[str]:
    p = c.place
    if not p.text:
        return []
    if p.level == "estate":
        return []
    return [f"{label}：{p.text}"]


def _r_owner_register(c: _Ctx) -> list[str]:
    r = c.rng
    return [
        *c.estate_line(),
        *_room_line(c),
        f"业主姓名：{c.name()}　性别：{_ch(r, '男女')}",
        f"身份证号：{c.id_card()}",
        f"联系电话：{c.mobile()}",
        f"建筑面积：{c.area()}平方米",
        f"家庭成员：{_ri(r, 1, 6)}人　车辆：{_ch(r, ('无', '1辆', '2辆'))}",
        f"紧急联系人：{c.name()}　电话：{c.mobile()}",
        f"登记日期：{c.when()}",
    ]


def _r_move_in(c: _Ctx) -> list[str]:
    r = c.rng
    return [
        *c.estate_line(),
        *_room_line(c),
        f"业主：{c.name()}　联系电话：{c.mobile()}",
        f"身份证号：{c.id_card()}",
        f"水表读数：{_ri(r, 0, 30)}吨　电表读数：{_ri(r, 0, 200)}度　燃气表读数：{_ri(r, 0, 20)}立方米",
        f"交付钥匙：{_ri(r, 2, 6)}把　门禁卡：{_ri(r, 1, 4)}张",
        f"办理日期：{c.when()}",
    ]


def _r_title_deed(c: _Ctx) -> list[str]:
    r = c.rng
    return [
        f"不动产权证号：{_ch(r, ('粤', '浙', '川', '苏'))}({c.d.year}){_ch(r, _CITIES)[:2]}市不动产权第{_ri(r, 10 ** 6, 10 ** 7)}号",
        f"权利人：{c.name()}",
        f"身份证号：{c.id_card()}",
        f"共有情况：{_ch(r, ('单独所有', '共同共有', '按份共有'))}",
        *c.estate_line(),
        *_room_line(c, "房屋坐落"),
        f"建筑面积：{c.area()}平方米　用途：{_ch(r, ('住宅', '商业', '办公'))}",
        f"登记日期：{c.when()}",
    ]


def _r_owner_change(c: _Ctx) -> list[str]:
    return [
        *c.estate_line(),
        *_room_line(c),
        f"原业主：{c.name()}　身份证号：{c.id_card()}",
        f"新业主：{c.name()}　身份证号：{c.id_card()}",
        f"新业主联系电话：{c.mobile()}",
        f"物业费结清情况：已结清至{c.d.year}年{c.d.month}月",
        f"办理日期：{c.when()}",
    ]


def _r_reno_apply(c: _Ctx) -> list[str]:
    r = c.rng
    start = c.shift(3, 20)
    return [
        *c.estate_line(),
        *_room_line(c),
        f"业主：{c.name()}　联系电话：{c.mobile()}",
        f"装修单位：{_ch(r, _VENDORS['decor'])}",
        f"施工负责人：{c.name()}　身份证号：{c.id_card()}",
        f"装修项目：{'、'.join(c.pick(_RENOVATION_ITEMS, _ri(r, 2, 5)))}",
        f"施工期限：{c.fmt(start, 0)}至{c.fmt(start + datetime.timedelta(days=_ri(r, 30, 120)), 0)}",
        f"装修押金：{c.amount(1000, 5000)}元",
        f"申请日期：{c.when()}",
    ]


def _r_reno_approve(c: _Ctx) -> list[str]:
    r = c.rng
    return [
        *c.estate_line(),
        *_room_line(c),
        f"业主：{c.name()}",
        f"装修项目：{'、'.join(c.pick(_RENOVATION_ITEMS, _ri(r, 2, 4)))}",
        f"审批意见：{_ch(r, ('同意施工，禁止拆改承重墙及破坏防水层', '同意，须按图纸施工，不得改动燃气管道', '补充水电改造图纸后再审'))}",
        f"审批日期：{c.when()}",
    ]


def _r_reno_accept(c: _Ctx) -> list[str]:
    r = c.rng
    return [
        *c.estate_line(),
        *_room_line(c),
        f"业主：{c.name()}　联系电话：{c.mobile()}",
        f"验收项目：{'、'.join(c.pick(('闭水试验', '水电线路', '承重结构', '外立面', '烟感喷淋', '空调外机位'), 3))}",
        f"验收结论：{_ch(r, ('合格，同意退还装修押金', '基本合格，限期整改', '不合格，暂扣装修押金'))}",
        f"验收日期：{c.when()}",
    ]


def _r_reno_patrol(c: _Ctx) -> list[str]:
    r = c.rng
    return [
        *c.estate_line(),
        *_room_line(c),
        "巡查内容：施工人员出入证、垃圾清运、施工时间、是否拆改结构",
        f"发现问题：{_ch(r, ('未办理出入证', '装修垃圾堆放楼道', '中午时段施工', '无'))}",
        f"巡查日期：{c.when()}",
    ]


def _r_ledger(c: _Ctx) -> list[str]:
    r = c.rng
    dev, pre = _ch(r, _EQUIPMENT)
    made = c.shift(-3000, -200)
    lines = [
        f"设备名称：{dev}",
        f"设备编号：{pre}-{_ri(r, 1, 40):02d}-{_ri(r, 1, 9):02d}",
        f"规格型号：{_ch(r, 'ABCDEFGHKLMN')}{_ri(r, 100, 999)}-{_ri(r, 1, 40)}",
        *c.estate_line(),
        *([f"安装位置：{c.place.text}{_ch(r, ('地下室设备房', '机房', '楼顶', '一层'))}"] if c.place.level in ("building", "unit") else []),
        f"出厂日期：{c.fmt(made)}",
        f"启用日期：{c.fmt(made + datetime.timedelta(days=_ri(r, 60, 400)))}",
    ]
    if dev == "电梯":
        lines.append(f"注册代码：{_ri(r, 10 ** 19, 10 ** 20)}")
    lines.append(f"登记日期：{c.when()}")
    return lines


def _r_drawings(c: _Ctx) -> list[str]:
    r = c.rng
    return [
        *c.estate_line(),
        *([f"楼栋：{c.place.text}"] if c.place.level == "building" else []),
        f"资料名称：{_ch(r, ('竣工图纸目录', '设施设备技术资料', '给排水系统图', '强弱电系统图', '消防系统竣工图'))}",
        f"图纸份数：{_ri(r, 5, 120)}张　技术资料：{_ri(r, 2, 20)}册",
        f"移交人：{c.name()}　接收人：{c.name()}",
        f"日期：{c.when()}",
    ]


def _r_fire_test(c: _Ctx) -> list[str]:
    r = c.rng
    nxt = c.d.replace(year=c.d.year + 1) if not (c.d.month == 2 and c.d.day == 29) else c.shift(365, 366)
    return [
        f"检测机构：{_ch(r, _VENDORS['fire'])}",
        *c.estate_line(),
        f"检测项目：{'、'.join(c.pick(('火灾自动报警系统', '自动喷水灭火系统', '消火栓系统', '防排烟系统', '应急照明及疏散指示'), 3))}",
        f"检测结论：{_ch(r, ('合格', '合格', '部分不合格，需整改'))}",
        f"报告编号：XJ{c.d.year}{_ri(r, 1000, 9999)}",
        f"检测日期：{c.when()}",
        f"下次检测日期：{c.fmt(nxt)}",
    ]


def _r_elevator_check(c: _Ctx) -> list[str]:
    r = c.rng
    return [
        *c.estate_line(),
        *([f"位置：{c.place.text}"] if c.place.level in ("building", "unit") else []),
        f"设备名称：电梯　使用登记证号：梯{_ri(r, 10, 99)}{c.d.year}{_ri(r, 1000, 9999)}",
        "检验机构：特种设备检验研究院",
        f"检验结论：{_ch(r, ('合格', '复检合格'))}",
        f"检验日期：{c.when()}",
        f"下次检验日期：{c.fmt(c.shift(360, 370))}",
    ]


def _mcode(c: _Ctx) -> str:
    """A 维修编码: 2-digit type (01 日常维修, 02 紧急维修) + 4-digit serial."""
    r = c.rng
    return f"{'02' if r.random() < 0.3 else '01'}{_ri(r, 1, 10000):04d}"


def _r_work_order(c: _Ctx) -> list[str]:
    r = c.rng
    code = c.mcode or _mcode(c)
    public = c.place.level != "room"
    fault = _ch(r, _PUBLIC_FAULTS if public else _FAULTS)
    done = c.d + datetime.timedelta(days=_ri(r, 0, 3))
    return [
        f"{_ch(r, ('维修编码', '工单号'))}：{code}",
        *c.estate_line(),
        *_room_line(c, _ch(r, ("房号", "地址", "维修位置"))),
        f"报修人：{c.name()}　联系电话：{c.mobile()}",
        f"报修时间：{c.when()} {c.clock()}",
        f"故障描述：{fault}",
        f"维修内容：{_ch(r, ('更换水管接头', '疏通下水管道', '更换开关及线路', '更换门锁锁芯', '重做防水层', '更换阀门', '调整电梯门机', '更换灯具'))}",
        f"使用材料：{_ch(r, ('PPR水管2米、生料带', '开关1个、电线5米', '锁芯1个', '防水涂料10公斤', '阀门1个', '无'))}",
        f"维修人员：{c.name()}　完成时间：{c.fmt(done)}",
        f"业主确认：{_ch(r, ('已修复，满意', '已修复', '基本满意'))}",
    ]


def _r_repair_slip(c: _Ctx) -> list[str]:
    r = c.rng
    code = c.mcode or _mcode(c)
    return [
        *c.estate_line(),
        *_room_line(c),
        f"维修编码：{code}　类别：{'紧急维修' if code.startswith('02') else '日常维修'}",
        f"报修人：{c.name()}　电话：{c.mobile()}",
        f"报修时间：{c.when()}",
        f"报修内容：{_ch(r, _FAULTS)}",
        f"派工人员：{c.name()}",
        f"收费情况：{_ch(r, ('免费', '材料费' + c.amount(20, 300) + '元'))}",
    ]


def _r_elevator_maint(c: _Ctx) -> list[str]:
    r = c.rng
    lines = [
        *c.estate_line(),
        *([f"位置：{c.place.text}"] if c.place.level in ("building", "unit") else []),
        f"电梯编号：DT-{_ri(r, 1, 30):02d}-{_ri(r, 1, 5):02d}",
        f"维保单位：{_ch(r, _VENDORS['elevator'])}",
        f"维保类型：{_ch(r, ('半月保养', '季度保养', '半年保养', '年度保养'))}",
        f"保养项目：{'、'.join(c.pick(('曳引机', '制动器', '限速器', '门机系统', '导轨润滑', '轿厢照明', '紧急报警装置', '层门门锁'), 4))}",
        f"维保日期：{c.when()}",
        f"下次保养日期：{c.fmt(c.shift(14, 16))}",
    ]
    if c.mcode:
        lines.insert(0, f"维修编码：{c.mcode}")
    return lines


def _r_pump_maint(c: _Ctx) -> list[str]:
    r = c.rng
    dev, _ = _ch(r, _EQUIPMENT[1:])
    lines = [
        *c.estate_line(),
        *([f"位置：{c.place.text}"] if c.place.level in ("building", "unit") else []),
        f"设备名称：{dev}",
        f"保养内容：{_ch(r, ('检查轴承、更换润滑油', '紧固接线端子、清洁柜体', '更换密封件、测试压力', '清洗过滤网、检查运行电流'))}",
        f"运行状况：{_ch(r, ('正常', '正常', '异响已处理'))}",
        f"保养人：{c.name()}",
        f"保养日期：{c.when()}",
    ]
    if c.mcode:
        lines.insert(0, f"维修编码：{c.mcode}")
    return lines


def _r_complaint(c: _Ctx) -> list[str]:
    r = c.rng
    lines = [
        *c.estate_line(),
        *_room_line(c),
        f"投诉人：{c.name()}　联系电话：{c.mobile()}",
        f"投诉日期：{c.when()}",
        f"投诉方式：{_ch(r, ('电话', '来访', '微信公众号', '书面'))}",
        f"投诉内容：{_ch(r, _COMPLAINTS)}",
        f"处理经过：{_ch(r, ('已通知维修部门上门查看并维修', '已联系相关住户协调处理', '已安排保洁加强清扫', '已向业主解释收费依据'))}",
        f"处理结果：{_ch(r, ('业主表示满意', '已解决', '业主基本认可', '待进一步跟进'))}",
    ]
    if c.mcode:
        lines.insert(4, f"关联工单号：{c.mcode}")
    if c.place.room and r.random() < 0.3:
        lines.insert(5, f"涉及住户：{c.other_room()}")
    return lines


def _r_revisit(c: _Ctx) -> list[str]:
    r = c.rng
    lines = [
        *c.estate_line(),
        *_room_line(c),
        f"回访对象：{c.name()}　联系电话：{c.mobile()}",
        f"回访方式：{_ch(r, ('电话回访', '上门回访'))}",
        f"回访内容：{_ch(r, ('对维修结果是否满意', '投诉处理情况', '入住后居住感受', '对保洁绿化服务的意见'))}",
        f"业主意见：{_ch(r, ('满意', '非常满意', '一般', '希望加快维修响应'))}",
        f"回访日期：{c.when()}",
    ]
    if c.mcode:
        lines.insert(2, f"关联工单号：{c.mcode}")
    return lines


def _r_survey(c: _Ctx) -> list[str]:
    r = c.rng
    scores = "　".join(f"{k}{_ri(r, 60, 100)}分" for k in c.pick(("秩序维护", "保洁", "绿化", "维修服务", "客服接待", "停车管理"), 4))
    return [
        *c.estate_line(),
        *_room_line(c),
        f"调查方式：{_ch(r, ('问卷', '入户', '线上问卷'))}",
        f"评分：{scores}",
        f"总体满意度：{_ri(r, 75, 99)}%",
        f"调查日期：{c.when()}",
    ]


def _r_visit_log(c: _Ctx) -> list[str]:
    r = c.rng
    return [
        *c.estate_line(),
        *_room_line(c),
        f"来访人：{c.name()}　联系电话：{c.mobile()}",
        f"来访事由：{_ch(r, ('咨询物业费缴纳', '办理门禁卡', '反映邻里纠纷', '咨询装修手续', '建议增设充电桩'))}",
        f"接待人：{c.name()}",
        f"日期：{c.when()}",
    ]


def _r_fire_patrol(c: _Ctx) -> list[str]:
    r = c.rng
    items = c.pick(_FIRE_ITEMS, 4)
    return [
        *c.estate_line(),
        *([f"巡查区域：{c.place.text}"] if c.place.level in ("building", "unit") else []),
        f"巡查项目：{'、'.join(items)}",
        f"发现隐患：{_ch(r, ('疏散通道堆放杂物', '灭火器压力不足', '安全出口指示灯损坏', '防火门闭门器失效', '无'))}",
        f"整改措施：{_ch(r, ('当场清理', '更换灭火器', '报修更换', '限期整改'))}",
        f"巡查人：{c.name()}",
        f"巡查日期：{c.when()}",
    ]


def _r_plan(c: _Ctx) -> list[str]:
    r = c.rng
    return [
        *c.estate_line(),
        "编制部门：安全管理部",
        f"应急小组组长：{c.name()}　联系电话：{c.landline()}",
        f"适用范围：{_ch(r, ('本项目共用部位及设施设备', '本公司在管各项目'))}",
        "响应流程：接报→现场确认→启动预案→疏散救援→报告→善后",
        f"编制日期：{c.when()}",
    ]


def _r_training(c: _Ctx) -> list[str]:
    r = c.rng
    return [
        *c.estate_line(),
        f"培训主题：{_ch(r, _TRAINING)}",
        f"培训讲师：{c.name()}",
        f"参加人员：秩序维护员、工程维修人员、客服人员共{_ri(r, 8, 60)}人",
        f"考核结果：{_ch(r, ('全部合格', '合格率95%', '两人补考'))}",
        f"培训日期：{c.when()}",
    ]


def _r_drill(c: _Ctx) -> list[str]:
    r = c.rng
    return [
        *c.estate_line(),
        f"演练名称：{_ch(r, ('消防疏散演练', '电梯困人救援演练', '防汛排涝演练'))}",
        f"参加人数：{_ri(r, 10, 200)}人",
        f"演练评估：{_ch(r, ('响应迅速，疏散有序', '通讯联络需加强', '达到预期效果'))}",
        f"演练日期：{c.when()}",
    ]


def _r_greening(c: _Ctx) -> list[str]:
    r = c.rng
    return [
        *c.estate_line(),
        *([f"养护区域：{c.place.text}周边绿地"] if c.place.level == "building" else []),
        f"养护内容：{'、'.join(c.pick(_GREEN_TASKS, 3))}",
        f"用药情况：{_ch(r, ('无', '吡虫啉稀释1500倍喷施', '多菌灵800倍液'))}",
        f"养护人员：{c.name()}",
        f"日期：{c.when()}",
    ]


def _r_cleaning(c: _Ctx) -> list[str]:
    r = c.rng
    return [
        *c.estate_line(),
        *([f"检查楼栋：{c.place.text}"] if c.place.level == "building" else []),
        f"检查区域：{'、'.join(c.pick(_CLEAN_AREAS, 4))}",
        f"检查结果：{_ch(r, ('达标', '楼道地面有污渍，已要求返工', '垃圾桶未及时清理', '达标，电梯轿厢清洁'))}",
        f"保洁主管：{c.name()}",
        f"检查日期：{c.when()}",
    ]


def _r_pest(c: _Ctx) -> list[str]:
    r = c.rng
    return [
        *c.estate_line(),
        f"消杀类型：{_ch(r, ('灭鼠', '灭蟑', '灭蚊蝇', '四害消杀'))}",
        f"消杀范围：{'、'.join(c.pick(('地下室', '垃圾房', '化粪池', '绿化带', '下水道井口'), 3))}",
        f"药品名称：{_ch(r, ('溴敌隆毒饵', '高效氯氰菊酯', '杀蟑胶饵'))}",
        f"作业人员：{c.name()}",
        f"日期：{c.when()}",
    ]


def _r_fee_detail(c: _Ctx) -> list[str]:
    r = c.rng
    items = c.pick(_FEE_ITEMS, 3)
    return [
        *c.estate_line(),
        *_room_line(c),
        f"业主：{c.name()}",
        *(f"{it}：{c.amount(50, 3000)}元" for it in items),
        f"缴费方式：{_ch(r, ('银行代扣', '微信支付', '现金'))}",
        f"代扣账户：{c.bank_card()}　开户行：{_ch(r, ('中国工商银行', '中国建设银行', '中国农业银行', '招商银行'))}",
        f"收费期间：{c.d.year}年{c.d.month}月",
        f"收费日期：{c.when()}",
    ]


def _r_budget(c: _Ctx) -> list[str]:
    items = c.pick(_BUDGET_ITEMS, 4)
    return [
        *c.estate_line(),
        f"预算年度：{c.d.year + 1}年度",
        *(f"{it}：{c.amount(20000, 900000)}元" for it in items),
        f"预算合计：{c.amount(900000, 4000000)}元",
        f"编制人：{c.name()}　审核人：{c.name()}",
        f"编制日期：{c.when()}",
    ]


def _r_audit(c: _Ctx) -> list[str]:
    r = c.rng
    y = c.d.year - 1
    return [
        *c.estate_line(),
        f"审计单位：{_ch(r, ('信诚会计师事务所', '立信会计师事务所', '中审会计师事务所'))}",
        f"审计期间：{y}年1月1日至{y}年12月31日",
        f"审计意见：{_ch(r, ('标准无保留意见', '带强调事项段的无保留意见'))}",
        f"物业费收缴率：{_ri(r, 80, 99)}%　收入总额：{c.amount(1000000, 9000000)}元",
        f"报告日期：{c.when()}",
    ]


def _r_fund(c: _Ctx) -> list[str]:
    r = c.rng
    return [
        *c.estate_line(),
        *([f"楼栋：{c.place.text}"] if c.place.level == "building" else []),
        f"使用项目：{_ch(r, ('电梯更换', '外墙维修', '屋面防水翻新', '消防管网更新', '二次供水设备改造'))}",
        f"使用金额：{c.amount(50000, 900000)}元",
        f"表决情况：业主表决同意率{_ri(r, 67, 95)}%",
        f"专项维修资金账户余额：{c.amount(100000, 9000000)}元",
        f"日期：{c.when()}",
    ]


_TYPES: tuple[_Type, ...] = (
    # basic
    _Type("basic", ("营业执照登记表", "企业营业执照及证照登记"), (("none", 1.0),), _r_license,
          ("营业执照正本存放于公司档案室，副本用于项目投标。", "证照年检后及时更新档案登记信息。", "本企业依法取得营业执照，具备物业服务经营资格。"),
          (("public", 0.5), ("internal", 0.5))),
    _Type("basic", ("{estate}项目概况", "项目基本情况表", "物业项目概况"), (("estate", 1.0),), _r_overview,
          ("本项目由开发建设单位委托我公司提供前期物业服务。", "项目内设有地下停车场、会所及幼儿园等配套设施。", "小区共用部位包括大堂、楼梯间、屋面及外墙。", "本表作为项目基础资料长期保存。"),
          (("public", 0.3), ("internal", 0.7))),
    _Type("basic", ("物业服务企业资质年检记录", "资质证书登记表"), (("none", 1.0),), _r_qualification,
          ("资质证书原件由行政部统一保管。", "年检材料包括企业财务报表、从业人员名册及在管项目清单。", "资质等级变更后应及时更新证书登记。"),
          (("internal", 1.0),), 0.6),
    # contract
    _Type("contract", ("物业服务合同", "{estate}前期物业服务合同", "物业服务委托合同"), (("estate", 1.0),), _r_contract,
          ("乙方按照约定的服务标准提供物业服务，甲方按时交纳物业服务费。", "合同期满前三个月，双方协商续签事宜。", "乙方负责共用部位、共用设施设备的日常维修养护。", "任何一方违约，应承担违约责任并赔偿损失。", "本合同一式四份，甲乙双方各执两份，具有同等法律效力。"),
          (("internal", 0.6), ("confidential", 0.4)), 1.2),
    _Type("contract", ("物业承接查验协议", "接管验收协议", "{estate}物业承接查验协议"), (("estate", 1.0),), _r_takeover,
          ("双方对共用部位、共用设施设备进行现场查验，并签署查验记录。", "移交资料应包括竣工图、设备技术资料及质量保修文件。", "查验发现的问题由建设单位负责在保修期内整改。"),
          (("internal", 0.7), ("confidential", 0.3))),
    _Type("contract", ("专项服务外包合同", "电梯维保服务合同", "保洁服务外包合同"), (("estate", 0.9), ("none", 0.1)), _r_outsourcing,
          ("受托方须按国家标准完成服务，并接受委托方考核。", "受托方人员在服务期间发生的安全事故由受托方负责。", "合同金额按季度支付，考核不合格按比例扣款。"),
          (("internal", 0.8), ("confidential", 0.2)), 0.8),
    # owner
    _Type("owner", ("业主信息登记表", "业主登记表", "住户信息登记表"), (("room", 0.97), ("none", 0.03)), _r_owner_register,
          ("业主应如实填写上述信息，信息变更时及时通知物业服务中心。", "本表所载个人信息仅用于物业服务，不得对外泄露。", "业主已领取业主手册及装修管理规定。"),
          (("confidential", 0.9), ("secret", 0.1)), 1.3),
    _Type("owner", ("业主入住资料", "入住交接单", "房屋交付入住登记"), (("room", 1.0),), _r_move_in,
          ("业主已现场查验房屋，对交付状况无异议。", "业主签署临时管理规约及前期物业服务协议。", "钥匙及门禁卡交接完毕。"),
          (("confidential", 1.0),)),
    _Type("owner", ("产权证明登记", "房屋产权证明复印件登记表", "不动产权证登记表"), (("room", 1.0),), _r_title_deed,
          ("产权证明复印件经核对与原件一致。", "权利人信息用于业主身份核验。"),
          (("confidential", 0.7), ("secret", 0.3)), 0.8),
    _Type("owner", ("业主变更登记表", "房屋过户业主变更登记"), (("room", 1.0),), _r_owner_change,
          ("原业主已结清物业费及相关费用。", "新业主持不动产权证办理业主信息变更。"),
          (("confidential", 1.0),), 0.6),
    # renovation
    _Type("renovation", ("装修申请表", "房屋装修申请登记表"), (("room", 1.0),), _r_reno_apply,
          ("业主及装修单位承诺遵守装修管理规定，不拆改承重墙体。", "装修施工时间为每日8:00-12:00、14:00-18:00，节假日禁止噪音施工。", "装修垃圾须装袋并运至指定地点。"),
          (("internal", 0.6), ("confidential", 0.4)), 1.1),
    _Type("renovation", ("装修审批表", "装修方案审批意见"), (("room", 1.0),), _r_reno_approve,
          ("经审核，装修方案符合装修管理规定。", "涉及防水层的施工完成后须做闭水试验。", "施工期间物业服务中心将不定期巡查。"),
          (("internal", 1.0),)),
    _Type("renovation", ("装修验收单", "装修竣工验收记录"), (("room", 1.0),), _r_reno_accept,
          ("验收合格后七个工作日内退还装修押金。", "卫生间闭水试验48小时无渗漏。", "装修过程中未发现破坏承重结构。"),
          (("internal", 1.0),)),
    _Type("renovation", ("装修巡查记录",), (("room", 1.0),), _r_reno_patrol,
          ("巡查发现的违规装修行为已书面通知整改。", "装修人员须佩戴出入证。"),
          (("internal", 1.0),), 0.6),
    # equipment
    _Type("equipment", ("设备台账", "设施设备登记卡", "{estate}设备台账"), (("building", 0.6), ("estate", 0.4)), _r_ledger,
          ("设备技术资料及合格证随台账归档。", "设备大修、更换部件后应更新台账记录。", "本设备由工程部负责日常管理。"),
          (("internal", 1.0),), 1.2),
    _Type("equipment", ("设施设备技术资料移交清单", "竣工图纸目录"), (("estate", 0.6), ("building", 0.4)), _r_drawings,
          ("图纸及技术资料为永久保存档案，借阅须登记。", "图纸与现场不符之处已标注。"),
          (("internal", 1.0),), 0.8),
    _Type("equipment", ("消防设施检测报告", "建筑消防设施年度检测报告"), (("estate", 1.0),), _r_fire_test,
          ("检测依据《建筑消防设施检测技术规程》。", "不合格项已列入整改清单，限期完成。", "消防设施整体运行状况良好。"),
          (("internal", 1.0),)),
    _Type("equipment", ("电梯定期检验报告",), (("building", 0.5), ("unit", 0.3), ("estate", 0.2)), _r_elevator_check,
          ("检验报告原件存档，复印件张贴于轿厢内。", "电梯使用登记证在有效期内。"),
          (("internal", 1.0),), 0.6),
    # maintenance
    _Type("maintenance", ("维修工单", "维修派工单", "户内维修工单"), (("room", 0.75), ("unit", 0.15), ("building", 0.1)), _r_work_order,
          ("维修人员接单后三十分钟内到达现场。", "维修完成后请业主签字确认。", "紧急维修须立即处理，并同步上报工程主管。", "更换下来的旧件已交业主确认。"),
          (("internal", 1.0),), 1.4),
    _Type("maintenance", ("报修单", "住户报修登记单"), (("room", 1.0),), _r_repair_slip,
          ("业主报修后由工程部派工处理。", "有偿维修按公示价格收取材料费。", "维修质量保修期为三个月。"),
          (("internal", 1.0),)),
    _Type("maintenance", ("电梯维保记录", "电梯维护保养记录"), (("building", 0.5), ("unit", 0.4), ("estate", 0.1)), _r_elevator_maint,
          ("维保人员已按保养项目逐项检查，电梯运行正常。", "维保完成后已在轿厢内张贴维保标识。", "发现的安全隐患已记录并安排维修。"),
          (("internal", 1.0),), 1.1),
    _Type("maintenance", ("设备保养记录", "公共设施维修保养记录"), (("building", 0.6), ("estate", 0.4)), _r_pump_maint,
          ("保养工作按设备保养计划执行。", "保养后设备试运行正常。", "设备维修保养情况已录入设备台账。"),
          (("internal", 1.0),)),
    # service
    _Type("service", ("投诉处理记录", "业主投诉处理单", "客户投诉登记表"), (("room", 0.9), ("estate", 0.1)), _r_complaint,
          ("客服中心接到投诉后及时登记并派单处理。", "投诉处理结果已电话告知业主。", "对投诉事项进行原因分析，避免同类问题再次发生。"),
          (("internal", 1.0),), 1.3),
    _Type("service", ("回访记录", "维修回访记录", "客户回访登记表"), (("room", 1.0),), _r_revisit,
          ("回访结果作为服务质量考核依据。", "业主对回访工作表示认可。"),
          (("internal", 1.0),)),
    _Type("service", ("业主满意度调查表", "物业服务满意度调查"), (("room", 0.6), ("estate", 0.4)), _r_survey,
          ("调查结果将用于改进物业服务质量。", "本次满意度调查共发放问卷若干份。", "业主对客户服务的意见已汇总分析。"),
          (("internal", 1.0),)),
    _Type("service", ("来访登记表", "客户来访接待记录"), (("room", 0.8), ("estate", 0.2)), _r_visit_log,
          ("接待人员已耐心解答业主咨询。", "业主建议已转交相关部门研究。"),
          (("internal", 1.0),), 0.6),
    # safety
    _Type("safety", ("消防安全巡查记录", "消防巡查记录表", "安全巡查记录"), (("building", 0.6), ("unit", 0.1), ("estate", 0.3)), _r_fire_patrol,
          ("巡查人员每日对消防设施进行巡查，发现隐患立即整改。", "消防通道必须保持畅通，严禁堆放杂物。", "巡查记录每月汇总上报安全管理部。"),
          (("internal", 1.0),), 1.2),
    _Type("safety", ("{plan}", "应急预案"), (("estate", 0.7), ("none", 0.3)), _r_plan,
          ("发生突发事件时，值班人员应第一时间报告应急小组组长。", "应急物资由安全管理部统一储备，定期检查。", "本预案每年至少组织一次演练。"),
          (("public", 0.4), ("internal", 0.6))),
    _Type("safety", ("安全培训记录", "员工安全培训签到表"), (("none", 0.6), ("estate", 0.4)), _r_training,
          ("培训内容包括理论讲解和现场实操。", "新入职员工须参加安全培训并考核合格后上岗。"),
          (("internal", 1.0),)),
    _Type("safety", ("应急演练记录", "消防演练总结"), (("estate", 0.8), ("none", 0.2)), _r_drill,
          ("演练结束后召开总结会，查找不足并完善应急预案。", "演练过程拍照留存，附后归档。"),
          (("internal", 1.0),), 0.7),
    # environment
    _Type("environment", ("绿化养护记录", "园林绿化养护日志"), (("estate", 0.75), ("building", 0.15), ("none", 0.1)), _r_greening,
          ("养护作业按绿化养护标准执行。", "雨季注意排水，防止绿地积水。", "绿化垃圾当日清运。"),
          (("internal", 0.7), ("public", 0.3))),
    _Type("environment", ("保洁检查记录", "清洁卫生检查表", "保洁质量检查记录"), (("estate", 0.6), ("building", 0.3), ("none", 0.1)), _r_cleaning,
          ("保洁人员按作业标准每日清扫，每周对公共区域进行深度清洁。", "垃圾分类投放点每日消毒。", "检查不合格项已要求保洁班组返工。"),
          (("internal", 1.0),), 1.1),
    _Type("environment", ("消杀记录", "四害消杀作业记录"), (("estate", 0.85), ("none", 0.15)), _r_pest,
          ("消杀作业前已张贴告示提醒业主看管好儿童和宠物。", "消杀药品由专人保管。"),
          (("internal", 1.0),), 0.6),
    # finance
    _Type("finance", ("收费明细", "物业费收费明细表", "物业服务费缴费明细"), (("room", 1.0),), _r_fee_detail,
          ("物业服务费按月计收，逾期按合同约定处理。", "收费票据已交业主。", "代扣失败的款项将于次月补扣。"),
          (("confidential", 0.8), ("internal", 0.2)), 1.2),
    _Type("finance", ("年度预算", "{estate}物业服务年度预算表", "年度收支预算"), (("estate", 0.7), ("none", 0.3)), _r_budget,
          ("预算编制遵循量入为出、收支平衡的原则。", "预算经业主委员会审议后执行。", "预算执行情况按季度向业主公示。"),
          (("internal", 0.7), ("confidential", 0.3))),
    _Type("finance", ("审计报告", "物业服务费收支审计报告"), (("estate", 0.6), ("none", 0.4)), _r_audit,
          ("我们按照中国注册会计师审计准则的规定执行了审计工作。", "财务报表在所有重大方面公允反映了收支情况。"),
          (("confidential", 1.0),), 0.8),
    _Type("finance", ("专项维修资金使用明细", "维修资金使用公示"), (("estate", 0.6), ("building", 0.4)), _r_fund,
          ("专项维修资金的使用经业主大会表决通过。", "使用明细在小区公告栏公示七日。"),
          (("internal", 1.0),), 0.7),
)

# 工作联系单 / 情况说明: generic memos filed under whichever category their matter belongs
# to. Only the 事由 and a sentence or two are specific; the rest is borrowed, so these
# are where a classifier honestly goes wrong.
_SUBJECTS: dict[str, tuple[str, ...]] = {
    "basic": ("营业执照变更登记", "资质证书延续申报", "项目概况资料补充", "证照年检材料报送"),
    "contract": ("物业服务合同续签事宜", "外包合同到期招标", "承接查验遗留问题移交", "合同补充协议签订"),
    "owner": ("业主信息核对更新", "业主资料补充收集", "房屋过户资料办理", "业主入住资料整理"),
    "renovation": ("业主装修申请审核", "违规装修整改", "装修押金退还", "装修垃圾清运管理"),
    "equipment": ("设备台账更新", "电梯使用登记证换发", "设施设备图纸移交", "消防设施年度检测安排"),
    "maintenance": ("地下室水管漏水抢修", "电梯故障维修", "屋面防水维修", "公共照明维修更换"),
    "service": ("业主投诉漏水处理", "维修服务回访", "满意度调查组织", "业主来访接待"),
    "safety": ("消防安全隐患整改", "应急预案修订", "安全培训组织", "防汛物资检查"),
    "environment": ("绿化带补种", "垃圾分类督导", "楼道保洁整改", "四害消杀安排"),
    "finance": ("物业费催缴", "年度预算编制", "专项维修资金使用", "审计资料准备"),
}
_MEMO_TITLES = ("工作联系单", "情况说明", "会议纪要", "内部通知", "工作报告", "专项工作记录")


def _memo(category: str) -> Callable[[_Ctx], list[str]]:
    subjects = _SUBJECTS[category]

    def render(c: _Ctx) -> list[str]:
        return [
            *c.estate_line(),
            *([f"涉及部位：{c.place.text}"] if c.place.level in ("building", "unit", "room") else []),
            f"发文部门：{_ch(c.rng, ('客服部', '工程部', '安全管理部', '综合办公室', '财务部', '环境部'))}",
            f"事由：{_ch(c.rng, subjects)}",
            f"日期：{c.when()}",
        ]

    render.__name__ = f"_r_memo_{category}"
    return render


_TYPES = _TYPES + tuple(
    _Type(cat, _MEMO_TITLES, (("estate", 0.6), ("building", 0.2), ("none", 0.2)), _memo(cat),
          _SUBJECTS[cat], (("internal", 1.0),), 0.45, mixed=True)
    for cat in CATEGORIES
)

# Borrowed sentences: a document sometimes quotes another category's vocabulary, as real
# files do (a complaint about a leaking pipe talks about 维修), to keep accuracy honest.
_NEIGHBOURS: dict[str, tuple[str, ...]] = {
    "basic": ("contract",), "contract": ("basic", "finance", "maintenance"),
    "owner": ("renovation", "finance"), "renovation": ("owner", "maintenance"),
    "equipment": ("maintenance", "safety"), "maintenance": ("service", "equipment"),
    "service": ("maintenance", "environment"), "safety": ("equipment", "maintenance"),
    "environment": ("service", "safety"), "finance": ("contract", "maintenance"),
}
# Further sentences per category, shared by all its document types.
_EXTRA: dict[str, tuple[str, ...]] = {
    "basic": (
        "公司基础资料由行政部统一收集整理，按年度立卷。", "证照复印件须加盖公章并注明用途。",
        "项目基础资料包括规划许可、竣工验收备案及测绘报告。", "基础资料为永久保管档案，不得随意抽取。",
        "资料如有变更，应在十个工作日内更新登记。", "企业资质和证照是物业服务合规经营的重要依据。",
    ),
    "contract": (
        "合同履行期间，双方应按约定履行各自的权利义务。", "合同附件包括物业服务标准、收费标准及共用设施设备清单。",
        "合同变更须经双方协商一致并签订补充协议。", "争议解决方式：协商不成的，提交项目所在地人民法院诉讼解决。",
        "物业服务期间形成的档案资料由乙方负责保管，合同终止时移交。", "合同正本由档案室保管，借阅须经审批。",
    ),
    "owner": (
        "业主资料属于保密档案，仅限授权人员查阅。", "业主身份信息核对后复印件存档。",
        "房屋交付时已告知业主物业服务内容及收费标准。", "业主联系方式变更请及时到物业服务中心登记。",
        "业主档案按楼栋、单元、房号顺序排列存放。", "业主信息登记齐全后录入档案管理系统。",
    ),
    "renovation": (
        "装修期间请业主督促施工人员文明施工。", "严禁擅自改变房屋外观及占用公共部位。",
        "施工单位应做好成品保护，避免损坏公共设施。", "装修管理服务协议已由业主、装修单位和物业三方签署。",
        "燃气管道改造须由燃气公司专业人员施工。", "装修完成后业主应申请验收。",
    ),
    "equipment": (
        "设备设施档案包括型号、安装位置、合格证和使用说明书。", "特种设备须定期检验，检验合格后方可使用。",
        "设备铭牌信息已拍照留存。", "设备图纸和技术资料由工程部移交档案室保存。",
        "设备运行参数详见附表。", "设备保修期内出现故障由厂家负责维修。",
    ),
    "maintenance": (
        "维修记录应写明故障原因、处理方法及更换配件。", "工程部每月对维修工单进行统计分析。",
        "维修完成后清理现场，恢复原状。", "涉及共用部位的维修由工程主管现场验收。",
        "维修人员持证上岗，严格遵守安全操作规程。", "维修保养记录按月装订归档。",
    ),
    "service": (
        "客服中心实行首问负责制，对业主诉求限时办结。", "业主意见和建议已登记并纳入服务改进计划。",
        "服务过程中使用文明用语，耐心解答业主疑问。", "客服人员应在二十四小时内回复业主。",
        "客户服务记录作为年度服务质量评估的依据。", "对重复投诉事项由客服经理督办。",
    ),
    "safety": (
        "安全管理坚持安全第一、预防为主的方针。", "消防控制室实行二十四小时值班制度。",
        "安全隐患整改情况由安全主管复查确认。", "发生安全事故须在规定时间内上报并保护现场。",
        "秩序维护员每两小时巡逻一次并签到。", "安全生产责任落实到岗位和个人。",
    ),
    "environment": (
        "环境卫生实行分区责任制，责任到人。", "垃圾分类工作按照生活垃圾分类管理规定执行。",
        "公共区域每周消毒两次。", "绿化养护工作按季节制定计划。",
        "保洁质量每日检查，每月考评。", "雨后及时清理排水沟和井盖周边垃圾。",
    ),
    "finance": (
        "收支情况按季度在小区公告栏公示。", "财务票据按月装订，凭证编号连续。",
        "物业费收缴情况纳入月度经营分析。", "财务档案的保管期限自会计年度终了后起算。",
        "各项支出须经审批后方可报销。", "应收未收款项已建立催缴台账。",
    ),
}
_GENERIC_TITLES = ("情况说明", "工作记录", "登记表", "记录表", "附件", "扫描件", "资料")


def _cumulative(pairs: Sequence[tuple[str, float]]) -> tuple[tuple[str, ...], tuple[float, ...]]:
    names = tuple(p[0] for p in pairs)
    acc, out = 0.0, []
    for _, w in pairs:
        acc += w
        out.append(acc)
    return names, tuple(x / acc for x in out)


def _expand(table: tuple[tuple[str, ...], tuple[float, ...]], size: int = 1000) -> tuple[str, ...]:
    """A lookup table so that a weighted pick is one random() call and one index."""
    names, cum = table
    return tuple(names[min(bisect.bisect_right(cum, (i + 0.5) / size), len(names) - 1)] for i in range(size))


def _pick_weighted(rng: random.Random, table: tuple[str, ...]) -> str:
    return table[int(rng.random() * len(table))]


_TYPE_CUM = _expand(_cumulative([(str(i), t.weight) for i, t in enumerate(_TYPES)]), 4000)
_LEVEL_CUM = tuple(_expand(_cumulative(t.levels)) for t in _TYPES)
_SEC_CUM = tuple(_expand(_cumulative(t.security)) for t in _TYPES)
_BODY_BY_CAT: dict[str, tuple[str, ...]] = {}
for _t in _TYPES:
    if not _t.mixed:
        _BODY_BY_CAT[_t.category] = _BODY_BY_CAT.get(_t.category, ()) + _t.body

_PAD: dict[str, tuple[str, ...]] = {k: v + _EXTRA[k] + _SHARED for k, v in _BODY_BY_CAT.items()}

_START = datetime.date(2015, 1, 1).toordinal()
_SPAN = datetime.date(2025, 6, 30).toordinal() - _START


# --------------------------------------------------------------------------- places


@dataclass(frozen=True, slots=True)
class _Project:
    code: str
    name: str
    kind: str
    buildings: int
    units: int
    floors: int


def _projects(projects: Sequence[tuple[str, str, str]]) -> tuple[_Project, ...]:
    out = []
    for code, name, kind in projects:
        h = sum(map(ord, code + name))
        if kind == "residential":
            out.append(_Project(code, name, kind, 8 + h % 20, 2 + h % 3, 11 + h % 22))
        elif kind == "commercial":
            out.append(_Project(code, name, kind, 2 + h % 4, 1 + h % 2, 20 + h % 20))
        elif kind == "industrial":
            out.append(_Project(code, name, kind, 6 + h % 10, 1, 3 + h % 4))
        else:
            out.append(_Project(code, name, kind, 2 + h % 3, 1, 2 + h % 2))
    return tuple(out)


def _place(rng: random.Random, projects: tuple[_Project, ...], level: str) -> _Place:
    if level == "none":
        return _Place("", "", "", "", "none")
    p = projects[_ri(rng, 0, len(projects))]
    if level == "estate":
        return _Place(p.code, p.name, p.name, p.code, "estate")
    b = _ri(rng, 1, p.buildings + 1)
    x = rng.random()
    if level == "building":
        if x < 0.45:
            text = f"{p.code}区{b}栋"
        elif x < 0.8:
            text = f"{p.name}{b}号楼"
        elif x < 0.9:
            text = f"{p.code}區{b}棟"
        else:
            text = f"{p.code}-{b:02d}"
        # a letter-form or code address may come without the 项目名称 line
        estate = "" if (x < 0.45 or x >= 0.8) and rng.random() < 0.3 else p.name
        return _Place(f"{p.code}-{b:02d}", text, estate, p.code, "building", b)
    u = _ri(rng, 1, p.units + 1)
    if level == "unit":
        if x < 0.5:
            text = f"{p.code}区{b}栋{u}单元"
        elif x < 0.85:
            text = f"{p.name}{b}号楼{u}单元"
        else:
            text = f"{p.code}區{b}棟{u}單元"
        estate = "" if x < 0.5 and rng.random() < 0.3 else p.name
        return _Place(f"{p.code}-{b:02d}-{u:03d}", text, estate, p.code, "unit", b, u)
    floor = _ri(rng, 1, p.floors + 1)
    k = _ri(rng, 1, 5)
    room = f"{floor}{k:02d}"
    room4 = f"{floor:02d}{k:02d}"
    code = f"{p.code}-{b:02d}-{u:03d}-{room4}"
    estate = p.name
    if x < 0.34:
        text = f"{p.code}区{b}栋{u}单元{room}室"
        if rng.random() < 0.3:
            estate = ""
    elif x < 0.56:
        text = f"{p.name}{b}号楼{u}单元{room4 if rng.random() < 0.5 else room}室"
    elif x < 0.74:
        text = f"{b}号楼{u}单元{room4 if rng.random() < 0.5 else room}室"  # placed by 项目名称
    elif x < 0.82:
        text = f"{p.name}{b}栋{u}单元{room}室"
    elif x < 0.92:
        text = f"{p.code}區{b}棟{u}單元{room}室"
        if rng.random() < 0.3:
            estate = ""
    else:
        text = code
        if rng.random() < 0.5:
            estate = ""
    return _Place(code, text, estate, p.code, "room", b, u, room)


# --------------------------------------------------------------------------- assembly


def _assemble(rng: random.Random, projects: tuple[_Project, ...]) -> SyntheticDoc:
    ti = int(_pick_weighted(rng, _TYPE_CUM))
    t = _TYPES[ti]
    level = _pick_weighted(rng, _LEVEL_CUM[ti])
    place = _place(rng, projects, level)
    d = datetime.date.fromordinal(_START + _ri(rng, 0, _SPAN))
    trad = rng.random() < 0.06
    c = _Ctx(rng, place, d, trad)
    mcode: str | None = None
    if t.mixed:
        pass
    elif t.category == "maintenance":
        if t.render in (_r_work_order, _r_repair_slip) or rng.random() < 0.5:
            mcode = _mcode(c)
    elif t.category == "service" and t.render in (_r_complaint, _r_revisit) and rng.random() < 0.35:
        mcode = _mcode(c)
    c.mcode = mcode
    fields = t.render(c)

    title = _ch(rng, t.titles)
    if "{" in title:
        title = title.format(estate=place.estate or "", plan=_ch(rng, _PLANS))
    if rng.random() < 0.07:
        title = _ch(rng, _GENERIC_TITLES)

    own = t.body
    extra = _EXTRA[t.category]
    if t.mixed:
        body = _sample(rng, extra, 1)
        for _ in range(2 + int(rng.random() * 2)):
            nb = _PAD[_ch(rng, _NEIGHBOURS[t.category])]
            body.append(_ch(rng, nb))
    else:
        body = _sample(rng, own, 2 + int(rng.random() * 2))
        body += _sample(rng, extra, 2 + int(rng.random() * 3))
    if rng.random() < 0.4:
        nb = _BODY_BY_CAT[_ch(rng, _NEIGHBOURS[t.category])]
        body.append(_ch(rng, nb))
    if rng.random() < 0.7:
        body.append(_ch(rng, _SHARED))

    tail = []
    if rng.random() < 0.3:
        tail.append(f"服务热线：{c.landline()}")
    tail.append(f"经办人：{c.name()}　审核人：{c.name()}")
    if rng.random() < 0.5:
        tail.append(f"{c.company}（盖章）")

    head = [title, f"编制单位：{c.company}", *fields, ""]
    size = sum(map(len, head)) + sum(map(len, body)) + sum(map(len, tail)) + len(head) + len(body) + len(tail)
    if size < 300:
        # pad with unused sentences of this category (for memos, a neighbour's), cyclically
        # from a random start: cheap, and never repeats a sentence
        spare = _PAD[_ch(rng, _NEIGHBOURS[t.category]) if t.mixed else t.category]
        n_spare = len(spare)
        start = int(rng.random() * n_spare)
        for i in range(n_spare):
            x = spare[(start + i) % n_spare]
            if x not in body:
                body.append(x)
                size += len(x) + 1
                if size >= 300:
                    break
    text = "\n".join([*head, *body, "", *tail])
    if len(text) > 800:
        text = text[:800].rsplit("\n", 1)[0]

    address_text = place.text or None
    if trad:
        text = to_traditional(text)
        title = to_traditional(title)
        if address_text:
            address_text = to_traditional(address_text)
    security = _pick_weighted(rng, _SEC_CUM[ti])
    pii = {k: [v for v in vs if v in text] for k, vs in c.pii.items()}
    pii = {k: vs for k, vs in pii.items() if vs}
    return SyntheticDoc(
        category=t.category,
        title=title,
        location=place.code or None,
        address_text=address_text,
        date=d,
        maintenance_code=mcode,
        text=text,
        security=security,
        pii=pii,
    )


def generate(n: int, seed: int = 0,
             projects: Sequence[tuple[str, str, str]] = DEFAULT_PROJECTS) -> Iterator[SyntheticDoc]:
    """Yield ``n`` synthetic documents; the same ``seed`` always gives the same documents."""
    rng = random.Random(seed)
    projs = _projects(projects)
    for _ in range(n):
        yield _assemble(rng, projs)
