"""Retention at scale: the due list over many records, executing and verifying a large
destruction batch, on the embedded defaults (SQLite, filesystem store, embedded index).

    .venv/bin/python bench/bench_retention.py [--records 1000000] [--batch 10000] [--home DIR]

- due list over --records records (a bulk generator inserts them straight into the tables:
  11 categories' worth of dates from 1995 to 2025), target ≤ 2 s: the page with counts, one
  estate, and every due row written as `retention due --json` writes it (in this process,
  then through the CLI itself, start-up included); compared with the obvious alternative,
  loading every active record and working out its due date in Python;
- execute: a batch of --batch real records (encrypted objects, wrapped keys, index
  entries), target ≤ 60 s; compared with one transaction per record on a tenth of it;
- verify: `destroy verify` of that batch, target ≤ 30 s.

Timings are printed beside this process's CPU time and the load average: the machine is
shared, and CPU time (plus the database's own, in-process for SQLite) is the steadier figure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shlex
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select

from dangan.archive import crypto
from dangan.archive.models import Outbox, Record
from dangan.archive.records import aad, object_key
from dangan.cli.stream import write_json_rows  # (imports every command, as the CLI's start-up does)
from dangan.retention.due import FIELDS
from dangan.system import init_archive

CATS = ["maintenance", "service", "environment", "contract", "owner", "renovation", "safety", "finance",
        "basic", "equipment", "maintenance"]


def load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def timed(label: str, fn):  # type: ignore[no-untyped-def]
    t, cpu = time.perf_counter(), time.process_time()
    out = fn()
    took, cpu = time.perf_counter() - t, time.process_time() - cpu
    print(f"  {label:<58} {took:8.2f} s  cpu {cpu:7.2f} s  ({load()})", flush=True)
    return out, took


def generate(system, n: int, seed: int = 7, chunk: int = 50_000) -> None:  # type: ignore[no-untyped-def]
    """Metadata rows only (what the due list reads), inserted in large executemany chunks."""
    rng = random.Random(seed)
    scheme = system.scheme
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    table = Record.__table__
    seq = 0
    for start in range(0, n, chunk):
        rows = []
        for _ in range(min(chunk, n - start)):
            seq += 1
            cat = scheme.category(rng.choice(CATS))
            d = dt.date(1995, 1, 1) + dt.timedelta(days=rng.randrange(31 * 365))
            loc = f"{rng.choice('ABCD')}-{rng.randrange(1, 20):02d}-{rng.randrange(1, 5):03d}-{rng.randrange(101, 3000):04d}"
            rows.append({
                "id": uuid.uuid4().hex, "archive_no": f"{cat.code}-{loc}-{d.year}-B{seq:07d}", "provisional_no": None,
                "title": f"{cat.name}记录 {seq}", "category": cat.key, "location": loc, "year": d.year,
                "doc_date": d, "responsible": None, "maintenance_code": None, "security": "internal",
                "status": "active", "sha256": None, "digest": None, "size": 0, "pages": 1,
                "media_type": "application/pdf", "original_name": "x.pdf",
                "retention_period": cat.retention_code,
                "retention_until": None if cat.permanent else scheme.retention_until(cat, d),
                "suite": "aes256gcm-sha256", "kek_id": None, "wrapped_dek": None, "has_text": False,
                "classify_confidence": None, "suggestion": None, "custody": None, "version": 1,
                "ingested_by": "bench", "ingested_at": now})
        with system.db.session() as s:
            s.connection().execute(table.insert(), rows)


def vacuum(system) -> None:  # type: ignore[no-untyped-def]
    with system.db.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE records")


def make_real(system, n: int, chunk: int = 500, tag: str = "X") -> list[str]:  # type: ignore[no-untyped-def]
    """`n` records as ingest leaves them: encrypted original and text objects, a wrapped
    key, an outbox row — written in bulk (records.create would audit each one)."""
    suite = crypto.get_suite(system.settings.cipher_suite)
    kek_id = system.keyring.active_id
    kek = system.keyring.kek(kek_id)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    nos = []
    for start in range(0, n, chunk):
        rows, outbox = [], []
        for i in range(start, min(n, start + chunk)):
            rid = uuid.uuid4().hex
            dek = crypto.new_dek(suite)
            body = os.urandom(2048)
            system.store.put_bytes(object_key(rid, "original"),
                                   crypto.encrypt_bytes(suite, dek, body, aad(rid, "original")))
            system.store.put_bytes(object_key(rid, "text"),
                                   crypto.encrypt_bytes(suite, dek, b'[{"page":1,"text":"x"}]', aad(rid, "text")))
            no = f"WX-A-01-001-0101-2005-{tag}{i:06d}"
            nos.append(no)
            rows.append({
                "id": rid, "archive_no": no, "provisional_no": None, "title": f"2005 年维修记录 {i}",
                "category": "maintenance", "location": "A-01-001-0101", "year": 2005,
                "doc_date": dt.date(2005, 3, 1), "responsible": None, "maintenance_code": None,
                "security": "internal", "status": "active", "sha256": os.urandom(32).hex(), "digest": None,
                "size": len(body), "pages": 1, "media_type": "application/pdf", "original_name": "x.pdf",
                "retention_period": "D10", "retention_until": dt.date(2015, 3, 1), "suite": suite.name,
                "kek_id": kek_id, "wrapped_dek": crypto.wrap_dek(suite, kek, dek, rid.encode()),
                "has_text": True, "classify_confidence": None, "suggestion": None, "custody": None,
                "version": 1, "ingested_by": "bench", "ingested_at": now})
            outbox.append({"record_id": rid, "op": "upsert", "created_at": now})
        with system.db.session() as s:
            s.connection().execute(Record.__table__.insert(), rows)
            s.connection().execute(Outbox.__table__.insert(), outbox)
    return nos


def timed_child(label: str, fn):  # type: ignore[no-untyped-def]
    """`timed` for work done in a child process: the child's CPU time, not this one's."""
    t, before = time.perf_counter(), os.times()
    out = fn()
    took, after = time.perf_counter() - t, os.times()
    cpu = after.children_user + after.children_system - before.children_user - before.children_system
    print(f"  {label:<58} {took:8.2f} s  cpu {cpu:7.2f} s  ({load()})", flush=True)
    return out, took


def full_list_json(svc, actor, as_of: dt.date) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """The CLI's path without its start-up: the row stream through the JSON writer, into a
    UTF-8 text file (/dev/null), as `click.echo` writes it to stdout."""
    size = 0
    with open(os.devnull, "w", encoding="utf-8") as sink, svc.due_stream(actor, as_of) as (head, rows):
        def write(text: str) -> None:
            nonlocal size
            size += len(text)
            sink.write(text)

        write_json_rows(head, "records", FIELDS, rows, write, nested=("holds",))
    return head["total"], size


def cli_full_list(home: Path, as_of: dt.date) -> None:
    """`dangan retention due --json` as a user runs it, this checkout's code, stdout to /dev/null."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    with open(os.devnull, "wb") as sink:
        subprocess.run([sys.executable, "-c", "from dangan.cli import main; main()", "--home", str(home),
                        "--as", "wang", "retention", "due", "--as-of", as_of.isoformat(), "--json"],
                       env=env, stdout=sink, check=True)


