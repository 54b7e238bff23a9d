"""Indexing through the real outbox path (the search issue's indexing target ≥ 5,000/s).

Records are created through `RecordsService.create` (encrypted original and text objects,
a 档号, an outbox row each) from synthetic Chinese property documents; then the timed part:
`SearchService.sync()` drains the outbox — reads the rows, loads the records, decrypts
each text object, masks personal numbers, analyses the text (in loader processes) and
writes the index — once per `--workers` value, into a fresh index each time, with the
outbox re-filled in between. Next to it the obvious alternative, measured in the same
run: feeding the same documents straight to the backend (no database, no decryption, no
masking, one process).

CPU is reported per record: this process with its threads, plus the loader processes
(read from /proc while they run: they are children of the forkserver, not of this
process, so `os.times()` would miss them).

Setup only: fsync is switched off while the records are created, so that making 100,000
records does not take an hour; nothing timed runs without it. `--reuse DIR` keeps the
archive in DIR and reuses it when it already holds `--records` records.

    .venv/bin/python bench/bench_outbox.py [--records 50000] [--workers 1,2] [--reuse DIR]
        [--backend embedded|elasticsearch] [--es-url URL]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class ProcessTreeCpu:
    """CPU seconds of this process plus every other process of this user whose command
    line names the multiprocessing forkserver or its workers, sampled while they run."""

    def __init__(self) -> None:
        self._seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    @staticmethod
    def _children() -> dict[int, float]:
        out = {}
        tick = os.sysconf("SC_CLK_TCK")
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) not in (os.getpid(), *_forkservers()):  # ppid
                    continue
                out[int(pid)] = (int(fields[11]) + int(fields[12])) / tick
            except (OSError, IndexError, ValueError):
                continue
        return out

    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            self._seen.update(self._children())

    def __enter__(self) -> ProcessTreeCpu:
        self._start = _self_cpu()
        self._before = self._children()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._seen.update(self._children())
        self.seconds = _self_cpu() - self._start + sum(
            cpu - self._before.get(pid, 0.0) for pid, cpu in self._seen.items())


def _forkservers() -> list[int]:
    from multiprocessing import forkserver

    pid = getattr(forkserver._forkserver, "_forkserver_pid", None)  # type: ignore[attr-defined]
    return [pid] if pid else []


def _self_cpu() -> float:
    t = os.times()
    return t.user + t.system


def make_archive(home: Path, records: int) -> list:  # type: ignore[type-arg]
    """An archive of `records` synthetic records (reused when `home` already holds them)."""
    from sqlalchemy import func, select

    from dangan.archive.models import Record
    from dangan.archive.records import RecordInput
    from dangan.demo.corpus import DEFAULT_PROJECTS, generate
    from dangan.system import init_archive, open_dangan

    os.environ["DANGAN_HOME"] = str(home)
    os.environ.pop("DANGAN_DATABASE_URL", None)
    docs = list(generate(records, seed=7))
    if (home / "dangan.toml").exists():
        system = open_dangan(home)
        with system.db.read() as s:
            if s.execute(select(func.count()).select_from(Record)).scalar_one() == records:
                print(f"setup: reusing the {records} records in {home}")
                return [system, docs]
        system.close()
        shutil.rmtree(home)
    system, _ = init_archive(home, "root", "sec", "aud")
    system.users.add(system.actor("sec"), "wang", ["archivist"], "secret")
    for code, name, kind in DEFAULT_PROJECTS:
        system.projects.add(system.actor("root"), code, name, kind)
    wang = system.actor("wang")
    real_fsync = os.fsync
    os.fsync = lambda fd: None  # setup only (see the docstring)
    start = time.perf_counter()
    try:
        for n, doc in enumerate(docs):
            data = RecordInput(original_name=f"{n}.txt", media_type="text/plain", title=doc.title,
                               category=doc.category, location=doc.location or "A",
                               doc_date=doc.date, security=doc.security,
                               text_pages=[{"page": 1, "text": doc.text, "confidence": 1.0}])
            system.records.create(wang, io.BytesIO(f"{n}:{doc.text}".encode()), data)
    finally:
        os.fsync = real_fsync
    print(f"setup: {records} records created in {time.perf_counter() - start:.0f} s (fsync off)")
    return [system, docs]


def requeue(system) -> None:  # type: ignore[no-untyped-def]
    """One pending upsert per record, as after a mass ingest."""
    from sqlalchemy import delete, insert, literal, select

    from dangan.archive.models import Outbox, Record

    with system.db.session() as s:
        s.execute(delete(Outbox))
        s.execute(insert(Outbox).from_select(["record_id", "op", "created_at"],
                                             select(Record.id, literal("upsert"), Record.ingested_at)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--workers", default="1,2", help="loader process counts to measure, e.g. 1,2")
    parser.add_argument("--reuse", type=Path, help="keep the archive here; reuse it if it holds --records")
    parser.add_argument("--backend", default="embedded", choices=["embedded", "elasticsearch"])
    parser.add_argument("--es-url", default=os.environ.get("DANGAN_TEST_ES_URL", ""))
    args = parser.parse_args()
    print("command:", " ".join([Path(sys.executable).name, *sys.argv]))
    print(f"cores: {os.cpu_count()}; load average at start: {os.getloadavg()[0]:.2f}")

    from dangan.search.backend import IndexDoc, open_backend
    from dangan.search.service import SearchService

    with tempfile.TemporaryDirectory() as tmp:
        home = args.reuse or Path(tmp) / "data"
        system, docs = make_archive(home, args.records)

        def fresh_backend(name: str):  # type: ignore[no-untyped-def]
            if args.backend == "embedded":
                return open_backend("embedded", path=Path(tempfile.mkdtemp(dir=tmp)) / name)
            backend = open_backend("elasticsearch", url=args.es_url, index=f"bench-{name}")
            backend.clear()
            return backend

        for workers in [int(w) for w in args.workers.split(",")]:
            requeue(system)
            backend = fresh_backend("outbox")
            svc = SearchService(system, backend)
            with ProcessTreeCpu() as cpu:
                start = time.perf_counter()
                applied = svc.sync(workers=workers)
                took = time.perf_counter() - start
            assert applied == args.records and svc.consistency() == {"missing": [], "extra": [], "pending": 0}
            how = f"{workers} loader processes" if workers > 1 else "loading in this process"
            print(f"outbox drain ({args.backend}, {how}): "
                  f"{applied} records in {took:.1f} s = {applied / took:,.0f} records/s (target ≥ 5,000/s); "
                  f"CPU {cpu.seconds:.1f} s = {cpu.seconds / applied * 1e3:.2f} ms per record")
            if args.backend == "elasticsearch":
                backend.drop()
            backend.close()

        direct = [IndexDoc(record_id=f"d{n}", archive_no=None, aliases=(), title=d.title, category=d.category,
                           location=d.location, year=d.date.year, date=d.date, security=1, status="active",
                           text=d.text) for n, d in enumerate(docs)]
        other = fresh_backend("direct")
        with ProcessTreeCpu() as cpu:
            start = time.perf_counter()
            with other.bulk():
                for i in range(0, len(direct), 500):
                    other.index(direct[i:i + 500])
            direct_s = time.perf_counter() - start
        print(f"same documents straight into the backend (one process): {len(direct) / direct_s:,.0f} records/s, "
              f"CPU {cpu.seconds / len(direct) * 1e3:.2f} ms per record; the last drain ran at "
              f"{direct_s / took:.2f}× that rate (it adds the database reads, the decryption of each text "
              f"object and PII masking)")
        print(f"load average at end: {os.getloadavg()[0]:.2f}")
        if args.backend == "elasticsearch":
            other.drop()
        system.close()


if __name__ == "__main__":
    main()
