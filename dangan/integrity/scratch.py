"""The 四性 checks' private plaintext copies (`<data>/tmp/verify-…`, 0600): a decrypted
original must not outlive the run that made it.

A run removes its copy after each record, but a run killed with `kill -9` (a worker whose
scheduled check is then taken over) cannot. So each copy is named after the process that
made it — host, pid and the process's start time, as the ingest queue names a job's
worker — and every run first removes the copies of processes on this host that are gone.
A copy of a process still working, or of another host sharing the data volume, is left
alone; unnamed copies from before this naming go once they are a day old.
"""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
import time
from pathlib import Path

from dangan.ingest.procinfo import process_alive, process_start

PREFIX = "verify-"
LEGACY_AGE = 86400.0  # seconds: an unnamed copy this old belongs to no running check


def _host() -> str:
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def _owner() -> str:
    pid = os.getpid()
    return f"{_host()}-{pid}-{process_start(pid) or 0}-"


def make(scratch: Path) -> tuple[int, str]:
    """A new private file for this process's copy: (open descriptor, path)."""
    return tempfile.mkstemp(prefix=PREFIX + _owner(), dir=scratch)


def _abandoned(path: Path, host: str, now: float) -> bool:
    parts = path.name[len(PREFIX):].split("-", 3)
    if len(parts) == 4 and len(parts[0]) == 8 and parts[1].isdigit() and parts[2].isdigit():
        start = "" if parts[2] == "0" else parts[2]
        return parts[0] == host and not process_alive(int(parts[1]), start)
    try:
        return now - path.stat().st_mtime > LEGACY_AGE
    except FileNotFoundError:
        return False


def sweep(scratch: Path) -> int:
    """Remove the copies left by dead checks on this host; returns how many."""
    host, now, removed = _host(), time.time(), 0
    for path in scratch.glob(PREFIX + "*"):
        if _abandoned(path, host, now):
            path.unlink(missing_ok=True)
            removed += 1
    return removed
