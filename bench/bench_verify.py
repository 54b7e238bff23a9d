"""`dangan verify --all` against the machine's raw decrypt-and-hash rate, and incremental runs.

    .venv/bin/python bench/bench_verify.py [--records 3000] [--kib 64] [--db sqlite|URL]

Builds a throw-away archive of --records PNG scans (RGB noise of about --kib KiB, so the
bytes do not compress; each with its own tEXt chunk, so every one is distinct and still
opens), then measures in the same run:

- raw: for every record, unwrap its data key, decrypt every segment and SHA-256 the
  plaintext — the least work any fixity check must do (no database, no checks, no report);
- verify full (first): the service behind `dangan verify --all` on records never checked:
  also opens and renders every original once;
- verify full (again): the same run later — originals whose bytes are unchanged keep
  their content-check outcome, so it reads and hashes everything but renders nothing
  (the periodic full run); target >= 70% of raw. The check library's parse memo is
  emptied before each round, as in a new `dangan verify --all` process;
- verify incremental with nothing changed, and after editing 1% of the records.

Each figure is the best of --repeat runs; the load average is printed beside it. Each
round also gives the ratio of CPU time (this process only), which other work on a shared
machine disturbs less than the wall clock.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select

from dangan.archive import codes
from dangan.archive.models import Record
from dangan.archive.records import RecordInput
from dangan.ingest import checks


def load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def build(home: Path, db: str | None, count: int, kib: int):  # type: ignore[no-untyped-def]
    import struct
    import zlib

    from PIL import Image

    from dangan.system import init_archive

    if db and db != "sqlite":
        os.environ["DANGAN_DATABASE_URL"] = db
    system, _ = init_archive(home, "root", "sec", "aud")
    system.users.add(system.actor("sec"), "wang", ["archivist"], "secret")
    system.projects.add(system.actor("root"), "A", "翠湖花园", "residential")
    side = max(16, int((kib * 1024 / 3) ** 0.5))  # an RGB noise image: incompressible, ~kib KiB
    buf = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(buf, "PNG")
    template = buf.getvalue()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    wang = system.actor("wang")
    t = time.perf_counter()
    for i in range(count):
        body = template[:-12] + chunk(b"tEXt", f"Comment\0bench {i}".encode()) + template[-12:]
        data = RecordInput(original_name=f"{i}.png", media_type="image/png", title=f"设备铭牌照片 {i}",
                           category="equipment", location=f"A-{1 + i % 20:02d}", pages=1)
        system.records.create(wang, io.BytesIO(body), data)
    return system, time.perf_counter() - t


def raw_pass(system) -> tuple[float, float, int]:  # type: ignore[no-untyped-def]
    """(wall seconds, CPU seconds, bytes) of the raw pass, not counting loading the rows."""
    with system.db.read() as s:
        records = list(s.execute(select(Record)).scalars())
        for r in records:
            s.expunge(r)
    t, c = time.perf_counter(), time.process_time()
    total = 0
    for rec in records:
        digest = hashlib.sha256()
        for chunk in system.records.iter_original(rec):
            digest.update(chunk)
            total += len(chunk)
        assert digest.hexdigest() == rec.sha256
    return time.perf_counter() - t, time.process_time() - c, total


def timed(fn):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def cpu_timed(fn):  # type: ignore[no-untyped-def]
    """(wall seconds, CPU seconds of this process, result)."""
    c = time.process_time()
    wall, out = timed(fn)
    return wall, time.process_time() - c, out


def fresh_full(system, auditor):  # type: ignore[no-untyped-def]
    """`verify --all` as a new process runs it: nothing parsed by an earlier run is remembered
    (the check library's memo and the location codes' own)."""
    checks._MEMO.clear()
    codes._LOCATIONS.clear()
    return system.verify.run(auditor, mode="full")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=3000)
    ap.add_argument("--kib", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--db", default="sqlite", help="sqlite (default) or a PostgreSQL URL (an empty database)")
    args = ap.parse_args()
    print("$", shlex.join([".venv/bin/python", "bench/bench_verify.py", *sys.argv[1:]]))
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
        home = Path(tmp) / "home"
        os.environ["DANGAN_HOME"] = str(home)
        system, secs = build(home, args.db, args.records, args.kib)
        n = args.records
        print(f"built {n} records of ~{args.kib} KiB in {secs:.1f} s ({n / secs:.0f}/s)  [{load()}]")
        auditor = system.actor("aud")

        first, report = timed(lambda: system.verify.run(auditor, mode="full"))
        assert report["failed"] == 0, report["results"][:3]
        print(f"verify full, first run (renders every original): {first:.2f} s, {n / first:.0f} records/s  [{load()}]")

        raws, fulls, cpu_ratios = [], [], []
        for _ in range(args.repeat):
            raw, raw_cpu, size = raw_pass(system)
            raws.append(raw)
            full, full_cpu, report = cpu_timed(lambda: fresh_full(system, auditor))
            assert report["failed"] == 0 and report["checked"] == n
            fulls.append(full)
            cpu_ratios.append(raw_cpu / full_cpu)
            print(f"  round: raw {raw:.2f} s, verify full {full:.2f} s, ratio {raw / full:.2f}; "
                  f"CPU {raw_cpu:.2f} s / {full_cpu:.2f} s, ratio {raw_cpu / full_cpu:.2f}  [{load()}]")
        raw, full = min(raws), min(fulls)
        mib = size / 2**20
        print(f"raw decrypt+hash: {raw:.2f} s = {n / raw:.0f} records/s, {mib / raw:.0f} MiB/s  [{load()}]")
        print(f"verify full     : {full:.2f} s = {n / full:.0f} records/s, {mib / full:.0f} MiB/s")
        print(f"verify full / raw rate: {raw / full:.0%} (target >= 70%); "
              f"median of rounds {sorted(r / f for r, f in zip(raws, fulls, strict=True))[len(raws) // 2]:.0%}; "
              f"CPU time, median of rounds {sorted(cpu_ratios)[len(cpu_ratios) // 2]:.0%}")

        quiet, report = timed(lambda: system.verify.run(auditor, mode="incremental"))
        print(f"verify incremental, nothing changed: {quiet:.2f} s, read {report['checked']} of {n}  [{load()}]")
        wang = system.actor("wang")
        with system.db.read() as s:
            some = list(s.execute(select(Record.archive_no).limit(max(1, n // 100))).scalars())
        for no in some:
            system.records.edit(wang, no, {"title": f"{no} 更正"}, reason="bench")
        inc, report = timed(lambda: system.verify.run(auditor, mode="incremental"))
        print(f"verify incremental, {len(some)} edited: {inc:.2f} s, read {report['checked']} of {n}  [{load()}]")
        system.close()


if __name__ == "__main__":
    main()
