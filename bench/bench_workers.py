"""Ingest throughput with 1, 2 and 4 `dangan worker` processes sharing the queue, on
PostgreSQL + MinIO + Elasticsearch and on the embedded defaults, in the same run.

    .venv/bin/python bench/bench_workers.py [--files 10000] [--workers 1,2,4] [--backends scale,embedded]

Renders --files born-digital PDFs once (text layer: pypdf, no OCR), then for each backend
and worker count: a fresh archive, one batch queued (`worker submit`), N worker processes
(one analysis process each) started together, timed until the queue is empty and the
outbox drained. Prints records/s and the speed-up over one worker, with the load average:
on a 2-core machine more than two workers can only share the same two cores.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from dangan.demo import render  # noqa: E402
from dangan.demo.corpus import generate  # noqa: E402

DANGAN = str(Path(sys.executable).with_name("dangan"))


def sh(*args: str) -> str:
    return subprocess.run(list(args), check=True, capture_output=True, text=True, timeout=1800).stdout.strip()


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def scale_env() -> dict[str, str]:
    pg = sh(str(ROOT / "scripts/postgres.sh"), "start").splitlines()[-1]
    es = sh(str(ROOT / "scripts/elasticsearch.sh"), "start").splitlines()[-1]
    sh(str(ROOT / "scripts/minio.sh"), "start")
    env = dict(line.removeprefix("export ").split("=", 1) for line in sh(str(ROOT / "scripts/minio.sh"), "env").splitlines())
    name = "bench_" + uuid.uuid4().hex[:8]
    admin = sa.create_engine(pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return {**env, "DANGAN_DATABASE_URL": pg.rsplit("/", 1)[0] + "/" + name,
            "DANGAN_STORAGE_URL": f"s3://{name.replace('_', '-')}", "DANGAN_SEARCH_BACKEND": "elasticsearch",
            "DANGAN_ES_URL": es, "DANGAN_ES_INDEX": name}


def run(files: Path, n_workers: int, backend: str, tmp: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DANGAN_")}
    env.update(PYTHONPATH=str(ROOT), OMP_THREAD_LIMIT="1", DANGAN_HOME=str(tmp / f"{backend}-{n_workers}"))
    if backend == "scale":
        env.update(scale_env())

    def dangan(*args: str, user: str | None = None) -> str:
        return subprocess.run([DANGAN, *(["--as", user] if user else []), *args], env=env, check=True,
                              capture_output=True, text=True, timeout=3600).stdout

    dangan("init", "--admin", "root", "--security", "sec", "--auditor", "aud")
    dangan("user", "add", "wang", "--role", "archivist", "--clearance", "secret", user="sec")
    dangan("project", "add", "A", "--name", "翠湖花园", "--type", "residential", user="root")
    dangan("worker", "submit", str(files), "--category", "maintenance", "--location", "A-01", user="wang")
    n = len(list(files.iterdir()))
    started = time.perf_counter()
    procs = [subprocess.Popen([DANGAN, "worker", "--processes", "1", "--poll", "0.5"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
             for _ in range(n_workers)]
    import json

    try:
        while True:
            status = json.loads(dangan("worker", "status", "--json"))
            if not status["open_batches"] and status["outbox"] == 0:
                break
            time.sleep(1.0)
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            p.wait(timeout=120)
    seconds = time.perf_counter() - started
    return n / seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--backends", default="scale,embedded")
    args = ap.parse_args()
    print("$", shlex.join([sys.executable.rsplit("/", 1)[-1], *sys.argv]))
    print(f"cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as t:
        tmp = Path(t)
        files = tmp / "pdfs"
        files.mkdir()
        t0 = time.perf_counter()
        for i, doc in enumerate(generate(args.files, seed=11)):
            render.text_pdf(files / f"{i:05d}.pdf", [doc.text + f"\n流水号 {i}"])
        print(f"rendered {args.files} PDFs in {time.perf_counter() - t0:.0f} s (load {load()})")
        for backend in args.backends.split(","):
            base = None
            for k in (int(x) for x in args.workers.split(",")):
                rate = run(files, k, backend, tmp)
                base = base or rate
                print(f"{backend:9s} {k} worker(s): {rate:6.1f} records/s  speed-up {rate / base:.2f}×  (load {load()})",
                      flush=True)


if __name__ == "__main__":
    main()
