"""Ingest pipeline throughput, end to end into the archive.

Three measurements, each on a fresh archive in a temporary data directory:

text    born-digital PDFs (no OCR): documents per second from `dangan import` of a
        manifest to committed, encrypted, indexed records; also the pipeline alone
        (Python API, no process start-up) with its main-process CPU per document;
        interleaved and repeated, the best of each reported with all runs.
scan    scanned one-page PDFs: pages per minute through the whole pipeline next to bare
        OCR (`bench_ocr.bare_ocr_throughput`: preprocessing + engine on the same pages,
        pre-rendered, engines warmed before the clock starts), with one and two workers;
        runs interleaved and repeated, best of each compared.
resume  a 5,000-file import killed with SIGKILL part-way and run again: how many files
        the first run finished, that the second did only the rest, total time.

    .venv/bin/python bench/bench_ingest.py text --docs 300
    .venv/bin/python bench/bench_ingest.py scan --pages 24
    .venv/bin/python bench/bench_ingest.py resume --files 5000
    .venv/bin/python bench/bench_ingest.py all

Other work on the machine changes every figure: each result records the load average
seen before and after. Results are appended to bench/out/bench_ingest.json.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out"
DANGAN = str(Path(sys.executable).with_name("dangan"))


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


# --- data -----------------------------------------------------------------------------


def _render_text(args: tuple[str, str]) -> None:
    from dangan.demo import render

    path, text = args
    render.text_pdf(path, [text])


def _render_scan(args: tuple[str, str, str]) -> None:
    from dangan.demo import render

    pdf_path, png_path, text = args
    page = render.page_image(text)
    render.scanned_pdf(pdf_path, [page])
    # the page as the pipeline will see it: rendered back from the PDF at 300 dpi
    from dangan.ingest.render import PdfRenderer

    with PdfRenderer(pdf_path, 200_000_000) as renderer:
        renderer.render(0, dpi=300).save(png_path)


def text_pdfs(folder: Path, n: int, seed: int = 1) -> list[Path]:
    """`n` corpus documents as text PDFs (rendered in parallel, cached in `folder`)."""
    from dangan.demo.corpus import generate

    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"doc{i:05d}.pdf" for i in range(n)]
    if all(p.exists() for p in paths):
        return paths
    tasks = [(str(p), doc.text) for p, doc in zip(paths, generate(n, seed=seed), strict=True) if not p.exists()]
    with cf.ProcessPoolExecutor(os.cpu_count() or 1) as pool:
        list(pool.map(_render_text, tasks, chunksize=32))
    return paths


def scanned_pdfs(folder: Path, n: int, seed: int = 5) -> tuple[list[Path], list[Path]]:
    """`n` one-page 300 dpi scans of corpus documents, as PDFs and as the pages inside them."""
    from dangan.demo.corpus import generate

    folder.mkdir(parents=True, exist_ok=True)
    pdfs = [folder / f"scan{i:03d}.pdf" for i in range(n)]
    pngs = [folder / f"scan{i:03d}.png" for i in range(n)]
    tasks = [(str(p), str(q), doc.text) for p, q, doc in zip(pdfs, pngs, generate(n, seed=seed), strict=True)
             if not (p.exists() and q.exists())]
    if tasks:
        with cf.ProcessPoolExecutor(os.cpu_count() or 1) as pool:
            list(pool.map(_render_scan, tasks))
    return pdfs, pngs


def manifest(folder: Path, files: Sequence[Path], name: str = "manifest.csv") -> Path:
    path = folder / name
    path.write_text("path\n" + "".join(f"{f.relative_to(folder)}\n" for f in files), encoding="utf-8")
    return path


# --- archive --------------------------------------------------------------------------


def fresh_archive(home: Path) -> dict[str, str]:
    """An initialised archive with an archivist and the demo estates; the environment to use it."""
    shutil.rmtree(home, ignore_errors=True)
    env = {**os.environ, "DANGAN_HOME": str(home)}
    env.pop("DANGAN_DATABASE_URL", None)
    env.pop("DANGAN_KEK", None)

    def cli(*args: str) -> None:
        subprocess.run([DANGAN, "--home", str(home), *args], env=env, check=True, capture_output=True)

    cli("init", "--admin", "root", "--security", "sec", "--auditor", "aud")
    cli("--as", "sec", "user", "add", "wang", "--role", "archivist", "--clearance", "secret")
    from dangan.demo.corpus import DEFAULT_PROJECTS

    for code, name, kind in DEFAULT_PROJECTS:
        cli("--as", "root", "project", "add", code, "--name", name, "--type", kind)
    return env


def count_records(home: Path) -> int:
    import sqlite3

    try:
        with sqlite3.connect(f"file:{home / 'dangan.db'}?mode=ro", uri=True, timeout=30) as conn:
            return conn.execute("SELECT count(*) FROM records").fetchone()[0]
    except sqlite3.Error:
        return 0


def timed_analyse(path: str, explicit: dict):  # type: ignore[no-untyped-def]
    """The pipeline's analysis, with its start and end written to $DANGAN_BENCH_TIMELINE."""
    from dangan.ingest import analyse

    start = time.time()
    try:
        return analyse.analyse(path, explicit)
    finally:
        with open(os.environ["DANGAN_BENCH_TIMELINE"], "a", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()} {start:.3f} {time.time():.3f}\n")


