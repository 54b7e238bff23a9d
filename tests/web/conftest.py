"""Factories for the web tests: an app over a fresh archive (SQLite and PostgreSQL), people
with passwords, records with real PDF originals, and a logged-in client."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dangan.archive.records import RecordInput
from dangan.demo import render
from dangan.web.app import create_app

PASSWORD = "long enough pw"


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 at its lowest cost: these tests are about the web, not the hash."""
    from argon2 import PasswordHasher

    monkeypatch.setattr("dangan.archive.users._hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))
PEOPLE = ("li", "guest", "wang", "zhao", "secofficer", "root", "audit1")


def make_app(system, tmp_path: Path):
    sec = system.actor("secofficer")
    for name in PEOPLE:
        if name != "secofficer":
            system.users.set_password(sec, name, PASSWORD)
    with system.db.session() as s:  # the security officer's own password, as `init` would set it
        from dangan.archive.models import User
        from dangan.archive.users import hash_password

        s.query(User).filter(User.name == "secofficer").update({"password_hash": hash_password(PASSWORD)})
    from dangan.search.backend import open_backend
    from dangan.search.service import SearchService

    system.__dict__["search_service"] = SearchService(system, open_backend("embedded", path=tmp_path / "index"))
    app = create_app(system)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def app(system, tmp_path):
    """The app over SQLite and over PostgreSQL."""
    return make_app(system, tmp_path)


@pytest.fixture
def lite_app(sqlite_system, tmp_path):
    """The app over SQLite only: for behaviour that does not depend on the database."""
    return make_app(sqlite_system, tmp_path)


def pdf_bytes(tmp_path: Path, text: str, pages: int = 1) -> bytes:
    path = tmp_path / f"doc-{abs(hash(text)) % 10**8}-{pages}.pdf"
    render.text_pdf(path, [f"{text}\n第 {n + 1} 页" for n in range(pages)])
    return path.read_bytes()


def add_record(system, tmp_path: Path, title: str, text: str = "电梯维修，已更换门机皮带。",
               category: str = "maintenance", location: str = "A-01-001-0101", pages: int = 1,
               original_name: str = "维修单.pdf", **kw) -> str:
    import io

    data = RecordInput(original_name=original_name, media_type="application/pdf", title=title,
                       category=category, location=location, pages=pages,
                       text_pages=[{"page": n + 1, "text": text, "confidence": kw.pop("confidence", None)}
                                   for n in range(pages)], **kw)
    result = system.records.create(system.actor("wang"), io.BytesIO(pdf_bytes(tmp_path, text + title, pages)), data)
    system.search_service.sync()
    return result.archive_no or result.provisional_no


def csrf(client, path: str = "/login") -> str:
    page = client.get(path)
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def login(client, name: str, password: str = PASSWORD, address: str = "127.0.0.1"):
    token = csrf(client)
    return client.post("/login", data={"name": name, "password": password, "csrf_token": token},
                       environ_base={"REMOTE_ADDR": address})


def client_as(app, name: str):
    client = app.test_client()
    resp = login(client, name)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    return client


def post(client, path: str, data: dict | None = None, **kw):
    """A form post with the session's CSRF token."""
    with client.session_transaction() as sess:
        token = sess.get("csrf")
    if token is None:
        token = csrf(client, "/password")
    return client.post(path, data={**(data or {}), "csrf_token": token}, **kw)


def bearer(system, name: str) -> dict:
    return {"Authorization": "Bearer " + system.users.new_token(system.actor(name), name)}
