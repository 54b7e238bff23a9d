"""What the browser tests share: a real `dangan serve` on a free loopback port, and
Debian's chromium driven by Playwright."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(home: Path, **env: str) -> Iterator[str]:
    """`dangan serve` on the archive at `home`; yields its base URL, stops it afterwards."""
    port = free_port()
    proc = subprocess.Popen([str(Path(sys.executable).with_name("dangan")), "serve", "--port", str(port)],
                            env={**os.environ, "DANGAN_HOME": str(home), **env},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("dangan serve did not start: " + proc.stdout.read().decode(errors="replace")[-2000:])
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
