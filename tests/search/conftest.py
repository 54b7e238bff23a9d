"""Fixtures for the search suite: every behaviour test runs against both backends.

`backend` is parametrized over the embedded tantivy index (in a temporary directory) and
a real Elasticsearch node — the private one of scripts/elasticsearch.sh, started once per
session, or $DANGAN_TEST_ES_URL. If Elasticsearch cannot start, its tests FAIL with the
reason; they are skipped only when a developer sets DANGAN_SKIP_ES=1 on purpose.

Factories build `IndexDoc`s with sensible defaults so that each test states only what it
is about.
"""

from __future__ import annotations

import datetime
import itertools
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dangan.search.backend import IndexDoc, Reader, SearchBackend, SearchRequest, SearchResult, open_backend

ROOT = Path(__file__).resolve().parents[2]
_ids = itertools.count(1)


@pytest.fixture(scope="session")
def es_server_url() -> str:
    """URL of a running Elasticsearch node (started here if needed)."""
    if os.environ.get("DANGAN_SKIP_ES") == "1":
        pytest.skip("DANGAN_SKIP_ES=1: Elasticsearch tests skipped on request")
    url = os.environ.get("DANGAN_TEST_ES_URL")
    if url:
        return url
    try:
        proc = subprocess.run([str(ROOT / "scripts" / "elasticsearch.sh"), "start"], capture_output=True,
                              text=True, timeout=600)
    except subprocess.TimeoutExpired:
        pytest.fail("Elasticsearch test node did not start within 600 s (scripts/elasticsearch.sh start)")
    if proc.returncode != 0:
        pytest.fail(f"Elasticsearch test node did not start: {proc.stderr.strip()[-2000:]}")
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def es_backend_shared(es_server_url: str) -> Iterator[SearchBackend]:
    """One Elasticsearch index for the session, emptied before each test: creating an
    index per test costs ~0.6 s, deleting a test's few documents ~0.05 s."""
    backend = open_backend("elasticsearch", url=es_server_url, index=f"dangan-test-{uuid.uuid4().hex[:12]}")
    yield backend
    backend.drop()  # type: ignore[attr-defined]
    backend.close()


@pytest.fixture(params=["embedded", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SearchBackend]:
    """A fresh, empty index on each backend."""
    if request.param == "embedded":
        embedded = open_backend("embedded", path=tmp_path / "index")
        yield embedded
        embedded.close()
        return
    shared: SearchBackend = request.getfixturevalue("es_backend_shared")
    leftover = shared.get_ids()
    if leftover:
        shared.delete(sorted(leftover))
    yield shared


# --------------------------------------------------------------------------- factories


def make_doc(text: str = "例行巡查，一切正常。", **fields: Any) -> IndexDoc:
    """An IndexDoc with defaults: an internal, active maintenance record of flat A-01-001-0101
    titled 文件 (a word no test searches for)."""
    date = fields.pop("date", datetime.date(2024, 5, 20))
    values: dict[str, Any] = {
        "record_id": f"rec-{next(_ids):05d}",
        "archive_no": None,
        "aliases": (),
        "title": "文件",
        "category": "maintenance",
        "location": "A-01-001-0101",
        "year": date.year if date else None,
        "date": date,
        "security": 1,
        "status": "active",
        "text": text,
        "maintenance_code": None,
    }
    values.update(fields)
    return IndexDoc(**values)


EVERYONE = Reader(clearance=3)


def search(backend: SearchBackend, query: str = "", reader: Reader = EVERYONE, **kwargs: Any) -> SearchResult:
    return backend.search(SearchRequest(query=query, reader=reader, **kwargs))


def found(backend: SearchBackend, query: str = "", reader: Reader = EVERYONE, **kwargs: Any) -> set[str]:
    """The record ids a search finds (all of them, not one page)."""
    kwargs.setdefault("limit", 1000)
    kwargs.setdefault("facets", False)
    return {h.record_id for h in search(backend, query, reader, **kwargs).hits}
