"""A full verify run keeps freed read buffers (glibc thresholds set once per process),
unless the operator set MALLOC_* in the environment."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

CHECK = "from dangan.integrity.memory import keep_freed_buffers as k; print(k(), k())"


def run(env: dict[str, str]) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    return subprocess.run([sys.executable, "-c", CHECK], env=clean | env, capture_output=True,
                          text=True, check=True).stdout.strip()


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the thresholds are glibc's")
def test_thresholds_set_once_on_glibc() -> None:
    assert run({}) == "True True"


def test_an_operator_malloc_setting_wins() -> None:
    assert run({"MALLOC_TRIM_THRESHOLD_": "1048576"}) == "False False"
    assert run({"MALLOC_MMAP_THRESHOLD_": "262144"}) == "False False"


def test_a_verify_run_sets_them(system) -> None:
    from dangan.integrity import memory

    memory._kept = False
    system.verify.run(system.actor("audit1"), mode="full")
    assert memory._kept is (platform.libc_ver()[0] == "glibc" and not any(
        k.startswith("MALLOC_") for k in os.environ))
