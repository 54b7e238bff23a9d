"""Backup: a full first backup, then an incremental one after more records arrive.

    .venv/bin/python bench/bench_backup.py [--records 10000] [--more 100] [--size 20000] [--database URL]

Builds an archive of --records records (random --size-byte originals plus a text page,
through RecordsService.create on 4 threads), backs it up to a directory, adds --more
records and backs up again into the same destination. The second backup copies only the
new objects (bytes copied reported); the alternative — a full copy every time — is what the
first backup costs. Then restores the newest snapshot into an empty data directory and
verifies every record (key unwraps, every segment authenticates, SHA-256 matches).
The issue's full size is --records 100000 --more 1000.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import io
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dangan.archive.records import RecordInput
from dangan.backup.service import restore
from dangan.system import init_archive, open_dangan

PASS = "benchmark passphrase"


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def add(system, start: int, n: int, size: int) -> None:  # type: ignore[no-untyped-def]
    actor = system.actor("wang")

    def one(i: int) -> None:
        data = RecordInput(original_name=f"{i}.pdf", media_type="application/pdf", title=f"维修记录 {i}",
                           category="maintenance", location="A-01-001-0101",
                           text_pages=[{"page": 1, "text": f"第{i}号 电梯维修 更换门机皮带"}])
        system.records.create(actor, io.BytesIO(os.urandom(size)), data)

    with cf.ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(start, start + n)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument("--more", type=int, default=100)
    ap.add_argument("--size", type=int, default=20_000)
    ap.add_argument("--database", default="", help="DANGAN_DATABASE_URL of an empty database (default SQLite)")
    args = ap.parse_args()
    print("$", shlex.join([sys.executable.rsplit("/", 1)[-1], *sys.argv]))
    with tempfile.TemporaryDirectory(prefix="bench-backup-") as tmp:
        home, dest = Path(tmp) / "data", str(Path(tmp) / "backup")
        if args.database:
            os.environ["DANGAN_DATABASE_URL"] = args.database
        system, _ = init_archive(home, "root", "secofficer", "audit1")
        system.users.add(system.actor("secofficer"), "wang", ["archivist"], "secret")
        t = time.perf_counter()
        add(system, 0, args.records, args.size)
        print(f"built {args.records} records in {time.perf_counter() - t:.1f} s (load {load()})")
        system.search_service.sync()

        first = system.backups.backup(system.actor("root"), dest, PASS)
        print(f"full backup:        {first.seconds:7.1f} s  objects copied {first.objects_copied:7d}  "
              f"bytes {first.bytes_copied / 1e6:9.1f} MB  rows {first.rows}  (load {load()})")
        add(system, args.records, args.more, args.size)
        second = system.backups.backup(system.actor("root"), dest, PASS)
        print(f"incremental (+{args.more}): {second.seconds:7.1f} s  objects copied {second.objects_copied:7d}  "
              f"bytes {second.bytes_copied / 1e6:9.1f} MB  skipped {second.objects_skipped}  (load {load()})")
        print(f"incremental copied {100 * second.bytes_copied / (first.bytes_copied or 1):.2f}% of the full "
              f"backup's bytes; the database snapshot is always whole ({second.rows} rows)")
        system.close()

        os.environ["DANGAN_DATABASE_URL"] = f"sqlite:///{Path(tmp) / 'restored.db'}"
        report = restore(dest, Path(tmp) / "restored", "root", PASS, reindex=False)
        copy = open_dangan(Path(tmp) / "restored")
        t = time.perf_counter()
        results = copy.records.verify(copy.actor("audit1"))
        bad = [r for r in results if not r["ok"]]
        print(f"restore: {report.seconds:.1f} s ({report.rows} rows, {report.objects_restored} objects); "
              f"verify {len(results)} records in {time.perf_counter() - t:.1f} s: {len(bad)} failed (load {load()})")
        copy.close()


if __name__ == "__main__":
    main()
