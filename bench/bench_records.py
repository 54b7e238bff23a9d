"""Core records benchmarks (the core issue's speed targets).

1. Creating 10,000 metadata-only records (paper originals: no bytes) on SQLite through the
   records service — validated, numbered, audited, with an outbox row, one transaction
   each — next to the obvious alternative: the same rows as bare INSERTs in a single
   transaction. Small digital records (a few bytes each, encrypted and stored with
   fsync) are measured too, to show what durable custody costs per file.
2. Peak memory while a 1 GiB file is ingested through `RecordsService.create`, measured in
   a child process as the growth of peak RSS over the idle process (target < 100 MiB).

    .venv/bin/python bench/bench_records.py [--records 10000] [--size-mib 1024]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def fresh_system(home: Path):  # type: ignore[no-untyped-def]
    os.environ["DANGAN_HOME"] = str(home)
    os.environ.pop("DANGAN_DATABASE_URL", None)
    from dangan.system import init_archive

    system, _ = init_archive(home, "root", "sec", "aud")
    system.users.add(system.actor("sec"), "wang", ["archivist"], "secret")
    system.projects.add(system.actor("root"), "A", "翠湖花园", "residential")
    return system


def bench_many(n: int) -> None:
    from sqlalchemy import insert

    from dangan.archive.models import Record
    from dangan.archive.records import RecordInput

    with tempfile.TemporaryDirectory() as tmp:
        system = fresh_system(Path(tmp) / "data")
        wang = system.actor("wang")
        def data(i: int) -> RecordInput:
            return RecordInput(original_name=f"r{i}.txt", media_type="paper", title=f"维修记录 {i}",
                               category="maintenance", location=f"A-01-001-{(i % 9000) + 101:04d}",
                               doc_date=dt.date(2024, 1, 1) + dt.timedelta(days=i % 365),
                               custody=f"档案室 {i % 40 + 1} 号柜")

        start, cpu = time.perf_counter(), time.process_time()
        for i in range(n):
            system.records.create(wang, None, data(i))
        service_s, service_cpu = time.perf_counter() - start, time.process_time() - cpu

        start = time.perf_counter()
        system.records.register_many(wang, [data(i) for i in range(n)])
        batched_s = time.perf_counter() - start

        small = max(1, n // 20)
        start = time.perf_counter()
        for i in range(small):
            system.records.create(wang, io.BytesIO(f"record {i} {uuid.uuid4()}".encode()), data(i))
        digital_s = time.perf_counter() - start

        start = time.perf_counter()
        rows = [dict(id=uuid.uuid4().hex, archive_no=f"X-{i}", title=f"维修记录 {i}", category="maintenance",
                     location="A-01-001-0101", year=2024, security="internal", status="active",
                     sha256=uuid.uuid4().hex * 2, digest="", size=10, pages=0, media_type="text/plain",
                     original_name="x", retention_period="D10", suite="aes256gcm-sha256", kek_id="k1",
                     wrapped_dek=b"x", ingested_by="wang", version=1) for i in range(n)]
        with system.db.session() as s:
            s.execute(insert(Record), rows)
        plain_s = time.perf_counter() - start
        system.close()
    print(f"{n} metadata-only records through RecordsService.create (SQLite): {service_s:.2f} s "
          f"({n / service_s:.0f} records/s; target < 20 s); CPU time {service_cpu:.2f} s")
    print(f"{n} metadata-only records through RecordsService.register_many (500 per transaction): "
          f"{batched_s:.2f} s ({n / batched_s:.0f} records/s)")
    print(f"{n} bare INSERTs of the same rows in one transaction: {plain_s:.2f} s "
          f"(the service costs {service_s / plain_s:.1f}×: per record its own transaction with a 档号 "
          f"sequence bump, an audit-chain entry and an outbox row)")
    print(f"{small} small digital records (encrypted object, fsync of file and folder): {digital_s:.2f} s "
          f"({small / digital_s:.0f} records/s)")


def child_peak(size_mib: int) -> None:
    """Runs in a child: idle peak RSS, then peak after ingesting the file."""
    from dangan.archive.records import RecordInput

    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        big = Path(tmp) / "big.bin"
        with open(big, "wb") as fh:
            block = os.urandom(1024 * 1024)
            for i in range(size_mib):
                fh.write(block[:-8] + i.to_bytes(8, "big"))
        system = fresh_system(Path(tmp) / "data")
        wang = system.actor("wang")
        idle = _rss_reset()
        start = time.perf_counter()
        system.records.create(wang, big, RecordInput(original_name="big.bin", media_type="application/octet-stream",
                                                     title="大文件", category="equipment", location="A"))
        took = time.perf_counter() - start
        peak = _vm("VmHWM")
        print(f"ingest of a {size_mib} MiB file: {took:.1f} s ({size_mib / took:.0f} MiB/s); "
              f"peak RSS {peak:.0f} MiB, RSS before {idle:.0f} MiB, growth {peak - idle:.1f} MiB (target < 100 MiB)")


def _vm(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_reset() -> float:
    """Reset the peak-RSS mark (VmHWM) to the current RSS, so the peak measures this step only."""
    Path("/proc/self/clear_refs").write_text("5")
    return _vm("VmRSS")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--child-peak", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_peak:
        child_peak(args.child_peak)
        return
    print("command:", " ".join([Path(sys.executable).name, *sys.argv]))
    print(f"load average: {os.getloadavg()[0]:.2f}")
    bench_many(args.records)
    subprocess.run([sys.executable, __file__, "--child-peak", str(args.size_mib)], check=True)


if __name__ == "__main__":
    main()
