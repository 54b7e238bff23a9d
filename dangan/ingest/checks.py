"""四性检测 (DA/T 70-2018): the check library, starting with the checks ingest runs.

Each check has a name, one of the four categories (authenticity 真实性, integrity 完整性,
usability 可用性, security 安全性), the stages it belongs to (ingest, transfer,
periodic), and a function that returns None when it passes or one sentence saying what
failed. New checks (fixity, metadata rules, 档号 uniqueness) are new registered
functions; nothing that runs checks needs to change:

    @check("title_filled", INTEGRITY, "题名已填写", stages=("ingest", "transfer"))
    def _title_filled(ctx: CheckContext) -> str | None:
        return None if ctx.metadata.get("title") else "题名未填写。"

`run_checks(ctx, which)` runs a selection and returns {check name: None | sentence} in
category order; `by_category` folds that into the {category: True | sentence} shape the
`verify` command reports.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from dangan.archive import codes as codes_mod
from dangan.archive.permissions import LEVELS
from dangan.errors import DanganError
from dangan.ingest import detect

AUTHENTICITY = "authenticity"
INTEGRITY = "integrity"
USABILITY = "usability"
SECURITY = "security"
CATEGORIES: tuple[str, ...] = (AUTHENTICITY, INTEGRITY, USABILITY, SECURITY)
CATEGORY_NAMES = {AUTHENTICITY: "真实性", INTEGRITY: "完整性", USABILITY: "可用性", SECURITY: "安全性"}
STAGES = ("ingest", "transfer", "periodic")


@dataclass
class CheckContext:
    """Everything a check may look at; checks use what they need and ignore the rest.

    `extraction` is `dangan.ingest.text.Extraction` when extraction succeeded; `error`
    the refusal sentence when it did not. `metadata` and `extra` are for later checks
    (metadata rules, expected counts from a transfer manifest).
    """

    path: Path | None = None
    sha256: str | None = None
    media_type: str | None = None
    extraction: Any = None
    error: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    scheme: Any = None  # dangan.archive.scheme.Scheme, for the metadata and 档号 checks
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def sniffed(self) -> str | None:
        """The media type from the file's bytes (None if the file is refused), computed once."""
        if "sniff" not in self._cache:
            try:
                self._cache["sniff"] = detect.sniff(self.path) if self.path else None
                self._cache["sniff_error"] = None
            except DanganError as exc:
                self._cache["sniff"] = None
                self._cache["sniff_error"] = str(exc)
        return self._cache["sniff"]


CheckFn = Callable[[CheckContext], "str | None"]


@dataclass(frozen=True)
class Check:
    """One registered check."""

    name: str
    category: str
    description: str
    run: CheckFn
    stages: frozenset[str]


REGISTRY: dict[str, Check] = {}


