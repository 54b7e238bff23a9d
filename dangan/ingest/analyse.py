"""What a worker process does with one file: type, checks, text (pypdf / OCR), coding,
classification and personal data — everything except custody, which stays in the main
process with the database.

`analyse` is a plain module-level function over picklable values so it runs in a
`ProcessPoolExecutor`; `init_worker` loads the heavy parts (OCR engine, classifier)
once per process.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dangan.archive.codes import ProjectRef
from dangan.archive.pii import blind_token, mask_text
from dangan.archive.scheme import Scheme, load_scheme
from dangan.errors import InvalidInput
from dangan.ingest import text as text_mod
from dangan.ingest.classify import Classifier
from dangan.ingest.extract import extract_metadata, script_of
from dangan.ingest.procinfo import process_alive

if TYPE_CHECKING:  # the records service (and the database layer) stays out of workers
    from dangan.archive.records import RecordInput
    from dangan.system import Dangan


@dataclass(frozen=True)
class WorkerContext:
    """Everything a worker needs, built once per batch in the main process."""

    scheme_path: str | None
    projects: tuple[ProjectRef, ...]
    classifier_json: str | None
    blind_key: bytes
    blind_generation: int  # of blind_key: a switch meanwhile makes the records service redo the tokens
    settings: text_mod.IngestSettings
    threshold: float

    @classmethod
    def build(cls, system: Dangan) -> WorkerContext:
        from dangan.ingest.learning import current_classifier

        scheme_path = system.settings.scheme_path
        blind = system.purpose_key("blind-index")
        return cls(
            scheme_path=str(scheme_path) if scheme_path.exists() else None,
            projects=tuple(system.projects.refs()),
            classifier_json=current_classifier(system).to_json(),
            blind_generation=blind[0],
            blind_key=blind[1],
            settings=text_mod.IngestSettings.coerce(system.settings),
            threshold=system.settings.classify_threshold,
        )


@dataclass
class Analysis:
    media_type: str
    pages: int
    text_pages: list[dict]
    inferred: dict
    suggestion: dict
    pii_tokens: list[tuple[str, str]]
    pii_generation: int | None = None
    warnings: list[str] = field(default_factory=list)
    low_confidence_pages: list[int] = field(default_factory=list)


class _State:
    context: WorkerContext | None = None
    scheme: Scheme | None = None
    classifier: Classifier | None = None


def _watch_parent(pid: int, start: str, interval: float = 0.5) -> None:
    """Leave when the process that owns the pool is gone. A pool worker holds both ends of
    its task queue, so it never sees end-of-file when its owner is killed with SIGKILL: it
    (and the forkserver it keeps alive) would wait for tasks for ever."""

    def loop() -> None:
        while process_alive(pid, start):
            time.sleep(interval)
        os._exit(0)

    threading.Thread(target=loop, name="dangan-owner-watch", daemon=True).start()


def _one_thread() -> None:
    """A pool has one worker per core, so each must stay on one core: OpenCV otherwise
    runs its own thread per core inside every worker (deskew, scaling), and two workers
    on two cores then fight over them — measured 2.4× slower per page than one worker."""
    try:
        import cv2
    except ImportError:  # pragma: no cover - cv2 is a dependency of the OCR stages
        return
    cv2.setNumThreads(1)


def init_worker(context: WorkerContext, owner: tuple[int, str] | None = None) -> None:
    """Per-process setup: one OCR thread per process (tesseract is 5–6× slower otherwise),
    the heavy parts loaded once, and (in a pool) an exit when the pool's owner dies."""
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    if owner is not None:
        _watch_parent(*owner)
        _one_thread()
    _State.context = context
    _State.scheme = load_scheme(context.scheme_path)
    _State.classifier = (Classifier.from_json(context.classifier_json, _State.scheme.categories)
                         if context.classifier_json else Classifier.from_scheme(_State.scheme))
    _State.classifier.threshold = context.threshold


