"""The 四性 checks' plaintext copies: a dead check's copy is removed by the next run, a
live one's never (real processes; no database involved)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from dangan.integrity import scratch


def test_a_dead_checks_copy_goes_and_a_live_or_foreign_one_stays(tmp_path: Path) -> None:
    # a real process makes a copy and dies without cleaning up, as under kill -9
    made = subprocess.run([sys.executable, "-c",
                           "import sys; from pathlib import Path; from dangan.integrity import scratch; "
                           "fd, p = scratch.make(Path(sys.argv[1])); print(p); import os; os._exit(0)",
                           str(tmp_path)], capture_output=True, text=True, check=True)
    dead = Path(made.stdout.strip())
    fd, live = scratch.make(tmp_path)  # this process: still running
    os.close(fd)
    foreign = tmp_path / "verify-0badc0de-1-1-abcd"  # another host sharing the data volume
    young, old = tmp_path / "verify-abcd1234", tmp_path / "verify-ef567890"  # unnamed, older naming
    for p in (foreign, young, old):
        p.write_bytes(b"%PDF-")
    os.utime(old, (time.time() - 2 * scratch.LEGACY_AGE,) * 2)
    assert dead.exists() and dead.name.startswith("verify-")
    assert scratch.sweep(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([Path(live).name, foreign.name, young.name])
    assert oct(Path(live).stat().st_mode & 0o777) == "0o600"
