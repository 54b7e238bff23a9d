"""tantivy specifics: one writer across processes, visibility of other processes' commits."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from dangan.errors import InvalidInput
from dangan.search.backend import Reader, SearchRequest, SearchUnavailable, open_backend
from tests.search.conftest import found, make_doc

ROOT = Path(__file__).resolve().parents[2]


def hold_writer(path: Path, seconds: float, ready: Path) -> subprocess.Popen:
    """Another process (think: a CLI outbox drain) holding the index writer for a while."""
    code = textwrap.dedent(f"""
        import pathlib, time, tantivy
        from dangan.search.embedded import EmbeddedBackend
        backend = EmbeddedBackend({str(path)!r})
        writer = backend._index.writer(heap_size=15_000_000, num_threads=1)
        pathlib.Path({str(ready)!r}).write_text("held")
        time.sleep({seconds})
        writer.commit()
        writer.wait_merging_threads()
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    deadline = time.monotonic() + 30
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail("helper process did not take the writer")
        time.sleep(0.02)
    return proc


def test_writer_waits_for_another_process_then_commits(tmp_path):
    path = tmp_path / "index"
    backend = open_backend("embedded", path=path)
    proc = hold_writer(path, 1.0, tmp_path / "ready")
    started = time.monotonic()
    doc = make_doc("电梯")
    backend.index([doc])
    waited = time.monotonic() - started
    proc.wait(timeout=30)
    assert waited > 0.3
    assert found(backend, "电梯") == {doc.record_id}


def test_writer_gives_up_with_a_clear_error_when_the_lock_stays_taken(tmp_path):
    path = tmp_path / "index"
    backend = open_backend("embedded", path=path, lock_timeout=0.3)
    proc = hold_writer(path, 3.0, tmp_path / "ready")
    try:
        with pytest.raises(SearchUnavailable, match="另一个进程"):
            backend.index([make_doc("电梯")])
    finally:
        proc.wait(timeout=30)


def test_search_sees_commits_of_another_process(tmp_path):
    path = tmp_path / "index"
    reader = open_backend("embedded", path=path)
    assert reader.count() == 0
    code = textwrap.dedent(f"""
        import datetime
        from dangan.search.backend import IndexDoc, open_backend
        b = open_backend("embedded", path={str(path)!r})
        b.index([IndexDoc("from-cli", None, (), "t", "maintenance", None, 2024,
                          datetime.date(2024, 1, 1), 0, "active", "供水管漏水")])
    """)
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)
    assert found(reader, "漏水") == {"from-cli"}


def test_index_built_by_another_version_is_refused(tmp_path):
    path = tmp_path / "index"
    open_backend("embedded", path=path).close()
    (path / "dangan-search.json").write_text(json.dumps({"schema": 0}))
    with pytest.raises(InvalidInput, match="reindex"):
        open_backend("embedded", path=path)


def test_directory_holding_other_files_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("not an index")
    with pytest.raises(InvalidInput, match="空目录"):
        open_backend("embedded", path=tmp_path)


def test_facets_too_varied_to_combine_are_counted_apart_and_the_total_stays_exact(tmp_path, monkeypatch):
    import datetime

    import dangan.search.embedded as embedded

    backend = open_backend("embedded", path=tmp_path / "idx")
    backend.index([make_doc("电梯", category=c, location=loc, date=datetime.date(year, 1, 1))
                   for c, loc, year in (("maintenance", "A-01", 2023), ("safety", "B-01", 2024),
                                        ("service", "A-02", 2024), ("service", None, 2024))]
                  + [make_doc("绿化", category="environment")])
    combined = backend.search(SearchRequest("电梯", Reader(clearance=3), limit=1))
    assert combined.total == 4
    assert combined.facets["project"] == {"A": 2, "B": 1}
    assert combined.facets["year"] == {"2024": 3, "2023": 1}
    monkeypatch.setattr(embedded, "_ALL_FACET_COMBOS", 1)   # more combinations than buckets
    apart = backend.search(SearchRequest("电梯", Reader(clearance=3), limit=1))
    assert (apart.total, apart.facets) == (combined.total, combined.facets)
    monkeypatch.setattr(embedded, "_FACET_COMBOS", 1)       # and even fewer there
    assert backend.search(SearchRequest("电梯", Reader(clearance=3), limit=1)).total == 4
    assert backend.search(SearchRequest("电梯", Reader(clearance=3), facets=False)).total == 4
    backend.close()
