"""Encrypt-and-store hashes on a helper thread whenever a second core is free — our own
earlier work in the load average does not count as another process's."""

from __future__ import annotations

import pytest

from dangan.archive import crypto


@pytest.fixture
def two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crypto.os, "sched_getaffinity", lambda _pid: {0, 1})


def test_load_that_is_our_own_leaves_the_second_core_free(two_cores, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crypto.os, "getloadavg", lambda: (1.9, 1.5, 1.0))
    monkeypatch.setattr(crypto._OWN_LOAD, "sample", lambda: 1.8)
    assert crypto._spare_core()


def test_other_processes_on_the_second_core_mean_single_thread_hashing(two_cores, monkeypatch) -> None:
    monkeypatch.setattr(crypto.os, "getloadavg", lambda: (1.9, 1.5, 1.0))
    monkeypatch.setattr(crypto._OWN_LOAD, "sample", lambda: 0.2)
    assert not crypto._spare_core()


def test_a_quiet_machine_uses_the_helper_thread(two_cores, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crypto.os, "getloadavg", lambda: (0.1, 0.1, 0.1))
    assert crypto._spare_core()


def test_own_load_follows_this_process_cpu_use() -> None:
    own = crypto._OwnLoad()
    own.wall -= 30.0  # as if 30 s had passed with no CPU used
    assert own.sample() == pytest.approx(0.0, abs=0.05)
    own.wall -= 30.0
    own.cpu -= 30.0  # 30 s of CPU over 30 s: one busy thread
    assert 0.3 < own.sample() < 0.5  # 1 - exp(-0.5)
