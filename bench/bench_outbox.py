"""Indexing through the real outbox path (the search issue's indexing target ≥ 5,000/s).

Records are created through `RecordsService.create` (encrypted original and text objects,
a 档号, an outbox row each) from synthetic Chinese property documents; then the timed part:
`SearchService.sync()` drains the outbox — reads the rows, loads the records, decrypts
each text object, masks personal numbers, analyses the text and writes the index — next
to the obvious alternative measured in the same run: feeding the same documents straight
to the backend (no database, no decryption, no masking).

Setup only: fsync is switched off while the records are created, so that making 50,000
records does not take an hour; nothing timed runs without it.

    .venv/bin/python bench/bench_outbox.py [--records 50000] [--backend embedded|elasticsearch]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--backend", default="embedded", choices=["embedded", "elasticsearch"])
    parser.add_argument("--es-url", default=os.environ.get("DANGAN_TEST_ES_URL", ""))
    args = parser.parse_args()
    print("command:", " ".join([Path(sys.executable).name, *sys.argv]))
    print(f"load average at start: {os.getloadavg()[0]:.2f}")

    from dangan.archive.records import RecordInput
    from dangan.demo.corpus import DEFAULT_PROJECTS, generate
    from dangan.search.backend import open_backend
    from dangan.search.service import SearchService
    from dangan.system import init_archive

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "data"
        os.environ["DANGAN_HOME"] = str(home)
        os.environ.pop("DANGAN_DATABASE_URL", None)
        system, _ = init_archive(home, "root", "sec", "aud")
        system.users.add(system.actor("sec"), "wang", ["archivist"], "secret")
        for code, name, kind in DEFAULT_PROJECTS:
            system.projects.add(system.actor("root"), code, name, kind)
        wang = system.actor("wang")

        real_fsync = os.fsync
        os.fsync = lambda fd: None  # setup only (see the docstring)
        start = time.perf_counter()
        docs = []
        for n, doc in enumerate(generate(args.records, seed=7)):
            data = RecordInput(original_name=f"{n}.txt", media_type="text/plain", title=doc.title,
                               category=doc.category, location=doc.location or "A",
                               doc_date=doc.date, security=doc.security,
                               text_pages=[{"page": 1, "text": doc.text, "confidence": 1.0}])
            system.records.create(wang, io.BytesIO(f"{n}:{doc.text}".encode()), data)
            docs.append(doc)
        os.fsync = real_fsync
        print(f"setup: {args.records} records created in {time.perf_counter() - start:.0f} s (fsync off)")

        if args.backend == "embedded":
            backend = open_backend("embedded", path=home / "index")
        else:
            backend = open_backend("elasticsearch", url=args.es_url, index="bench-outbox")
            backend.clear()
        svc = SearchService(system, backend)
        start = time.perf_counter()
        applied = svc.sync()
        took = time.perf_counter() - start
        assert applied == args.records and svc.consistency()["missing"] == []
        print(f"outbox drain ({args.backend}): {applied} records in {took:.1f} s = {applied / took:,.0f} records/s "
              f"(target ≥ 5,000/s)")

        from dangan.search.backend import IndexDoc

        direct = [IndexDoc(record_id=f"d{n}", archive_no=None, aliases=(), title=d.title, category=d.category,
                           location=d.location, year=d.date.year, date=d.date, security=1, status="active",
                           text=d.text) for n, d in enumerate(docs)]
        if args.backend == "embedded":
            other = open_backend("embedded", path=Path(tmp) / "direct")
        else:
            other = open_backend("elasticsearch", url=args.es_url, index="bench-direct")
            other.clear()
        start = time.perf_counter()
        with other.bulk():
            for i in range(0, len(direct), 500):
                other.index(direct[i:i + 500])
        direct_s = time.perf_counter() - start
        print(f"same documents straight into the backend: {len(direct) / direct_s:,.0f} records/s; "
              f"the outbox path runs at {direct_s / took:.2f}× that (it adds the database reads, "
              f"decryption of each text object and PII masking)")
        print(f"load average at end: {os.getloadavg()[0]:.2f}")
        if args.backend == "elasticsearch":
            backend.drop()
            other.drop()
        system.close()


if __name__ == "__main__":
    main()
