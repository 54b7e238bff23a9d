"""Is a process still the one we knew? Shared by the OCR pool (its workers leave when
their owner is gone) and the 四性 scratch files (a dead run's copies are swept); a module
of its own so the check needs none of the OCR stack (numpy, PIL) that `analyse` loads."""

from __future__ import annotations

import os


def process_start(pid: int) -> str:
    """When the process started (clock ticks since boot; "" where /proc is missing), so a
    pid reused by a later process is not mistaken for the one that held it."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
        return data.rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return ""


def process_alive(pid: int, start: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return not start or process_start(pid) in ("", start)
