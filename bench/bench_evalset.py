"""Issue #8 evaluation set: title, category, location per level and date accuracy,
Simplified and Traditional apart, and invented dates — for the current extractor and,
in the same run, for the extractor before issue #8 (from git, if the commit is there).

    .venv/bin/python bench/bench_evalset.py [--per-cell 6] [--seed 8] [--baseline 0474ef3] [--ocr 0]

--ocr N also renders N field-form documents to 300 dpi page images and reads them back
with the configured OCR engine (slow on a shared 2-core machine: ~2–6 s a page).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dangan.ingest import evalset  # noqa: E402

FIELDS = ("title", "category", "date", "location", "location:estate", "location:building",
          "location:unit", "location:room")


def table(name: str, report: dict) -> None:
    print(f"\n{name}: {report['documents']} documents, invented dates {report['invented_dates']}, "
          f"wrong dates {report['wrong_dates']}")
    print(f"  {'field':<20}{'simplified':>14}{'traditional':>14}")
    for f in FIELDS:
        cells = []
        for script in ("simplified", "traditional"):
            v = report.get(script, {}).get(f)
            cells.append(f"{100 * v['accuracy']:6.1f}% ({v['right']}/{v['of']})" if v else "—")
        print(f"  {f:<20}{cells[0]:>14}  {cells[1]:>14}")


def baseline(commit: str):  # type: ignore[no-untyped-def]
    """The extractor as it was at `commit` (None when git or the commit is missing)."""
    try:
        source = subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:dangan/ingest/extract.py"],
                                capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.mkdtemp()) / "extract_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("extract_before", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["extract_before"] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-cell", type=int, default=6)
    ap.add_argument("--seed", type=int, default=8)
    ap.add_argument("--baseline", default="0474ef3")
    ap.add_argument("--ocr", type=int, default=0)
    args = ap.parse_args()
    print("$ .venv/bin/python bench/bench_evalset.py " + shlex.join(sys.argv[1:]))
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    docs = list(evalset.generate(args.per_cell, args.seed))
    t0 = time.perf_counter()
    now = evalset.evaluate(docs)
    took = time.perf_counter() - t0
    table("current extractor", now)
    print(f"  ({1000 * took / len(docs):.2f} ms a document)")
    for m in now["misses"][:10]:
        print("  miss:", m)
    before = baseline(args.baseline)
    if before is not None:
        import dangan.ingest.extract as ex

        current = ex.extract_metadata
        ex.extract_metadata = before.extract_metadata
        try:
            table(f"extractor at {args.baseline} (before issue #8)", evalset.evaluate(docs))
        finally:
            ex.extract_metadata = current
        print("  (before #8 the pipeline also numbered undated records with the year of ingest)")
    if args.ocr:
        from dangan.demo import render
        from dangan.ingest.text import ocr_page

        os.environ.setdefault("OMP_THREAD_LIMIT", "1")
        picked = [d for d in docs if d.form == "field"][:: max(1, len(docs) // (2 * args.ocr))][: args.ocr]
        read, t0 = [], time.perf_counter()
        for d in picked:
            page = ocr_page(render.page_image(d.text, dpi=300), dpi=300)
            read.append(evalset.EvalDoc(d.category, d.title, d.location, d.level, d.form, d.date, d.script,
                                        page.text))
        took = time.perf_counter() - t0
        table(f"OCR subset ({took / len(picked):.1f} s a page, load {os.getloadavg()[0]:.2f})",
              evalset.evaluate(read))


if __name__ == "__main__":
    main()
