"""Web load benchmark: 20 concurrent users on loopback, p50/p95 per page, gunicorn next to
`dangan serve` in the same run.

The archive is built once into --home (metadata-only records spread over three estates,
ten categories and eight years, indexed by the embedded search engine) and reused by later
runs. Each simulated user logs in (a session cookie, as a person would) and loops over the
three pages the issue names — search (a common two-character word, facets on), a record
page, the dashboard (首页) — for --seconds against each server in turn.

    .venv/bin/python bench/bench_web.py [--records 20000] [--users 20] [--seconds 20]
                                        [--workers 4] [--home /tmp/dangan-bench-web]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PASSWORD = "bench password"
WORDS = ["电梯", "漏水", "维修", "消防", "合同", "装修", "业主", "水泵"]
CATS = ["maintenance", "service", "equipment", "safety", "renovation", "environment", "contract", "finance"]


def build(home: Path, n: int) -> None:
    marker = home / f".bench-built-{n}"
    if marker.exists():
        return
    os.environ["DANGAN_HOME"] = str(home)
    os.environ.pop("DANGAN_DATABASE_URL", None)
    from dangan.archive.records import RecordInput
    from dangan.system import init_archive

    system, _ = init_archive(home, "root", "sec", "aud")
    sec = system.actor("sec")
    system.users.add(sec, "wang", ["archivist"], "secret", password=PASSWORD)
    for code, name in (("A", "翠湖花园"), ("A2", "锦绣家园"), ("A3", "金色港湾")):
        system.projects.add(system.actor("root"), code, name, "residential")
    rng = random.Random(7)
    started = time.perf_counter()
    items = []
    for i in range(n):
        word = WORDS[i % len(WORDS)]
        items.append(RecordInput(
            original_name=f"r{i}.pdf", media_type="paper", title=f"{word}记录 第{i}号",
            category=CATS[i % len(CATS)],
            location=f"{rng.choice(['A', 'A2', 'A3'])}-{rng.randint(1, 12):02d}-{rng.randint(1, 4):03d}-"
                     f"{rng.randint(1, 30):02d}{rng.randint(1, 4):02d}",
            doc_date=dt.date(2017, 1, 1) + dt.timedelta(days=rng.randint(0, 8 * 365)),
            security="internal", custody=f"档案室 {i % 40 + 1} 号柜"))
    system.records.register_many(system.actor("wang"), items, batch=1000)
    made = time.perf_counter() - started
    started = time.perf_counter()
    system.search_service.sync()
    print(f"built {n} records in {made:.0f} s, indexed in {time.perf_counter() - started:.0f} s "
          f"(load {os.getloadavg()[0]:.1f})", flush=True)
    system.close()
    marker.write_text("ok\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(kind: str, home: Path, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "DANGAN_HOME": str(home), "PYTHONPATH": str(ROOT)}
    env.pop("DANGAN_DATABASE_URL", None)
    bin_dir = Path(sys.executable).parent
    if kind == "gunicorn":
        cmd = [str(bin_dir / "gunicorn"), "-w", str(workers), "--threads", "4", "-k", "gthread",
               "-b", f"127.0.0.1:{port}", "--log-level", "warning", "dangan.web.wsgi:app"]
    else:
        cmd = [str(bin_dir / "dangan"), "serve", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/login", timeout=2).status_code == 200:
                return proc, url
        except requests.RequestException:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit(f"{kind} did not start")


def session(url: str) -> requests.Session:
    s = requests.Session()
    page = s.get(url + "/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    resp = s.post(url + "/login", data={"name": "wang", "password": PASSWORD, "csrf_token": token},
                  allow_redirects=False)
    assert resp.status_code == 302, resp.status_code
    return s


def load(url: str, users: int, seconds: float) -> dict[str, list[float]]:
    sessions = [session(url) for _ in range(users)]
    first = requests.get(url + "/api/v1/records?limit=200", cookies=sessions[0].cookies).json()["records"]
    numbers = [r["archive_no"] for r in first]
    times: dict[str, list[float]] = {"search": [], "record": [], "dashboard": []}
    errors: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def user(n: int) -> None:
        s = sessions[n]
        rng = random.Random(n)
        while time.monotonic() < stop:
            for page, path in (("search", f"/search?q={rng.choice(WORDS)}"),
                               ("record", f"/records/{rng.choice(numbers)}"), ("dashboard", "/")):
                t0 = time.perf_counter()
                resp = s.get(url + path)
                took = time.perf_counter() - t0
                with lock:
                    if resp.status_code != 200:
                        errors.append(f"{path} {resp.status_code}")
                    times[page].append(took)

    threads = [threading.Thread(target=user, args=(n,)) for n in range(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        print(f"  {len(errors)} errors, e.g. {errors[:3]}")
    return times


def pct(values: list[float], p: float) -> float:
    return sorted(values)[min(len(values) - 1, int(len(values) * p))] * 1000 if values else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--home", type=Path, default=Path("/tmp/dangan-bench-web"))
    args = ap.parse_args()
    print("$ " + " ".join([Path(sys.executable).name, *sys.argv]), flush=True)
    home = args.home / str(args.records)
    build(home, args.records)
    print(f"{args.records} records, {args.users} concurrent users, {args.seconds:.0f} s per server, "
          f"{os.cpu_count()} cores", flush=True)
    print(f"{'server':<28}{'page':<11}{'requests':>9}{'p50 ms':>9}{'p95 ms':>9}{'req/s':>8}  load")
    for kind in ("gunicorn", "dangan serve"):
        proc, url = start(kind, home, args.workers)
        try:
            session(url).get(url + "/")  # warm the caches of at least one worker
            times = load(url, args.users, args.seconds)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
        label = f"gunicorn -w {args.workers} gthread" if kind == "gunicorn" else kind
        for page, values in times.items():
            print(f"{label:<28}{page:<11}{len(values):>9}{pct(values, 0.5):>9.0f}{pct(values, 0.95):>9.0f}"
                  f"{len(values) / args.seconds:>8.1f}  {os.getloadavg()[0]:.1f}", flush=True)
        print(f"  all pages p50 {statistics.median([v for vs in times.values() for v in vs]) * 1000:.0f} ms", flush=True)


if __name__ == "__main__":
    main()
