"""Loan ledger reads at scale: the overdue list, a borrower's history, a record's history.

    .venv/bin/python bench/bench_loans.py [--events 1000000] [--records 200000] [--queries 200]
                                          [--db sqlite|postgres|both]

Generates a ledger straight into the tables (records as metadata-only rows, ~4 events per
loan: request, approve, checkout, renew, return, …; about 3% of loans still out, half of
those overdue), then times the three reads through `LoansService.list` — the same call the
CLI, API and pages make — and reports p50/p95/max. Target: p95 ≤ 100 ms on SQLite and on
PostgreSQL.

How the state stays derived from the events yet cheap to read: every step writes its
event row and updates the loan's current-state row (`loans`) in one transaction, and the
reads use indexes on that table — (state, due) for the overdue list, (borrower,
requested_at) for a borrower — and on loan_items(record_id). For comparison the same run
times the obvious alternative, deriving "out and overdue" from the events alone on each
read (the latest checkout/renew/return event per loan, due date taken from its detail).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shlex
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dangan.archive.models import Record
from dangan.loans.models import Loan, LoanEvent, LoanItem, PhysicalOut

AS_OF = dt.date(2026, 6, 1)
DEPTS = ["工程部", "客服部", "财务部", "安保部", "环境部", "管理处", "档案室", "法务部"]


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def generate(system, n_events: int, n_records: int, seed: int = 7) -> dict:  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    now = dt.datetime(2026, 5, 31, 12)
    rec_ids = [uuid.uuid4().hex for _ in range(n_records)]
    t = time.perf_counter()
    batch = 20_000
    with system.db.session() as s:
        conn = s.connection()
        for start in range(0, n_records, batch):
            conn.execute(Record.__table__.insert(), [
                {"id": rid, "archive_no": f"WX-A-01-001-0101-2020-{start + i + 1:06d}", "title": "维修记录",
                 "category": "maintenance", "location": "A-01-001-0101", "year": 2020, "security": "internal",
                 "status": "active", "size": 0, "pages": 1, "media_type": "application/pdf",
                 "original_name": "x.pdf", "retention_period": "D10", "suite": "aes256gcm-sha256",
                 "has_text": False, "version": 1, "ingested_by": "bench", "ingested_at": now}
                for i, rid in enumerate(rec_ids[start:start + batch])])
    borrowers = [f"user{n:04d}" for n in range(max(50, n_records // 100))]
    loans, items, events, outs = [], [], [], []
    made = 0
    n = 0
    out_records: set[str] = set()

    def flush(final: bool = False) -> None:
        if len(events) < 50_000 and not final:
            return
        with system.db.session() as s:
            c = s.connection()
            if loans:
                c.execute(Loan.__table__.insert(), loans)
                c.execute(LoanItem.__table__.insert(), items)
                c.execute(LoanEvent.__table__.insert(), events)
            if outs:
                c.execute(PhysicalOut.__table__.insert(), outs)
        loans.clear(), items.clear(), events.clear(), outs.clear()

    while made < n_events:
        n += 1
        lid = f"JY-B-{n:07d}"
        who = rng.choice(borrowers)
        rid = rng.choice(rec_ids)
        req = now - dt.timedelta(days=rng.uniform(1, 5 * 365))
        kind = rng.choices(["physical", "view", "copy"], [5, 4, 1])[0]
        roll = rng.random()
        days = rng.choice([3, 5, 7, 7, 7, 14])
        steps = [("request", req, {})]
        state, due, started, ended, cond = "requested", None, None, None, None
        if roll < 0.02:
            pass
        elif roll < 0.05:
            steps.append(("reject", req + dt.timedelta(hours=3), {"reason": "用途不明"}))
            state, ended = "rejected", req
        else:
            appr = req + dt.timedelta(hours=rng.uniform(1, 48))
            steps.append(("approve", appr, {}))
            state, started = "approved", appr.date()
            if kind == "physical" and roll >= 0.07:
                out_at = appr + dt.timedelta(hours=rng.uniform(1, 24))
                started, due, state = out_at.date(), out_at.date() + dt.timedelta(days=days), "checked_out"
                steps.append(("checkout", out_at, {"due": due.isoformat()}))
                if rng.random() < 0.3:
                    due = due + dt.timedelta(days=7)
                    steps.append(("renew", out_at + dt.timedelta(days=days - 1), {"days": 7, "due": due.isoformat()}))
                still_out = roll >= 0.97 and rid not in out_records
                if still_out:
                    if rng.random() < 0.5:  # keep half of the open ones inside their period
                        started = (now - dt.timedelta(days=2)).date()
                        due = AS_OF + dt.timedelta(days=5)
                        steps[-1][2]["due"] = due.isoformat()
                    out_records.add(rid)
                    outs.append({"record_id": rid, "loan_id": lid, "since": out_at})
                else:
                    back = out_at + dt.timedelta(days=rng.uniform(1, days + 3))
                    steps.append(("return", back, {"condition": "intact"}))
                    state, ended, cond = "returned", back, "intact"
            elif kind != "physical":
                due = started + dt.timedelta(days=days)
            elif roll < 0.07:
                steps.append(("cancel", appr + dt.timedelta(hours=2), {}))
                state, ended = "cancelled", appr
        loans.append({"id": lid, "borrower": who, "department": DEPTS[hash(who) % len(DEPTS)], "kind": kind,
                      "purpose": "核对", "days": days, "sensitive": False, "state": state, "requested_at": req,
                      "decided_by": "wang" if len(steps) > 1 else None, "decided_at": steps[1][1] if len(steps) > 1
                      else None, "reason": None, "started_on": started, "due": due, "ended_at": ended,
                      "condition": cond, "version": len(steps)})
        items.append({"loan_id": lid, "record_id": rid, "archive_no": rid})
        for seq, (ev, at, detail) in enumerate(steps, 1):
            events.append({"loan_id": lid, "seq": seq, "event": ev, "actor": who if ev == "request" else "wang",
                           "at": at, "detail": json.dumps(detail)})
        made += len(steps)
        flush()
    flush(final=True)
    with system.db.session() as s:
        s.execute(sa.text("ANALYZE"))
    return {"loans": n, "events": made, "records": n_records, "borrowers": borrowers, "record_ids": rec_ids,
            "seconds": time.perf_counter() - t}


def timed(fn, args_list) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for args in args_list:
        t = time.perf_counter()
        fn(*args)
        out.append((time.perf_counter() - t) * 1000)
    return out


def summary(name: str, ms: list[float]) -> str:
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    return f"  {name:<34} p50 {statistics.median(ms):7.1f} ms   p95 {p95:7.1f} ms   max {ms[-1]:7.1f} ms  (n={len(ms)})"


def derive_overdue_from_events(system) -> int:  # type: ignore[no-untyped-def]
    """The alternative: no current-state table, the latest custody event per loan decides."""
    q = sa.text("""
        SELECT e.loan_id, e.event, e.detail FROM loan_events e
        JOIN (SELECT loan_id, max(seq) AS seq FROM loan_events
              WHERE event IN ('checkout', 'renew', 'return') GROUP BY loan_id) last
          ON last.loan_id = e.loan_id AND last.seq = e.seq
        WHERE e.event <> 'return'""")
    with system.db.read() as s:
        rows = s.execute(q).all()
    return sum(1 for _lid, _ev, detail in rows if dt.date.fromisoformat(json.loads(detail)["due"]) < AS_OF)


def run(db: str, args: argparse.Namespace) -> None:
    from dangan.system import init_archive

    home = Path(tempfile.mkdtemp(prefix="bench-loans-"))
    admin_engine = None
    pg_name = None
    if db == "postgres":
        import subprocess

        server = subprocess.run(["scripts/postgres.sh", "start"], capture_output=True, text=True,
                                check=True).stdout.strip().splitlines()[-1]
        pg_name = f"bench_loans_{os.getpid()}"
        admin_engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        with admin_engine.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{pg_name}"')
            c.exec_driver_sql(f'CREATE DATABASE "{pg_name}"')
        os.environ["DANGAN_DATABASE_URL"] = server.rsplit("/", 1)[0] + "/" + pg_name
    else:
        os.environ.pop("DANGAN_DATABASE_URL", None)
    try:
        system, _ = init_archive(home, "root", "secofficer", "audit1")
        system.users.add(system.actor("secofficer"), "wang", ["archivist"], "secret")
        system.loans.clock = lambda: dt.datetime(2026, 6, 1, 9)
        print(f"\n[{db}] generating {args.events:,} events over {args.records:,} records … ({load()})", flush=True)
        g = generate(system, args.events, args.records)
        print(f"[{db}] {g['loans']:,} loans, {g['events']:,} events in {g['seconds']:.0f} s ({load()})", flush=True)
        wang = system.actor("wang")
        rng = random.Random(1)
        svc = system.loans
        overdue = timed(lambda: svc.list(wang, overdue=True, as_of=AS_OF, limit=100), [()] * args.queries)
        who = timed(lambda b: svc.list(wang, borrower=b, limit=100),
                    [(rng.choice(g["borrowers"]),) for _ in range(args.queries)])
        recs = timed(lambda r: svc.list(wang, record=r, limit=100),
                     [(rng.choice(g["record_ids"]),) for _ in range(args.queries)])
        report = timed(lambda: svc.overdue_report(wang, AS_OF), [()] * 20)
        n_over = len(svc.list(wang, overdue=True, as_of=AS_OF, limit=10_000))
        print(f"[{db}] reads through LoansService.list (first page of 100; {n_over:,} overdue in all) ({load()})")
        print(summary("overdue list (--overdue --as-of)", overdue))
        print(summary("a borrower's history", who))
        print(summary("a record's loan history", recs))
        print(summary("overdue report per department", report))
        alt = timed(lambda: derive_overdue_from_events(system), [()] * 3)
        print(f"[{db}] alternative: overdue derived from the events on each read ({load()})")
        print(summary("overdue from events (no state table)", alt))
        assert derive_overdue_from_events(system) == n_over, "the state table disagrees with the events"
        print(f"[{db}] the state table and the events agree: {n_over:,} overdue")
        system.close()
    finally:
        import shutil

        shutil.rmtree(home, ignore_errors=True)
        if admin_engine is not None:
            with admin_engine.connect() as c:
                c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
            admin_engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    args = ap.parse_args()
    print("$ " + shlex.join([sys.executable.rsplit("/", 1)[-1], *sys.argv]))
    print(load())
    for db in (["sqlite", "postgres"] if args.db == "both" else [args.db]):
        run(db, args)


if __name__ == "__main__":
    main()
