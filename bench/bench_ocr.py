"""OCR quality and speed on rendered Chinese property documents.

Builds an evaluation set from `dangan.demo.corpus` (clean 300 dpi scans, degraded scans,
phone photos), runs each engine through the same per-page path the ingest uses
(`dangan.ingest.text.ocr_page`: blank check, deskew, OCR, orientation retry) and
reports the character error rate (edit distance / reference length, whitespace removed)
and seconds per page per kind and engine; then bare OCR throughput in pages/minute with
one process and with two processes on two cores.

    .venv/bin/python bench/bench_ocr.py --pages 30
    .venv/bin/python bench/bench_ocr.py --pages 5 --engines tesseract --kinds clean --no-throughput

The pipeline benchmark imports `bare_ocr_throughput` for its "bare engine" figure.
Generated pages and results go under bench/out/ (git-ignored).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

OUT = ROOT / "bench" / "out"
EVAL_DIR = OUT / "ocr_eval"
KINDS = ("clean", "degraded", "phone")
ENGINES = ("tesseract", "rapidocr", "cascade")


# --- evaluation set -------------------------------------------------------------------


def build_eval_set(pages: int, seed: int = 7, out: Path = EVAL_DIR,
                   kinds: Sequence[str] = KINDS) -> dict[str, list[tuple[Path, str]]]:
    """Render `pages` documents per kind (cached on disk); returns kind → [(image, reference)].

    Degraded pages: a 0.5-3° tilt, noise, blur, JPEG quality 35-70; every fifth one is
    also fed in sideways or upside down. Phone photos: perspective, uneven light, a desk.
    Body text alternates 10.5 pt (五号) and 12 pt (小四), the usual sizes of such forms.
    """
    from dangan.demo import render
    from dangan.demo.corpus import generate

    docs = list(generate(pages, seed=seed))
    result: dict[str, list[tuple[Path, str]]] = {k: [] for k in kinds}
    for kind in kinds:
        (out / kind).mkdir(parents=True, exist_ok=True)
    for i, doc in enumerate(docs):
        font_pt = 10.5 if i % 2 else 12.0
        reference = "\n".join(render.wrapped_lines(doc.text, font_pt=font_pt))
        clean = None
        for kind in kinds:
            ext = "jpg" if kind == "phone" else "png"
            path = out / kind / f"{i:03d}.{ext}"
            ref_path = path.with_suffix(".txt")
            if not path.exists() or not ref_path.exists():
                if clean is None:
                    clean = render.page_image(doc.text, font_pt=font_pt)
                if kind == "clean":
                    img = clean
                elif kind == "degraded":
                    img = render.degrade(clean, seed=seed * 1000 + i)
                    if i % 5 == 4:
                        img = render.rotate_page(img, (90, 180, 270)[(i // 5) % 3])
                else:
                    img = render.phone_photo(clean, seed=seed * 1000 + i)
                if ext == "jpg":
                    img.convert("L").save(path, quality=85)
                else:
                    img.save(path)
                ref_path.write_text(reference, encoding="utf-8")
            result[kind].append((path, reference))
    return result


# --- metrics --------------------------------------------------------------------------


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insert, delete, substitute all cost 1)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        append = current.append
        for j, cb in enumerate(b, 1):
            append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def squash(text: str) -> str:
    """What CER compares: the text with all whitespace removed."""
    return "".join(text.split())


def is_traditional(reference: str) -> bool:
    """Is the document written in Traditional characters (not just a Traditional address)?"""
    from opencc import OpenCC

    t2s = OpenCC("t2s")
    han = [c for c in reference if "\u4e00" <= c <= "\u9fff"]
    return sum(t2s.convert(c) != c for c in han) > 0.15 * max(1, len(han))


@dataclass
class PageScore:
    kind: str
    engine: str
    name: str
    edits: int
    folded_edits: int  # Simplified/Traditional folded on both sides (what search sees)
    ref_chars: int
    seconds: float
    confidence: float
    low_confidence: bool
    rotation: int
    method: str
    lang: str
    traditional: bool


def _score_page(args: tuple[str, str, str, str]) -> PageScore:
    engine, kind, path, reference = args
    from dangan.ingest.text import IngestSettings, ocr_page

    settings = IngestSettings(ocr_engine=engine)
    img = Image.open(path)
    img.load()
    start = time.perf_counter()
    page = ocr_page(img, settings)
    seconds = time.perf_counter() - start
    from opencc import OpenCC

    t2s = OpenCC("t2s")
    ref, hyp = squash(reference), squash(page.text)
    return PageScore(kind, engine, Path(path).name, edit_distance(ref, hyp),
                     edit_distance(t2s.convert(ref), t2s.convert(hyp)), len(ref),
                     seconds, page.confidence, page.low_confidence, page.rotation, page.method,
                     page.lang, is_traditional(reference))


def _warm(engine: str) -> None:
    """Load the engine (RapidOCR's models) outside the timed region."""
    from dangan.ingest import ocr

    eng = ocr.get_engine(engine)
    if engine in ("rapidocr", "cascade"):
        rapid = eng if engine == "rapidocr" else eng.rapid  # type: ignore[attr-defined]
        _ = rapid.ocr  # type: ignore[attr-defined]


def evaluate(eval_set: dict[str, list[tuple[Path, str]]], engines: Sequence[str],
             jobs: int = 1) -> list[PageScore]:
    """Score every page with every engine; `jobs` > 1 runs pages in parallel processes."""
    tasks = [(e, k, str(p), ref) for e in engines for k, items in eval_set.items() for p, ref in items]
    if jobs <= 1:
        for e in engines:
            _warm(e)
        return [_score_page(t) for t in tasks]
    with cf.ProcessPoolExecutor(jobs) as pool:
        return list(pool.map(_score_page, tasks, chunksize=1))


def _row(kind: str, engine: str, group: list[PageScore]) -> dict[str, object]:
    chars = sum(s.ref_chars for s in group)
    page_cers = sorted(s.edits / max(1, s.ref_chars) for s in group)
    return {
        "kind": kind, "engine": engine, "pages": len(group),
        "cer": sum(s.edits for s in group) / max(1, chars),
        "folded_cer": sum(s.folded_edits for s in group) / max(1, chars),
        "median_page_cer": page_cers[len(page_cers) // 2],
        "worst_page_cer": page_cers[-1],
        "s_per_page": sum(s.seconds for s in group) / len(group),
        "flagged_low": sum(s.low_confidence for s in group),
        "rotated": sum(1 for s in group if s.rotation),
        "read_as_traditional": sum(1 for s in group if s.lang == "chi_tra"),
    }


def summarise(scores: list[PageScore]) -> list[dict[str, object]]:
    """One row per (kind, engine): all pages, then the Traditional documents alone."""
    rows = []
    keys = sorted({(s.kind, s.engine) for s in scores}, key=lambda k: (KINDS.index(k[0]), ENGINES.index(k[1])))
    for kind, engine in keys:
        group = [s for s in scores if s.kind == kind and s.engine == engine]
        rows.append(_row(kind, engine, group))
        simplified = [s for s in group if not s.traditional]
        if simplified and len(simplified) < len(group):
            rows.append(_row(kind + "/简", engine, simplified))
            rows.append(_row(kind + "/繁", engine, [s for s in group if s.traditional]))
    return rows


def print_table(rows: list[dict[str, object]]) -> None:
    print(f"{'kind':11} {'engine':10} {'pages':>5} {'CER':>7} {'S/T-fold':>8} {'median':>7} {'worst':>7} "
          f"{'s/page':>7} {'flagged':>7} {'rotated':>7} {'繁':>3}")
    for r in rows:
        print(f"{r['kind']:11} {r['engine']:10} {r['pages']:>5} {r['cer']:>7.2%} {r['folded_cer']:>8.2%} "
              f"{r['median_page_cer']:>7.2%} {r['worst_page_cer']:>7.2%} {r['s_per_page']:>7.2f} "
              f"{r['flagged_low']:>7} {r['rotated']:>7} {r['read_as_traditional']:>3}")


# --- throughput -----------------------------------------------------------------------


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (tesseract runs as a child)."""
    import resource

    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _ocr_one(args: tuple[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) to OCR one page image."""
    engine, path = args
    from dangan.ingest.text import IngestSettings, ocr_page

    img = Image.open(path)
    img.load()
    start, cpu = time.perf_counter(), _cpu_seconds()
    ocr_page(img, IngestSettings(ocr_engine=engine))
    return time.perf_counter() - start, _cpu_seconds() - cpu


def cpu_seconds_per_page(engine: str, paths: Sequence[str | os.PathLike[str]]) -> float:
    """CPU seconds per page of bare OCR in one process: a figure a busy machine does not skew.

    60 / this is what one idle core can do per minute; the wall-clock figures of
    `bare_ocr_throughput` are only comparable between runs on an equally loaded machine.
    """
    _warm(engine)
    results = [_ocr_one((engine, os.fspath(p))) for p in paths]
    return sum(c for _, c in results) / len(results)


def _init_worker(engine: str) -> None:
    _warm(engine)


def bare_ocr_throughput(engine: str, paths: Sequence[str | os.PathLike[str]], workers: int = 1) -> float:
    """Pages per minute of bare OCR (preprocess + engine, no PDF, storage or database).

    Each worker process loads the engine once before the clock starts; the figure is
    wall-clock pages over elapsed minutes, the yardstick for the whole ingest pipeline.
    """
    tasks = [(engine, os.fspath(p)) for p in paths]
    if workers <= 1:
        _warm(engine)
        start = time.perf_counter()
        for t in tasks:
            _ocr_one(t)
        return len(tasks) / (time.perf_counter() - start) * 60
    with cf.ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(engine,)) as pool:
        # start every worker (and load its engine) before timing
        list(pool.map(time.sleep, [0.5] * workers))
        start = time.perf_counter()
        list(pool.map(_ocr_one, tasks, chunksize=1))
        return len(tasks) / (time.perf_counter() - start) * 60


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=30, help="documents per kind")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--jobs", type=int, default=1, help="parallel processes for the CER run")
    parser.add_argument("--throughput-pages", type=int, default=12)
    parser.add_argument("--no-throughput", action="store_true")
    parser.add_argument("--throughput-only", action="store_true", help="skip the CER run")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    engines = [e for e in args.engines.split(",") if e]
    kinds = [k for k in args.kinds.split(",") if k]

    print("command:", " ".join([".venv/bin/python", "bench/bench_ocr.py", *(argv or sys.argv[1:])]))
    print(f"cpus: {os.cpu_count()}, load average at start: {os.getloadavg()[0]:.1f} "
          "(the machine is shared: seconds are wall-clock under that load)")
    t0 = time.perf_counter()
    OUT.mkdir(parents=True, exist_ok=True)
    report: dict[str, object] = {}
    if not args.throughput_only:
        eval_set = build_eval_set(args.pages, seed=args.seed, kinds=kinds)
        print(f"evaluation set: {args.pages} pages × {len(kinds)} kinds in {EVAL_DIR} "
              f"({time.perf_counter() - t0:.1f} s)")
        scores = evaluate(eval_set, engines, args.jobs)
        rows = summarise(scores)
        print()
        print("CER = edit distance / reference characters, whitespace removed; S/T-fold: both sides")
        print("converted to Simplified first (what search sees). 简/繁: Simplified / Traditional documents.")
        print_table(rows)
        print(f"load average after the CER run: {os.getloadavg()[0]:.1f}")
        report.update({"rows": rows, "pages": [s.__dict__ for s in scores]})
    if not args.no_throughput:
        clean = [p for p, _ in build_eval_set(args.throughput_pages, seed=args.seed, kinds=["clean"])["clean"]]
        print()
        print(f"bare OCR throughput on {len(clean)} clean pages (pages/minute, wall clock; "
              f"load average now {os.getloadavg()[0]:.1f}), and CPU seconds per page:")
        through: dict[str, dict[str, float]] = {}
        for engine in engines:
            cpu = cpu_seconds_per_page(engine, clean)
            one = bare_ocr_throughput(engine, clean, 1)
            two = bare_ocr_throughput(engine, clean, 2)
            through[engine] = {"1": one, "2": two, "cpu_s_per_page": cpu}
            print(f"  {engine:10} 1 process {one:6.1f}   2 processes {two:6.1f}   ×{two / one:.2f}   "
                  f"CPU {cpu:.2f} s/page (= {60 / cpu:.1f} pages/min per idle core)")
        report["throughput"] = through
    out = OUT / ("bench_ocr_throughput.json" if args.throughput_only else "bench_ocr.json")
    out.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