def naive_due(system, as_of: dt.date) -> int:  # type: ignore[no-untyped-def]
    """The obvious alternative: every active record through the ORM, due date in Python."""
    from dangan.retention.schedule import effective

    count = 0
    with system.db.read() as s:
        for rec in s.execute(select(Record).where(Record.status == "active")).scalars().yield_per(5000):
            eff = effective(system.scheme, rec.category, rec.doc_date, rec.retention_until)
            if eff.until is not None and eff.until <= as_of:
                count += 1
    return count


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--home", default=None, help="data directory; an earlier run's records are reused")
    ap.add_argument("--due-only", action="store_true", help="only the due-list part")
    ap.add_argument("--database-url", default=None, help="e.g. a PostgreSQL database (default: SQLite in --home)")
    args = ap.parse_args()
    print("$ " + shlex.join([sys.executable, *sys.argv]))
    print(f"cpus {os.cpu_count()}, {load()}")
    home = Path(args.home or tempfile.mkdtemp(prefix="dangan-bench-retention-"))
    os.environ.pop("DANGAN_DATABASE_URL", None)
    if args.database_url:  # the CLI child inherits it too
        os.environ["DANGAN_DATABASE_URL"] = args.database_url
    system, _ = init_archive(home, "root", "sec", "aud")
    sec = system.actor("sec")
    known = {u["name"] for u in system.users.list(sec)}
    for name, role in (("wang", "archivist"), ("zhao", "manager"), ("sun", "manager")):
        if name not in known:
            system.users.add(sec, name, [role], "secret")
    wang, zhao, aud = system.actor("wang"), system.actor("zhao"), system.actor("aud")
    svc = system.retention
    print(f"\nDue list over {args.records:,} records ({home}):")
    with system.db.read() as s:
        have = s.execute(select(func.count()).select_from(Record).where(Record.status == "active")).scalar_one()
    if have < args.records:
        timed(f"generate {args.records - have:,} records (bulk insert)", lambda: generate(system, args.records - have))
        if system.db.dialect == "postgresql":  # what autovacuum does soon after: index-only scans need it
            timed("VACUUM ANALYZE records", lambda: vacuum(system))
    as_of = dt.date(2026, 1, 1)
    _, t_page = timed("due list: counts + first page of 100 (page, API)", lambda: svc.due(wang, as_of, limit=100))
    timed("due list, one estate (location=A), every row as dicts", lambda: svc.due(wang, as_of, location="A"))
    (total, size), t_full = timed("due list, every row as `retention due --json` writes it",
                                  lambda: full_list_json(svc, wang, as_of))
    _, t_cli = timed_child("same, through the CLI (`dangan retention due --json`)",
                           lambda: cli_full_list(home, as_of))
    naive, t_naive = timed("alternative: every record through the ORM, due in Python",
                           lambda: naive_due(system, as_of))
    print(f"  → {total:,} due, {size / 1e6:.1f} MB of JSON (alternative counted {naive:,}); full list "
          f"{t_naive / t_full:.1f}× faster than the alternative; target ≤ 2 s: counts and first page "
          f"{'met' if t_page <= 2 else 'NOT met'}, every row {'met' if t_full <= 2 else 'NOT met'} "
          f"(CLI wall {'met' if t_cli <= 2 else 'NOT met'})")

    if args.due_only:
        return
    n = args.batch
    print(f"\nDestruction of {n:,} real records:")
    run = uuid.uuid4().hex[:4].upper()  # a home reused from an earlier run keeps its numbers
    nos, _ = timed(f"make {n:,} encrypted records (bulk)", lambda: make_real(system, n, tag="X" + run))
    timed("index them (search sync)", lambda: system.search_service.sync())
    small = max(1, n // 10)
    timed(f"appraise {n:,} records (one transaction)", lambda: svc.appraise(wang, nos, "destroy", "bench"))
    extra = make_real(system, small, tag="Y" + run)
    svc.appraise(wang, extra, "destroy", "bench")
    batch = svc.create_batch(wang, nos, "bench")["batch_id"]
    svc.approve(zhao, batch)
    _, t_exec = timed(f"destroy execute, {n:,} records (chunks of 200)",
                      lambda: svc.execute(wang, batch, "sun", "bench"))
    report, t_ver = timed(f"destroy verify, {n:,} records", lambda: svc.verify(aud, batch))
    assert report["ok"], [r for r in report["records"] if not r["ok"]][:3]
    import dangan.retention.destruction as destruction_mod

    destruction_mod.CHUNK = 1
    b2 = svc.create_batch(wang, extra, "bench")["batch_id"]
    svc.approve(zhao, b2)
    _, t_one = timed(f"alternative: one transaction per record, {small:,} records",
                     lambda: svc.execute(wang, b2, "sun", "bench"))
    print(f"  → execute {n / t_exec:,.0f} records/s (one-per-transaction: {small / t_one:,.0f}/s); "
          f"target ≤ 60 s: {'met' if t_exec <= 60 else 'NOT met'}; verify target ≤ 30 s: "
          f"{'met' if t_ver <= 30 else 'NOT met'}")
    system.close()


if __name__ == "__main__":
    main()