def check(name: str, category: str, description: str,
          stages: Iterable[str] = ("ingest", "transfer", "periodic")) -> Callable[[CheckFn], CheckFn]:
    """Register the decorated function as the check `name`."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown 四性 category {category!r}")
    stage_set = frozenset(stages)
    if not stage_set <= set(STAGES):
        raise ValueError(f"unknown stage in {sorted(stage_set)}")

    def register(fn: CheckFn) -> CheckFn:
        if name in REGISTRY:
            raise ValueError(f"check {name!r} is already registered")
        REGISTRY[name] = Check(name, category, description, fn, stage_set)
        return fn

    return register


def select(which: str | Iterable[str] | None = None) -> list[Check]:
    """Checks named by `which`: None (all), a stage, a category, or check names; in category order."""
    if which is None:
        chosen = list(REGISTRY.values())
    else:
        names = [which] if isinstance(which, str) else list(which)
        chosen = []
        for item in names:
            if item in REGISTRY:
                picked = [REGISTRY[item]]
            elif item in CATEGORIES:
                picked = [c for c in REGISTRY.values() if c.category == item]
            elif item in STAGES:
                picked = [c for c in REGISTRY.values() if item in c.stages]
            else:
                raise ValueError(f"unknown check, category or stage {item!r}")
            chosen.extend(c for c in picked if c not in chosen)
    order = {name: i for i, name in enumerate(REGISTRY)}
    return sorted(chosen, key=lambda c: (CATEGORIES.index(c.category), order[c.name]))


def run_checks(ctx: CheckContext, which: str | Iterable[str] | list[Check] | None = "ingest"
               ) -> dict[str, str | None]:
    """Run the selected checks: {name: None (passed) | sentence (failed)}, in category order.

    `which` may also be a list of `Check` objects already selected (for hot loops).

    A check that crashes fails with a sentence naming the check; it never stops the others.
    """
    results: dict[str, str | None] = {}
    if isinstance(which, list) and which and isinstance(which[0], Check):
        chosen: list[Check] = which
    else:  # not a list of Check objects: names, a stage or None
        chosen = select(cast("str | Iterable[str] | None", which))
    for c in chosen:
        try:
            results[c.name] = c.run(ctx)
        except DanganError as exc:
            results[c.name] = str(exc)
        except Exception:
            results[c.name] = f"检查“{c.description}”未能完成。"
    return results


def by_category(results: dict[str, str | None]) -> dict[str, bool | str]:
    """{category: True | the failures' sentences joined} for every category that ran."""
    out: dict[str, bool | str] = {}
    for name, result in results.items():
        category = REGISTRY[name].category
        if result is None:
            out.setdefault(category, True)
        elif out.get(category) in (None, True):
            out[category] = result
        else:
            out[category] = f"{out[category]}{result}"
    return {c: out[c] for c in CATEGORIES if c in out}


# --- the ingest checks ----------------------------------------------------------------

_SHA256 = re.compile(r"[0-9a-f]{64}")


@check("sha256_recorded", AUTHENTICITY, "已记录原件的 SHA-256 摘要")
def _sha256_recorded(ctx: CheckContext) -> str | None:
    if not ctx.sha256:
        return "未记录原件的 SHA-256 摘要。"
    if not _SHA256.fullmatch(ctx.sha256.lower()):
        return "记录的 SHA-256 摘要格式无效（应为 64 位十六进制数）。"
    return None


@check("fixity", AUTHENTICITY, "原件与记录的 SHA-256 一致", stages=("transfer", "periodic"))
def _fixity(ctx: CheckContext) -> str | None:
    if ctx.extra.get("actual_sha256") and ctx.sha256:  # hashed already while it was decrypted
        same = ctx.extra["actual_sha256"] == ctx.sha256.lower()
        return None if same else "原件的 SHA-256 与记录的不符。"
    if not ctx.path or not ctx.sha256:
        return "缺少原件或其记录的摘要，无法核对固定性。"
    digest = hashlib.sha256()
    with open(ctx.path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return None if digest.hexdigest() == ctx.sha256.lower() else "原件的 SHA-256 与记录的不符。"


@check("format_matches", AUTHENTICITY, "记录的格式与文件内容一致")
def _format_matches(ctx: CheckContext) -> str | None:
    if not ctx.media_type or not ctx.path:
        return None  # nothing recorded to compare yet
    actual = ctx.sniffed()
    if actual is None:
        return None  # the usability checks report why the file is refused
    if actual != ctx.media_type:
        return f"记录的格式为 {ctx.media_type}，文件内容实际是 {actual}。"
    return None


@check("pages_complete", INTEGRITY, "每一页都在（页数一致）")
def _pages_complete(ctx: CheckContext) -> str | None:
    ex = ctx.extraction
    if ex is None:
        return "文件未能读取，无法核对页数。"
    if len(ex.pages) != ex.page_count:
        return f"文件共 {ex.page_count} 页，只读取到 {len(ex.pages)} 页。"
    if ex.declared_pages is not None and ex.declared_pages != ex.page_count:
        return f"文件声明 {ex.declared_pages} 页，实际只有 {ex.page_count} 页。"
    if ex.rendered_pages is not None and ex.rendered_pages != ex.page_count:
        return f"文件共 {ex.page_count} 页，能渲染的只有 {ex.rendered_pages} 页。"
    expected = ctx.extra.get("expected_pages")
    if expected is not None and int(expected) != ex.page_count:
        return f"应有 {expected} 页，收到的文件有 {ex.page_count} 页。"
    return None


@check("opens_and_renders", USABILITY, "文件能打开并渲染")
def _opens_and_renders(ctx: CheckContext) -> str | None:
    if ctx.extraction is not None:
        return None
    if ctx.error:
        return f"文件无法打开或渲染：{ctx.error}"
    if not ctx.path:
        return "没有可检查的文件。"
    return probe(ctx.path)


@check("archival_format", USABILITY, "格式属于可长期保存的归档格式")
def _archival_format(ctx: CheckContext) -> str | None:
    media = ctx.extraction.media_type if ctx.extraction is not None else (ctx.media_type or ctx.sniffed())
    if media is None:
        return ctx._cache.get("sniff_error") or "无法确定文件格式。"
    if media not in detect.ACCEPTED:
        return f"格式 {media} 不在可归档格式（PDF、TIFF、PNG、JPEG）之列。"
    if ctx.extraction is not None and ctx.extraction.encrypted:
        return "PDF 带有加密，不符合长期保存格式的要求（应为未加密的 PDF/A）。"
    return None


@check("no_active_content", SECURITY, "不含活动内容（脚本、启动动作、嵌入文件）")
def _no_active_content(ctx: CheckContext) -> str | None:
    if ctx.extraction is not None:
        kinds = list(ctx.extraction.active_content)
    elif ctx.path and ctx.sniffed() == detect.PDF:
        from dangan.ingest import pdf

        kinds = pdf.find_active_content(pdf.open_pdf(ctx.path))
    else:
        return None
    return f"PDF 含有活动内容（{'、'.join(kinds)}）。" if kinds else None


def probe(path: str | os.PathLike[str]) -> str | None:
    """Open the file and draw its first page small, without OCR: None, or why it fails.

    For periodic checks of stored originals, where re-running OCR would cost minutes.
    """
    try:
        media = detect.sniff(path)
        if media == detect.PDF:
            from dangan.ingest import pdf
            from dangan.ingest.render import PdfRenderer

            doc = pdf.open_pdf(path)
            with PdfRenderer(path) as renderer:
                if len(renderer) != doc.page_count:
                    return f"PDF 结构中有 {doc.page_count} 页，渲染器只能打开 {len(renderer)} 页。"
                for index in range(len(renderer)):
                    renderer.render(index, dpi=18)
        else:
            from dangan.ingest import images

            for _ in images.iter_pages(path, media):
                pass
    except DanganError as exc:
        return f"文件无法打开或渲染：{exc}"
    return None



# --- metadata and record checks (transfer and periodic) -----------------------------
#
# These look at `ctx.metadata` (the record's metadata, the `show` shape) and pass when it
# is empty, so a bare file can still run every check of a stage.

_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u2028\u2029\ufeff\ufffd]")
_TEXT_FIELDS = {"title": "题名", "responsible": "责任者", "custody": "存放位置", "original_name": "文件名"}
_LIMITS = {"title": 500, "responsible": 200, "custody": 200, "original_name": 500}
_STATUSES = ("active", "queued", "destroyed")


_MEMO: dict[tuple[int, str, str], Any] = {}


def _memo(scheme: Any, kind: str, value: str, fn: Callable[[], Any]) -> Any:
    """Parse results per scheme (a run over 100,000 records meets the same codes again and
    again); an exception is remembered and raised again."""
    key = (id(scheme), kind, value)
    if key not in _MEMO:
        if len(_MEMO) > 200_000:
            _MEMO.clear()
        try:
            _MEMO[key] = (True, fn())
        except DanganError as exc:
            _MEMO[key] = (False, exc)
    ok, out = _MEMO[key]
    if not ok:
        raise out
    return out


def parse_no(scheme: Any, no: str) -> dict[str, Any]:
    return _memo(scheme, "no", no, lambda: scheme.parse_archive_no(no))


def _day(value: Any) -> Any:
    if value is None or value == "":
        return None
    if type(value) is str:  # the `show` shape: ISO text, a date or a date and time
        return dt.date.fromisoformat(value[:10])
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


_ONE_DAY = dt.timedelta(days=1)


@check("size_matches", INTEGRITY, "记录的字节数与文件一致", stages=("transfer", "periodic"))
def _size_matches(ctx: CheckContext) -> str | None:
    recorded = ctx.metadata.get("size")
    if recorded is None or (ctx.path is None and "actual_size" not in ctx.extra):
        return None
    actual = ctx.extra.get("actual_size")
    if actual is None:
        actual = os.path.getsize(ctx.path) if ctx.path else None
    if actual is not None and int(actual) != int(recorded):
        return f"文件有 {actual} 字节，记录的是 {recorded} 字节。"
    return None


@check("file_name_recorded", AUTHENTICITY, "记录的文件名有效", stages=("transfer", "periodic"))
def _file_name_recorded(ctx: CheckContext) -> str | None:
    if not ctx.metadata or not ctx.metadata.get("sha256"):
        return None  # paper originals have no file name
    name = ctx.metadata.get("original_name") or ""
    if not name.strip():
        return "未记录原件的文件名。"
    if "/" in name or "\\" in name or name in (".", ".."):
        return f"记录的文件名 {name!r} 含有路径。"
    return None


@check("dates_plausible", AUTHENTICITY, "日期合理（文件日期、年度、入库时间、保管期限）",
       stages=("transfer", "periodic"))
def _dates_plausible(ctx: CheckContext) -> str | None:
    m = ctx.metadata
    if not m:
        return None
    try:
        date, until = _day(m.get("date")), _day((m.get("retention") or {}).get("until"))
        ingested = _day(m.get("ingested_at"))
    except ValueError:
        return "日期不是有效的 YYYY-MM-DD 格式。"
    tomorrow = dt.date.today() + _ONE_DAY
    year = m.get("year")
    if date is not None:
        if date > tomorrow:
            return f"文件日期 {date} 晚于今天。"
        if date.year < 1900:
            return f"文件日期 {date} 早于 1900 年，不合理。"
        if year is not None and int(year) != date.year:
            return f"年度 {year} 与文件日期 {date} 不一致。"
    if ingested is not None and ingested > tomorrow:
        return f"入库时间 {ingested} 晚于今天。"
    if until is not None and date is not None and until < date:
        return f"保管期限届满日 {until} 早于文件日期 {date}。"
    return None


@check("metadata_values", AUTHENTICITY, "元数据的类型、长度与取值范围正确", stages=("transfer", "periodic"))
def _metadata_values(ctx: CheckContext) -> str | None:
    m = ctx.metadata
    if not m:
        return None
    for key, label in _TEXT_FIELDS.items():
        value = m.get(key)
        if value is not None and not isinstance(value, str):
            return f"{label}应为文本。"
        if value and len(value) > _LIMITS[key]:
            return f"{label}长 {len(value)} 字，超过 {_LIMITS[key]} 字的上限。"
    if m.get("security") not in LEVELS:
        return f"密级 {m.get('security')!r} 不在取值范围（{'、'.join(LEVELS)}）内。"
    if m.get("status") is not None and m.get("status") not in _STATUSES:
        return f"状态 {m.get('status')!r} 不在取值范围内。"
    for key in ("year", "pages", "size"):
        if m.get(key) is not None and (not isinstance(m[key], int) or m[key] < 0):
            return f"{key} 应为非负整数，实际为 {m[key]!r}。"
    if ctx.scheme is not None:
        try:
            if m.get("category"):
                ctx.scheme.category(m["category"])
            if m.get("location"):
                codes_mod.parse_location(m["location"], ctx.scheme.codes)  # remembered by codes itself
            if m.get("maintenance_code"):
                _memo(ctx.scheme, "mc", m["maintenance_code"],
                      lambda: codes_mod.parse_maintenance_code(m["maintenance_code"], ctx.scheme.codes))
        except DanganError as exc:
            return f"元数据取值无效：{exc}"
    return None


@check("no_forbidden_characters", AUTHENTICITY, "元数据不含控制字符等禁用字符",
       stages=("transfer", "periodic"))
def _no_forbidden_characters(ctx: CheckContext) -> str | None:
    for key, label in _TEXT_FIELDS.items():
        value = ctx.metadata.get(key)
        if isinstance(value, str) and _FORBIDDEN.search(value):
            return f"{label}含有控制字符或无法显示的字符。"
    return None


@check("archive_no_rule", AUTHENTICITY, "档号符合编码规则，并与类别、位置、年度一致",
       stages=("transfer", "periodic"))
def _archive_no_rule(ctx: CheckContext) -> str | None:
    no = ctx.metadata.get("archive_no")
    if not no or ctx.scheme is None:
        return None
    try:
        fields = parse_no(ctx.scheme, no)
    except DanganError as exc:
        return f"档号不符合规则：{exc}"
    m = ctx.metadata
    if m.get("category") and "category" in fields:
        code = ctx.scheme.category(m["category"]).code
        if str(fields["category"]) != code:
            return f"档号 {no} 的类别代码 {fields['category']} 与类别 {code} 不一致。"
    if m.get("location") and fields.get("location") is not None and str(fields["location"]) != m["location"]:
        return f"档号 {no} 的位置 {fields['location']} 与位置编码 {m['location']} 不一致。"
    if m.get("year") and fields.get("year") is not None and int(fields["year"]) != int(m["year"]):
        return f"档号 {no} 的年度 {fields['year']} 与年度 {m['year']} 不一致。"
    return None


@check("required_metadata", INTEGRITY, "必填元数据齐全（题名、类别、位置、密级、档号）",
       stages=("transfer", "periodic"))
def _required_metadata(ctx: CheckContext) -> str | None:
    m = ctx.metadata
    if not m:
        return None
    missing = [label for key, label in (("title", "题名"), ("security", "密级")) if not m.get(key)]
    if m.get("status", "active") == "active":
        missing += [label for key, label in (("category", "类别"), ("location", "位置编码"),
                                             ("archive_no", "档号")) if not m.get(key)]
    if not m.get("sha256") and not m.get("custody"):
        missing.append("电子原件或纸质原件存放位置")
    return f"必填元数据缺失：{'、'.join(missing)}。" if missing else None


@check("metadata_readable", USABILITY, "元数据可读取", stages=("transfer", "periodic"))
def _metadata_readable(ctx: CheckContext) -> str | None:
    problem = ctx.extra.get("metadata_error")
    return f"元数据无法读取：{problem}" if problem else None


@check("objects_present", INTEGRITY, "原件与全文对象都在", stages=("periodic",))
def _objects_present(ctx: CheckContext) -> str | None:
    return ctx.extra.get("missing") or None


@check("decrypts", SECURITY, "能用本档案的密钥解密，每一段都通过认证", stages=("periodic",))
def _decrypts(ctx: CheckContext) -> str | None:
    problem = ctx.extra.get("decrypt_error")
    return problem or None


@check("audit_trail", SECURITY, "档案的审计记录完整（入库及每次修改都有记录）", stages=("periodic",))
def _audit_trail(ctx: CheckContext) -> str | None:
    events = ctx.extra.get("audit_events")
    if events is None or not ctx.metadata:
        return None
    if not ({"record.ingest", "handover.import"} & set(events)):
        return "审计日志中没有这件档案的入库记录。"
    edits = sum(1 for e in events if e in ("record.edit", "record.confirm"))
    version = int(ctx.metadata.get("version") or 1)
    if edits < version - 1:
        return f"档案已修改 {version - 1} 次，审计日志只记录了 {edits} 次。"
    return None


# --- batch checks: over a set of records (a transfer package, the whole archive) --------

BatchFn = Callable[["BatchContext"], "dict[str, str]"]


@dataclass
class BatchContext:
    """The records of one run: metadata dicts (`show` shape), and what was expected of them.

    `expected` may hold "items" and "bytes" (from a transfer list); `explained` the 档号
    whose absence is accounted for (destroyed records, numbers replaced by a re-numbering).
    `whole_archive` says whether `records` is every record, so gaps mean something.
    """

    records: list[dict[str, Any]]
    scheme: Any = None
    expected: dict[str, int] = field(default_factory=dict)
    explained: set[str] = field(default_factory=set)
    foreign: set[str] = field(default_factory=set)  # 档号 kept from another archive (handover)
    whole_archive: bool = False


@dataclass(frozen=True)
class BatchCheck:
    name: str
    category: str
    description: str
    run: BatchFn
    stages: frozenset[str]


BATCH_REGISTRY: dict[str, BatchCheck] = {}
BATCH = "*"  # the key of a finding about the batch as a whole, not one record


def batch_check(name: str, category: str, description: str,
                stages: Iterable[str] = ("transfer", "periodic")) -> Callable[[BatchFn], BatchFn]:
    """Register a check over a batch; it returns {档号 or BATCH: sentence} for what fails."""
    def register(fn: BatchFn) -> BatchFn:
        if name in BATCH_REGISTRY or name in REGISTRY:
            raise ValueError(f"check {name!r} is already registered")
        BATCH_REGISTRY[name] = BatchCheck(name, category, description, fn, frozenset(stages))
        return fn

    return register


def run_batch_checks(ctx: BatchContext, stage: str = "periodic") -> dict[str, dict[str, str]]:
    """{check name: {档号 or BATCH: sentence}}; an empty dict for a check means it passed."""
    out: dict[str, dict[str, str]] = {}
    for c in BATCH_REGISTRY.values():
        if stage not in c.stages:
            continue
        try:
            out[c.name] = c.run(ctx)
        except Exception:
            out[c.name] = {BATCH: f"检查“{c.description}”未能完成。"}
    return out


def catalogue() -> list[dict[str, Any]]:
    """Every check: id, Chinese name, 四性 category, stages — for reports and the API."""
    rows = [{"id": c.name, "name": c.description, "category": c.category,
             "category_name": CATEGORY_NAMES[c.category], "stages": sorted(c.stages), "scope": "record"}
            for c in select(None)]
    rows += [{"id": c.name, "name": c.description, "category": c.category,
              "category_name": CATEGORY_NAMES[c.category], "stages": sorted(c.stages), "scope": "batch"}
             for c in BATCH_REGISTRY.values()]
    return rows


def _number(m: dict[str, Any]) -> str | None:
    return m.get("archive_no") or m.get("provisional_no")


@batch_check("archive_no_unique", AUTHENTICITY, "档号唯一")
def _archive_no_unique(ctx: BatchContext) -> dict[str, str]:
    seen: dict[str, int] = {}
    for m in ctx.records:
        if m.get("archive_no"):
            seen[m["archive_no"]] = seen.get(m["archive_no"], 0) + 1
    return {no: f"档号 {no} 出现了 {n} 次。" for no, n in seen.items() if n > 1}


@batch_check("no_duplicate_files", INTEGRITY, "没有重复的文件（同一原件不重复归档）")
def _no_duplicate_files(ctx: BatchContext) -> dict[str, str]:
    first: dict[str, str] = {}
    out: dict[str, str] = {}
    for m in ctx.records:
        digest = m.get("sha256")
        if not digest:
            continue
        if digest in first:
            out[_number(m) or digest] = f"与 {first[digest]} 是同一个文件（SHA-256 相同）。"
        else:
            first[digest] = _number(m) or digest
    return out


@batch_check("duplicate_titles", INTEGRITY, "同一位置同一日期没有题名重复的档案")
def _duplicate_titles(ctx: BatchContext) -> dict[str, str]:
    first: dict[tuple, str] = {}
    out: dict[str, str] = {}
    for m in ctx.records:
        if not m.get("title") or not m.get("date"):
            continue
        key = (m["title"], m.get("location"), m["date"], m.get("category"))
        if key in first:
            out[_number(m) or "?"] = f"与 {first[key]} 题名、位置、日期都相同，可能重复归档。"
        else:
            first[key] = _number(m) or "?"
    return out


@batch_check("counts_match", INTEGRITY, "件数与字节数与移交清单一致")
def _counts_match(ctx: BatchContext) -> dict[str, str]:
    out: dict[str, str] = {}
    items, size = len(ctx.records), sum(int(m.get("size") or 0) for m in ctx.records)
    if "items" in ctx.expected and ctx.expected["items"] != items:
        out[BATCH] = f"清单写明 {ctx.expected['items']} 件，实际 {items} 件。"
    elif "bytes" in ctx.expected and ctx.expected["bytes"] != size:
        out[BATCH] = f"清单写明 {ctx.expected['bytes']} 字节，实际 {size} 字节。"
    return out


@batch_check("sequence_continuity", INTEGRITY, "件号按类别和年度连续（销毁或改号造成的空号除外）",
             stages=("periodic",))
def _sequence_continuity(ctx: BatchContext) -> dict[str, str]:
    if not ctx.whole_archive or ctx.scheme is None:
        return {}
    scopes: dict[str, dict[int, str]] = {}
    for no in [m["archive_no"] for m in ctx.records if m.get("archive_no")] + sorted(ctx.explained):
        try:
            fields = parse_no(ctx.scheme, no)
        except DanganError:
            continue  # archive_no_rule reports it
        seq = fields.get("seq")
        if seq is None:
            continue
        scope = "|".join(str(fields.get(k)) for k in ctx.scheme.sequence_scope)
        scopes.setdefault(scope, {})[int(seq)] = no
    out: dict[str, str] = {}
    for numbers in scopes.values():
        if ctx.foreign & set(numbers.values()):
            continue  # numbered by the sending archive: its gaps are the sender's
        have = sorted(numbers)
        missing = sorted(set(range(1, have[-1] + 1)) - set(have))
        if missing:
            last = numbers[have[-1]]
            shown = "、".join(str(n) for n in missing[:10]) + ("等" if len(missing) > 10 else "")
            out[last] = f"件号不连续：{last} 之前缺少第 {shown} 号，且没有销毁或改号记录说明。"
    return out


INGEST_CHECKS = tuple(c.name for c in select("ingest"))
