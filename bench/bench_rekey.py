"""What `dangan keys rekey-index` costs, next to a plain `search reindex` of the same archive.

Records are made from the synthetic 物业 corpus (its owner forms carry 身份证号, phone and
bank-card numbers) with their blind-index tokens, as ingest makes them (fsync off during
setup only). Then, in the same run: the search index rebuilt (embedded), and the blind
index re-keyed (every record's text decrypted, its numbers found and hashed under the new
key, written beside the old tokens, the switch, the old tokens deleted). Records/s of both
and the load average are printed.

    .venv/bin/python bench/bench_rekey.py [--records 20000] [--batch 500] [--reuse DIR]
                                          [--db sqlite|postgres|both]

PostgreSQL is the private server of scripts/postgres.sh (started if needed), in a fresh
database dropped afterwards.
"""

from __future__ import annotations

import argparse
import io
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from dangan.archive.models import BlindIndex, Record  # noqa: E402
from dangan.archive.pii import text_tokens  # noqa: E402
from dangan.archive.records import RecordInput  # noqa: E402
from dangan.demo.corpus import DEFAULT_PROJECTS, generate  # noqa: E402
from dangan.system import init_archive, open_dangan  # noqa: E402


@contextmanager
def database(kind: str) -> Iterator[str | None]:
    """None for SQLite in the data directory; else a fresh PostgreSQL database's URL."""
    if kind == "sqlite":
        yield None
        return
    server = subprocess.run([str(ROOT / "scripts" / "postgres.sh"), "start"], check=True, capture_output=True,
                            text=True).stdout.strip().splitlines()[-1]
    name = "bench_rekey_" + uuid.uuid4().hex[:8]
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield server.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def make(home: Path, records: int, db_url: str | None):  # type: ignore[no-untyped-def]
    os.environ["DANGAN_HOME"] = str(home)
    if db_url:
        os.environ["DANGAN_DATABASE_URL"] = db_url
    else:
        os.environ.pop("DANGAN_DATABASE_URL", None)
    if (home / "dangan.toml").exists() and not db_url:
        system = open_dangan(home)
        with system.db.read() as s:
            if s.execute(select(func.count()).select_from(Record)).scalar_one() == records:
                print(f"setup: reusing the {records} records in {home}")
                return system
        system.close()
        shutil.rmtree(home)
    system, _ = init_archive(home, "root", "sec", "aud")
    system.users.add(system.actor("sec"), "wang", ["archivist"], "secret")
    for code, name, kind in DEFAULT_PROJECTS:
        system.projects.add(system.actor("root"), code, name, kind)
    wang, key = system.actor("wang"), system.blind_key
    real_fsync = os.fsync
    os.fsync = lambda fd: None  # setup only
    start = time.perf_counter()
    try:
        for n, doc in enumerate(generate(records, seed=7)):
            data = RecordInput(original_name=f"{n}.txt", media_type="text/plain", title=doc.title,
                               category=doc.category, location=doc.location or "A", doc_date=doc.date,
                               security=doc.security, text_pages=[{"page": 1, "text": doc.text, "confidence": 1.0}],
                               pii_tokens=text_tokens(key, doc.text))
            system.records.create(wang, io.BytesIO(f"{n}:{doc.text}".encode()), data)
    finally:
        os.fsync = real_fsync
    print(f"setup: {records} records created in {time.perf_counter() - start:.0f} s (fsync off)")
    return system


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--reuse", type=Path, help="keep the archive here; reuse it if it holds --records (SQLite)")
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    args = ap.parse_args()
    print("command:", shlex.join([".venv/bin/python", *sys.argv]))
    for kind in (["sqlite", "postgres"] if args.db == "both" else [args.db]):
        print(f"-- {kind}")
        with database(kind) as url:
            run(args, url)


def run(args: argparse.Namespace, db_url: str | None) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-rekey-"))
    try:
        system = make(args.reuse if args.reuse and not db_url else tmp / "home", args.records, db_url)
        root = system.actor("root")
        with system.db.read() as s:
            before = s.execute(select(func.count()).select_from(BlindIndex)).scalar_one()

        print(f"load average before: {os.getloadavg()[0]:.2f}")
        t = time.perf_counter()
        count = system.search_service.reindex(root)
        reindex_s = time.perf_counter() - t
        print(f"search reindex:   {count} records in {reindex_s:.1f} s = {count / reindex_s:,.0f} records/s "
              f"(load {os.getloadavg()[0]:.2f})")

        t = time.perf_counter()
        report = system.keys.rekey_index(root, batch=args.batch)
        rekey_s = time.perf_counter() - t
        print(f"keys rekey-index: {report.records} records in {rekey_s:.1f} s = {report.records / rekey_s:,.0f} "
              f"records/s; tokens {before} old → {report.tokens} new (generation {report.previous} → "
              f"{report.generation}), {report.removed} removed (load {os.getloadavg()[0]:.2f})")
        print(f"rekey / reindex time: {rekey_s / reindex_s:.2f}")
        system.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

if __name__ == "__main__":
    main()
