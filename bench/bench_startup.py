"""Start-up of the `dangan` command: what every command pays before it does anything.

    .venv/bin/python bench/bench_startup.py [--home DIR] [--runs 7] [--code DIR] [--as wang]

Runs each command --runs times as a child process (the installed `dangan` console script,
with PYTHONPATH set to --code, default this checkout, so another checkout — say the commit
before a change — can be measured with the same script) and prints the median and the
fastest wall time, the median child CPU time (user + system, from
`resource.getrusage(RUSAGE_CHILDREN)`), the load average and the command line. The baseline is
`python -c "import sqlalchemy"`: the floor any command that opens the archive pays; the
ratio column is each command's median wall time over the floor's.

Bytecode is cached (PYTHONDONTWRITEBYTECODE is dropped for the children), as for an
installed package; the first, uncounted run writes the __pycache__ directories.

--home is a small archive (made with `dangan demo` there if it does not exist yet: about
15 s); the searches and the due list run against it as --as.
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Figures:
    label: str
    argv: list[str]
    wall: list[float]
    cpu: list[float]
    load: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.wall)


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, child CPU) of one run; a failing command stops the bench (a fast failure is
    no start-up figure)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    wall = perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{shlex.join(argv)} exited {done.returncode}: {done.stderr.decode(errors='replace').strip()}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(label: str, argv: list[str], env: dict[str, str], runs: int) -> Figures:
    run_once(argv, env)  # warm the page cache and .pyc files; not counted
    figures = Figures(label, argv, [], [], [])
    for _ in range(runs):
        wall, cpu = run_once(argv, env)
        figures.wall.append(wall)
        figures.cpu.append(cpu)
        figures.load.append(os.getloadavg()[0])
    return figures


def ensure_archive(dangan: str, home: Path, env: dict[str, str]) -> None:
    if (home / "dangan.toml").exists():
        return
    print(f"building a demo archive in {home} …", flush=True)
    subprocess.run([dangan, "--home", str(home), "demo", "--no-serve"], env=env, check=True,
                   stdout=subprocess.DEVNULL)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", type=Path, default=Path("/tmp/dangan-bench-startup"))
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--code", type=Path, default=ROOT, help="the checkout whose `dangan` package runs")
    ap.add_argument("--as", dest="user", default="wang", help="the acting user (a demo archivist)")
    args = ap.parse_args()

    dangan = str(Path(sys.executable).parent / "dangan")
    env = {**os.environ, "PYTHONPATH": str(args.code.resolve())}
    # As installed, Python reads cached bytecode; compiling ~75 modules from source again in
    # every run (PYTHONDONTWRITEBYTECODE, set in some shells) would add ≈ 0.13 s to each.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    ensure_archive(dangan, args.home, env)
    home = ["--home", str(args.home), "--as", args.user]
    commands = [
        ("floor: python -c 'import sqlalchemy'", [sys.executable, "-c", "import sqlalchemy"]),
        ("dangan --help", [dangan, "--help"]),
        ("dangan search 物业 --json", [dangan, *home, "search", "物业", "--json"]),
        ("dangan retention due --json --limit 10", [dangan, *home, "retention", "due", "--json", "--limit", "10"]),
    ]
    print(f"PYTHONPATH={env['PYTHONPATH']}, {args.runs} runs each, {os.cpu_count()} cores")
    rows = [measure(label, argv, env, args.runs) for label, argv in commands]
    floor = rows[0].median
    print(f"\n{'command':<42} {'wall median':>11} {'fastest':>8} {'CPU median':>10} {'× floor':>8}  load")
    for f in rows:
        print(f"{f.label:<42} {f.median:10.3f}s {min(f.wall):7.3f}s {statistics.median(f.cpu):9.3f}s "
              f"{f.median / floor:7.2f}×  {min(f.load):.2f}–{max(f.load):.2f}")
    print("\ncommand lines:")
    for f in rows:
        print(f"  PYTHONPATH={shlex.quote(env['PYTHONPATH'])} {shlex.join(f.argv)}")


if __name__ == "__main__":
    main()
