"""Worker scaling: each analysis process computes on one thread. numpy's OpenBLAS would
otherwise start a thread per core in every worker, and two workers on two cores ran four
compute threads (issue #8, part 4)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import concurrent.futures as cf, os, sys
sys.path.insert(0, sys.argv[1])
from dangan.ingest.pipeline import _preloaded_forkserver

def probe():
    import numpy as np
    a = np.random.rand(300, 300)
    for _ in range(3):
        a @ a
    return len(os.listdir("/proc/self/task"))

if __name__ == "__main__":
    with cf.ProcessPoolExecutor(2, mp_context=_preloaded_forkserver()) as pool:
        print(sorted(f.result() for f in [pool.submit(probe), pool.submit(probe)]))
"""


def test_analysis_workers_run_blas_on_one_thread(tmp_path: Path) -> None:
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    out = subprocess.run([sys.executable, str(script), str(ROOT)], capture_output=True, text=True,
                         env=env, timeout=120, check=True).stdout
    assert out.strip() == "[1, 1]"
