"""What the scheduled checks cost a worker: the per-round look when nothing is due (every
worker pays it every poll), and one claimed run of a task whose body does nothing
(claim, heartbeat thread, outcome, audit entry), on SQLite and on PostgreSQL.

    .venv/bin/python bench/bench_schedule.py [--rounds 500] [--pg URL]

--pg defaults to the private server of scripts/postgres.sh (started if needed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from dangan.loans.notify import LogNotifier  # noqa: E402
from dangan.system import init_archive  # noqa: E402
from dangan.worker import tasks  # noqa: E402
from dangan.worker.schedule import Scheduler  # noqa: E402


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def measure(label: str, home: Path, db_url: str, rounds: int) -> None:
    os.environ["DANGAN_DATABASE_URL"] = db_url
    system, _ = init_archive(home, "root", "sec", "aud")
    clock = [dt.datetime(2030, 1, 1, 9)]
    sched = Scheduler(system, "bench:1", now=lambda: clock[0], lease=600, notifier=LogNotifier())
    sched.tick()  # the first occurrence runs (an empty archive: nothing to check)
    start = time.perf_counter()
    for _ in range(rounds):
        assert sched.tick() == []
    idle = (time.perf_counter() - start) / rounds
    noop = tasks.Task("verify", "空任务", "record.verify", lambda _s, _a, _o: tasks.Outcome("ok", "无"))
    real = tasks.TASKS["verify"]
    tasks.TASKS["verify"] = noop
    try:
        start = time.perf_counter()
        for _ in range(rounds // 10):
            sched.run_now("verify")
        claimed = (time.perf_counter() - start) / (rounds // 10)
    finally:
        tasks.TASKS["verify"] = real
    system.close()
    print(f"{label:8s} idle round {idle * 1e3:6.2f} ms   claimed no-op run {claimed * 1e3:6.1f} ms   (load {load()})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=500)
    ap.add_argument("--pg", default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        measure("sqlite", Path(tmp) / "a", f"sqlite:///{tmp}/a.db", args.rounds)
        pg = args.pg or subprocess.run([str(ROOT / "scripts" / "postgres.sh"), "start"], check=True,
                                       capture_output=True, text=True).stdout.strip().splitlines()[-1]
        name = "bench_sched_" + uuid.uuid4().hex[:8]
        admin = sa.create_engine(pg, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            measure("postgres", Path(tmp) / "b", pg.rsplit("/", 1)[0] + "/" + name, args.rounds)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()


if __name__ == "__main__":
    main()