def worker_busy(timeline: Path, workers: int) -> float:
    """Share of the analysis phase during which the workers were analysing (1.0: never idle)."""
    rows = [line.split() for line in timeline.read_text().splitlines() if line]
    starts, ends = [float(r[1]) for r in rows], [float(r[2]) for r in rows]
    busy = sum(e - b for b, e in zip(starts, ends, strict=True))
    return busy / (workers * (max(ends) - min(starts)))


def pipeline_run(home: Path, files: Sequence[Path], workers: int, analyse=None) -> dict:  # type: ignore[no-untyped-def]
    """The pipeline alone, in this process (no CLI start-up): wall time and main-process CPU."""
    os.environ["DANGAN_HOME"] = str(home)
    from dangan.ingest.pipeline import IngestPipeline
    from dangan.ingest.sources import Item
    from dangan.system import open_dangan

    system = open_dangan(home)
    try:
        pipeline = IngestPipeline(system, workers=workers, analyse=analyse)
        actor = system.actor("wang")
        cpu, wall = time.process_time(), time.perf_counter()
        batch = pipeline.add_batch(actor, [Item(f, f.name) for f in files], "import")
        summary = pipeline.run(actor, batch)
        wall = time.perf_counter() - wall
        cpu = time.process_time() - cpu
    finally:
        system.close()
    return {"files": len(files), "ingested": summary.ingested, "duplicate": summary.duplicate,
            "rejected": summary.rejected, "pages": summary.pages, "seconds": round(wall, 2),
            "pipeline_seconds": round(summary.seconds, 2), "index_sync_seconds": round(wall - summary.seconds, 2),
            "main_cpu_ms_per_file": round(cpu / len(files) * 1000, 1), "index_error": summary.index_error}


def _cpu() -> float:
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def child_main(argv: Sequence[str]) -> int:
    """One measured run in its own process, so that its CPU time — the main process, the
    pool's workers and their OCR engines — can be totalled (every process in the tree is
    reaped by its parent, the forkserver by this process at the end)."""
    kind, workers, listing = argv[0], int(argv[1]), Path(argv[2])
    paths = [Path(line) for line in listing.read_text(encoding="utf-8").splitlines() if line]
    before = _cpu()
    if kind == "pipeline":
        timeline = Path(argv[3]) / "timeline.txt"
        os.environ["DANGAN_BENCH_TIMELINE"] = str(timeline)  # before the forkserver starts
        from bench.bench_ingest import timed_analyse  # by its importable name, for the workers

        out = pipeline_run(Path(argv[3]), paths, workers, analyse=timed_analyse)
        out["worker_busy"] = round(worker_busy(timeline, workers), 3)
        import multiprocessing.forkserver as fs

        fs._forkserver._stop()  # reap the forkserver (and through it the pool's workers)
    else:
        from bench.bench_ocr import bare_ocr_throughput

        out = {"pages_per_min": bare_ocr_throughput(argv[3], paths, workers=workers)}
    out["cpu_seconds"] = round(_cpu() - before, 2)
    print(json.dumps(out))
    return 0


