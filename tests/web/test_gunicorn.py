"""The web app under gunicorn with several processes, as production runs it
(`gunicorn -w N dangan.web.wsgi:app`, docker-compose.yml): a session made by one process
holds in the others, a form's CSRF token from one is accepted by another, and an upload
handed to one process is filed and found by all — on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from dangan.demo import render
from tests.browser import free_port
from tests.web.conftest import PASSWORD

GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
PROCESSES = 3
CLOSE = {"Connection": "close"}  # a new connection each time, so any process may answer


@contextmanager
def gunicorn(home: Path, **env: str) -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    proc = subprocess.Popen([GUNICORN, "-w", str(PROCESSES), "-b", f"127.0.0.1:{port}", "--timeout", "120",
                             "dangan.web.wsgi:app"],
                            env={**os.environ, "DANGAN_HOME": str(home), **env},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.2)
    else:
        os.killpg(proc.pid, signal.SIGKILL)
    if proc.poll() is not None:
        pytest.fail("gunicorn did not start: " + proc.stdout.read().decode(errors="replace")[-3000:])  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def worker_pids(master: int) -> set[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, text=True).stdout
    return {int(p) for p in out.split()}


def token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def log_in(base: str, name: str) -> requests.Session:
    web = requests.Session()
    form = web.get(f"{base}/login", headers=CLOSE, timeout=30)
    resp = web.post(f"{base}/login", data={"name": name, "password": PASSWORD, "csrf_token": token(form.text)},
                    headers=CLOSE, allow_redirects=False, timeout=30)
    assert resp.status_code == 302, resp.text[:500]
    return web


@pytest.fixture
def served(system, home: Path, tmp_path: Path) -> Iterator[str]:
    sec = system.actor("secofficer")
    for name in ("wang", "li"):
        system.users.set_password(sec, name, PASSWORD)
    system.close()
    assert not (home / "web-secret.key").exists()  # the processes race to make it
    with gunicorn(home, DANGAN_DATABASE_URL=os.environ["DANGAN_DATABASE_URL"],
                  DANGAN_SEARCH_BACKEND="embedded") as (base, proc):
        deadline = time.monotonic() + 30
        while len(worker_pids(proc.pid)) < PROCESSES and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(worker_pids(proc.pid)) == PROCESSES
        yield base


def test_a_session_and_its_csrf_token_hold_in_every_process(served: str, home: Path) -> None:
    web = log_in(served, "wang")
    for _ in range(4 * PROCESSES):  # each on a fresh connection: every process answers some
        page = web.get(f"{served}/records", headers=CLOSE, allow_redirects=False, timeout=30)
        assert page.status_code == 200, page.headers.get("Location")
    form = web.get(f"{served}/password", headers=CLOSE, timeout=30)
    assert form.status_code == 200
    csrf = token(form.text)
    for _ in range(2 * PROCESSES):  # new passwords that differ: refused on their merits, not as a forgery
        resp = web.post(f"{served}/password", headers=CLOSE, timeout=30,
                        data={"csrf_token": csrf, "current": PASSWORD, "new": "x" * 12, "again": "z" * 12})
        assert resp.status_code == 400 and "两次输入的新密码不一致" in resp.text, resp.text[:300]
    forged = web.post(f"{served}/password", headers=CLOSE, timeout=30,
                      data={"csrf_token": "forged", "current": PASSWORD, "new": "y" * 12, "again": "y" * 12})
    assert forged.status_code == 400
    key = home / "web-secret.key"
    assert key.stat().st_mode & 0o777 == 0o600 and len(key.read_bytes()) == 32


def test_an_upload_to_one_process_is_filed_and_found_through_all(served: str, tmp_path: Path) -> None:
    web = log_in(served, "wang")
    csrf = token(web.get(f"{served}/upload", headers=CLOSE, timeout=30).text)
    pdf = render.text_pdf(tmp_path / "r.pdf", ["维修工单\n报修位置：翠湖花园1号楼1单元0101室\n"
                                                "报修内容：水泵房漏水，已更换阀门。\n填表日期：2024年3月5日"])
    resp = web.post(f"{served}/upload", headers=CLOSE, timeout=60, allow_redirects=False,
                    data={"csrf_token": csrf, "security": "internal"},
                    files=[("files", ("维修单.pdf", pdf.read_bytes(), "application/pdf"))])
    assert resp.status_code == 302, resp.text[:500]
    batch = resp.headers["Location"].rsplit("/", 1)[1]
    deadline = time.monotonic() + 120
    while True:
        data = web.get(f"{served}/upload/batches/{batch}.json", headers=CLOSE, timeout=30).json()
        if data["finished"]:
            break
        assert time.monotonic() < deadline, data
        time.sleep(0.5)
    number = data["jobs"][0]["archive_no"]
    assert data["jobs"][0]["status"] == "ingested" and number.startswith("WX-A-01")
    reader = log_in(served, "li")
    deadline = time.monotonic() + 60
    found: set[bool] = set()
    while time.monotonic() < deadline:  # every process's search sees it once the outbox is drained
        found = {number in reader.get(f"{served}/search", params={"q": "水泵房"}, headers=CLOSE, timeout=30).text
                 for _ in range(2 * PROCESSES)}
        if found == {True}:
            break
        time.sleep(0.5)
    assert found == {True}


def _key_after(barrier, home: str, out) -> None:
    from dangan.web.app import _secret_key

    barrier.wait()
    out.put(_secret_key(Path(home)))


def test_processes_starting_together_agree_on_one_session_key(tmp_path: Path) -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(8), ctx.Queue()
    procs = [ctx.Process(target=_key_after, args=(barrier, str(tmp_path), out)) for _ in range(8)]
    for p in procs:
        p.start()
    keys = {out.get(timeout=30) for _ in procs}
    for p in procs:
        p.join(timeout=30)
    assert keys == {(tmp_path / "web-secret.key").read_bytes()} and len(keys.pop()) == 32


def test_web_servers_on_several_hosts_share_the_key_from_the_environment(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from dangan.errors import InvalidInput
    from dangan.web.app import _secret_key

    monkeypatch.setenv("DANGAN_WEB_SECRET", "s" * 40)
    assert _secret_key(tmp_path / "a") == _secret_key(tmp_path / "b")
    assert not (tmp_path / "a").exists()  # nothing written beside the data
    monkeypatch.setenv("DANGAN_WEB_SECRET", "short")
    with pytest.raises(InvalidInput, match="DANGAN_WEB_SECRET"):
        _secret_key(tmp_path)
