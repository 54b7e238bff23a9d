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

import hashlib
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def run_checks(ctx: CheckContext, which: str | Iterable[str] | None = "ingest") -> dict[str, str | None]:
    """Run the selected checks: {name: None (passed) | sentence (failed)}, in category order.

    A check that crashes fails with a sentence naming the check; it never stops the others.
    """
    results: dict[str, str | None] = {}
    for c in select(which):
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


INGEST_CHECKS = tuple(c.name for c in select("ingest"))