def measured(kind: str, workers: int, paths: Sequence[Path], extra: str, work: Path) -> dict:
    listing = work / f"list-{kind}-{workers}.txt"
    listing.write_text("".join(f"{p}\n" for p in paths), encoding="utf-8")
    env = {**os.environ}
    env.pop("DANGAN_DATABASE_URL", None)
    proc = subprocess.run([sys.executable, __file__, "_child", kind, str(workers), str(listing), extra],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"measured {kind} run failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- text -----------------------------------------------------------------------------


def bench_text(docs: int, workers: int, work: Path, rounds: int) -> dict:
    """`dangan import` of a manifest (the whole command) and the pipeline alone, interleaved
    `rounds` times; best and all runs reported."""
    data = work / "text"
    files = text_pdfs(data, docs)
    m = manifest(data, files)
    result: dict = {"what": "text PDFs end to end", "docs": docs, "workers": workers, "rounds": rounds,
                    "load_before": load(), "cli_runs": [], "api_runs": []}
    for r in range(rounds):
        order = ("cli", "api") if r % 2 == 0 else ("api", "cli")
        for kind in order:
            home = work / f"home-text-{kind}"
            env = fresh_archive(home)
            if kind == "cli":
                cmd = [DANGAN, "--home", str(home), "--as", "wang", "import", str(m), "--workers", str(workers)]
                start = time.perf_counter()
                proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
                seconds = time.perf_counter() - start
                if proc.returncode != 0:
                    raise SystemExit(f"import failed: {proc.stderr}")
                result["cli_command"] = " ".join(cmd[1:]).replace(str(work), "$WORK")
                result["cli_runs"].append({"seconds": round(seconds, 2), "docs_per_s": round(docs / seconds, 1),
                                           "summary": proc.stdout.strip().splitlines()[-1], "load": load()})
                print(f"    round {r + 1}: dangan import {seconds:6.1f} s  {docs / seconds:6.1f} docs/s, load {load()}")
            else:
                api = pipeline_run(home, files, workers)
                api["docs_per_s"] = round(docs / api["seconds"], 1)
                api["load"] = load()
                result["api_runs"].append(api)
                print(f"    round {r + 1}: pipeline {api['seconds']:6.1f} s  {api['docs_per_s']:6.1f} docs/s "
                      f"(index sync {api['index_sync_seconds']} s, main-process CPU "
                      f"{api['main_cpu_ms_per_file']} ms/doc), load {load()}")
    best_cli = min(result["cli_runs"], key=lambda x: x["seconds"])
    best_api = min(result["api_runs"], key=lambda x: x["seconds"])
    result["cli_docs_per_s"] = best_cli["docs_per_s"]
    result["api_docs_per_s"] = best_api["docs_per_s"]
    result["api_docs_per_s_before_index_sync"] = round(docs / best_api["pipeline_seconds"], 1)
    result["load_after"] = load()
    print(f"text PDFs: {docs} documents, {workers} workers, best of {rounds}")
    print(f"  dangan import (whole command):    {best_cli['seconds']:6.1f} s  {best_cli['docs_per_s']:6.1f} docs/s")
    print(f"  pipeline (API, incl. index sync): {best_api['seconds']:6.1f} s  {best_api['docs_per_s']:6.1f} docs/s"
          f"  (before index sync {result['api_docs_per_s_before_index_sync']} docs/s)")
    print(f"  load average before {result['load_before']}, after {result['load_after']}")
    return result


# --- scans ----------------------------------------------------------------------------


def bench_scan(pages: int, work: Path, engine: str, rounds: int) -> dict:
    """Bare OCR and the pipeline on the same pages, interleaved (bare, pipeline, then
    pipeline, bare …) `rounds` times per worker count; the best round of each is compared,
    as other work on the machine only ever makes a run slower. Each run is its own process
    so its whole CPU time (workers and OCR engines included) is counted too: CPU seconds
    per page do not depend on what else the machine is doing."""
    pdfs, pngs = scanned_pdfs(work / "scans", pages)
    result: dict = {"what": "scanned PDFs, pipeline vs bare OCR", "pages": pages, "engine": engine,
                    "rounds": rounds, "load_before": load(), "runs": []}
    os.environ["DANGAN_OCR_ENGINE"] = engine
    for workers in (1, 2):
        bare_rates: list[float] = []
        pipe_rates: list[float] = []
        runs = []
        bare_cpu: list[float] = []
        pipe_cpu: list[float] = []
        for r in range(rounds):
            order = ("bare", "pipeline") if r % 2 == 0 else ("pipeline", "bare")
            for kind in order:
                if kind == "bare":
                    run = measured("bare", workers, pngs, engine, work)
                    bare_rates.append(run["pages_per_min"])
                    bare_cpu.append(run["cpu_seconds"] / pages)
                    print(f"    {workers}w round {r + 1}: bare OCR {bare_rates[-1]:6.1f} pages/min, "
                          f"CPU {bare_cpu[-1]:.2f} s/page, load {load()}", flush=True)
                else:
                    home = work / f"home-scan-{workers}-{r}"
                    fresh_archive(home)
                    run = measured("pipeline", workers, pdfs, str(home), work)
                    runs.append(run)
                    pipe_rates.append(pages / run["seconds"] * 60)
                    pipe_cpu.append(run["cpu_seconds"] / pages)
                    print(f"    {workers}w round {r + 1}: pipeline {pipe_rates[-1]:6.1f} pages/min, "
                          f"CPU {pipe_cpu[-1]:.2f} s/page, workers busy {run['worker_busy']:.0%} of the run "
                          f"(index sync {run['index_sync_seconds']} s), load {load()}", flush=True)
        bare, pipe = max(bare_rates), max(pipe_rates)
        cpu_overhead = min(pipe_cpu) / min(bare_cpu) - 1
        row = {"workers": workers, "bare_pages_per_min": round(bare, 1), "pipeline_pages_per_min": round(pipe, 1),
               "bare_cpu_s_per_page": round(min(bare_cpu), 3), "pipeline_cpu_s_per_page": round(min(pipe_cpu), 3),
               "cpu_overhead": round(cpu_overhead, 3),
               "bare_all": [round(x, 1) for x in bare_rates], "pipeline_all": [round(x, 1) for x in pipe_rates],
               "overhead": round(bare / pipe - 1, 3), "load": load(), "pipeline_runs": runs}
        result["runs"].append(row)
        print(f"  {workers} worker(s), best of {rounds}: bare OCR {bare:6.1f} pages/min, pipeline {pipe:6.1f} "
              f"pages/min (wall-clock overhead {bare / pipe - 1:+.1%}); CPU per page bare {min(bare_cpu):.2f} s, "
              f"pipeline {min(pipe_cpu):.2f} s (CPU overhead {cpu_overhead:+.1%})", flush=True)
    one, two = result["runs"]
    result["pipeline_speedup_2_vs_1"] = round(two["pipeline_pages_per_min"] / one["pipeline_pages_per_min"], 2)
    result["bare_speedup_2_vs_1"] = round(two["bare_pages_per_min"] / one["bare_pages_per_min"], 2)
    result["load_after"] = load()
    print(f"  two workers vs one: pipeline {result['pipeline_speedup_2_vs_1']}×, "
          f"bare OCR {result['bare_speedup_2_vs_1']}×; load before {result['load_before']}, "
          f"after {result['load_after']}")
    return result


# --- resume ---------------------------------------------------------------------------


def bench_resume(files: int, kill_at: float, work: Path) -> dict:
    data = work / "many"
    paths = text_pdfs(data, files, seed=9)
    home = work / "home-resume"
    env = fresh_archive(home)
    m = manifest(data, paths)
    cmd = [DANGAN, "--home", str(home), "--as", "wang", "import", str(m)]
    result: dict = {"what": "import killed and resumed", "files": files, "load_before": load(),
                    "command": " ".join(cmd[1:]).replace(str(work), "$WORK")}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    target = int(files * kill_at)
    while proc.poll() is None and count_records(home) < target:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first_seconds = time.perf_counter() - start
    done_before = count_records(home)
    start2 = time.perf_counter()
    again = subprocess.run(cmd, env=env, capture_output=True, text=True)
    second_seconds = time.perf_counter() - start2
    if again.returncode != 0:
        raise SystemExit(f"resumed import failed: {again.stderr}")
    os.environ["DANGAN_HOME"] = str(home)
    from sqlalchemy import func, select

    from dangan.archive.models import AuditEntry, Record
    from dangan.ingest.models import IngestJob
    from dangan.system import open_dangan

    system = open_dangan(home)
    try:
        with system.db.read() as s:
            records = s.execute(select(func.count()).select_from(Record)).scalar_one()
            distinct = s.execute(select(func.count(func.distinct(Record.sha256)))).scalar_one()
            ingest_entries = s.execute(select(func.count()).where(AuditEntry.action == "record.ingest")).scalar_one()
            finish = s.execute(select(AuditEntry.detail).where(AuditEntry.action == "ingest.finish")
                               .order_by(AuditEntry.id.desc())).scalars().first()
            attempts = dict(s.execute(select(IngestJob.attempts, func.count()).group_by(IngestJob.attempts)).all())
            rows = s.execute(select(Record.id, Record.has_text)).all()
        keys = set(system.store.keys("records/"))
        expected = {f"records/{rid}/original" for rid, _ in rows} | {f"records/{rid}/text" for rid, t in rows if t}
    finally:
        system.close()
    this_run = json.loads(finish)["this_run"] if finish else None
    result.update({
        "killed_after_seconds": round(first_seconds, 1), "done_before_kill": done_before,
        "resumed_seconds": round(second_seconds, 1), "resumed_processed": this_run,
        "total_seconds": round(first_seconds + second_seconds, 1), "records": records,
        "distinct_sha256": distinct, "record_ingest_audit_entries": ingest_entries,
        "objects_match_records": keys == expected, "job_attempts": {str(k): v for k, v in attempts.items()},
        "summary": again.stdout.strip().splitlines()[-1], "load_after": load()})
    print(f"resume: {files} files; killed after {first_seconds:.1f} s with {done_before} records committed")
    print(f"  rerun processed {this_run} files in {second_seconds:.1f} s "
          f"(= {files} - {done_before}: {this_run == files - done_before}); total {first_seconds + second_seconds:.1f} s")
    print(f"  records {records}, distinct sha256 {distinct}, record.ingest audit entries {ingest_entries}, "
          f"objects match records: {keys == expected}; job attempts {result['job_attempts']}")
    print(f"  {result['summary']}")
    print(f"  load average before {result['load_before']}, after {result['load_after']}")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_child"]:
        return child_main(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("text", "scan", "resume", "all"))
    parser.add_argument("--docs", type=int, default=300)
    parser.add_argument("--pages", type=int, default=24)
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--kill-at", type=float, default=0.4, help="share of files committed before SIGKILL")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    from dangan.ingest.text import IngestSettings

    parser.add_argument("--engine", default=IngestSettings().ocr_engine, help="OCR engine (default: the default setting)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved repeats of the text and scan runs")
    parser.add_argument("--work", help="scratch folder (default: a temporary one, removed afterwards)")
    args = parser.parse_args(argv)
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"cores {os.cpu_count()}, load average {load()}")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    results = []
    try:
        if args.what in ("text", "all"):
            results.append(bench_text(args.docs, args.workers, work, args.rounds))
        if args.what in ("scan", "all"):
            results.append(bench_scan(args.pages, work, args.engine, args.rounds))
        if args.what in ("resume", "all"):
            results.append(bench_resume(args.files, args.kill_at, work))
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    OUT.mkdir(parents=True, exist_ok=True)
    log = OUT / "bench_ingest.json"
    history = json.loads(log.read_text()) if log.exists() else []
    history.append({"at": time.strftime("%Y-%m-%d %H:%M:%S"), "argv": sys.argv[1:], "cores": os.cpu_count(),
                    "results": results})
    log.write_text(json.dumps(history, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