def analyse(path: str, explicit: dict) -> Analysis:
    """Read one file; raise InvalidInput with the reason if it must be refused."""
    ctx, classifier = _State.context, _State.classifier
    if ctx is None or classifier is None:
        raise RuntimeError("init_worker was not called in this process")
    extraction = text_mod.extract(path, ctx.settings)
    full_text = extraction.text
    title_hint = explicit.get("title")
    inferred = extract_metadata(full_text, title_hint, ctx.projects)
    suggestion = classifier.predict(full_text, inferred.title or title_hint)
    _, found = mask_text(full_text)
    tokens: list[tuple[str, str]] = sorted({(m.kind, blind_token(ctx.blind_key, m.kind, m.value)) for m in found})
    pages = [{"page": p.number, "text": p.text, "confidence": round(p.confidence, 4), "method": p.method,
              "rotation": p.rotation, "skew": round(p.skew, 2), "low_confidence": p.low_confidence,
              "script": script_of(p.text)}
             for p in extraction.pages]
    inferred_dict = asdict(inferred)
    if isinstance(inferred_dict.get("date"), dt.date):
        inferred_dict["date"] = inferred_dict["date"].isoformat()
    return Analysis(
        media_type=extraction.media_type, pages=extraction.page_count, text_pages=pages,
        inferred=inferred_dict,
        suggestion={"category": suggestion.category, "confidence": round(suggestion.confidence, 4),
                    "alternatives": [(c, round(p, 4)) for c, p in suggestion.alternatives[:3]],
                    "source": suggestion.source},
        pii_tokens=tokens, pii_generation=ctx.blind_generation, warnings=list(extraction.warnings),
        low_confidence_pages=[p.number for p in extraction.pages if p.low_confidence])


def resolve(explicit: dict, found: Analysis, name: str, scheme: Scheme,
            threshold: float) -> tuple[RecordInput, list[dict]]:
    """What the user passed wins over what was inferred; disagreements are reported."""
    from dangan.archive.records import RecordInput

    conflicts: list[dict] = []
    inferred = found.inferred
    sug = found.suggestion

    # Any: the values come from the explicit and inferred dicts (text, dates, codes)
    def pick(field_name: str, given: Any, guess: Any,
             same: Callable[[Any, Any], bool] = lambda a, b: a == b) -> Any:
        if given not in (None, ""):
            if guess not in (None, "") and not same(given, guess):
                conflicts.append({"field": field_name, "given": given, "inferred": guess})
            return given
        return guess

    guessed_category = sug.get("category") if (sug.get("confidence") or 0) >= threshold else None
    given_category = scheme.category(explicit["category"]).key if explicit.get("category") else None
    category = pick("category", given_category, guessed_category)
    location = pick("location", explicit.get("location"), inferred.get("location"),
                    same=lambda a, b: a == b or str(b).startswith(str(a) + "-") or str(a).startswith(str(b) + "-"))
    date_given = explicit.get("date")
    date_value = pick("date", date_given, inferred.get("date"))
    title = explicit.get("title") or inferred.get("title") or Path(name).stem or "未命名文件"
    # a person decides: two places named as the subject, or no date of the document's own
    # (a 档号 never gets a year that was made up: the record waits with a provisional number)
    reasons = [r for r in inferred.get("review") or []
               if not (r == "no document date" and date_given)
               and not (r == "two places named" and explicit.get("location"))]
    if category is None:
        reasons.append("category uncertain")
    if location is None:
        reasons.append("no location")
    queue = bool(reasons)
    suggestion = {"category": sug.get("category"), "confidence": sug.get("confidence"),
                  "alternatives": sug.get("alternatives"), "location": inferred.get("location"),
                  "location_candidates": inferred.get("location_candidates"),
                  "date": inferred.get("date"), "date_rule": "given" if date_given else inferred.get("date_rule"),
                  "script": inferred.get("script"), "reasons": reasons,
                  "maintenance_code": inferred.get("maintenance_code")}
    try:
        doc_date = dt.date.fromisoformat(date_value) if isinstance(date_value, str) else date_value
    except ValueError:
        raise InvalidInput(f"日期 {date_value!r} 无效：应为 YYYY-MM-DD。") from None
    data = RecordInput(
        original_name=name, media_type=found.media_type, title=str(title)[:500], category=category,
        location=location, doc_date=doc_date, security=explicit.get("security"),
        maintenance_code=inferred.get("maintenance_code"), pages=found.pages,
        text_pages=found.text_pages, pii_tokens=found.pii_tokens, pii_generation=found.pii_generation,
        classify_confidence=sug.get("confidence"), suggestion=suggestion, queue=queue)
    return data, conflicts
