"""What `[search] withhold_text_from` costs per query.

With the setting on, the index keeps no text for records at or above the level, so the
search service makes the snippets of those hits from their decrypted text: one database
read for the page's rows, one text object fetched and decrypted per hit, PII masking,
snippets. This measures `SearchService.search` (what the CLI, web and API call: parsing,
clearance, facets, snippets and the audit entry included) on the same archive and the same
queries, once with the setting off and once on, each against an index rebuilt under it.

Records are made by `bench_outbox.make_archive` (RecordsService.create from the synthetic
物业 corpus; fsync off during setup only). Queries: common two-character words of the
corpus, each finding at least a full page; pages of --limit hits read by a reader with
secret clearance. The default level, public, withholds every record's text: every hit on
every page is decrypted (the worst case). The load average is printed with the figures.

    .venv/bin/python bench/bench_stored_text.py [--records 20000] [--queries 60] [--limit 20]
        [--level public] [--backend embedded|elasticsearch] [--es-url URL] [--reuse DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import re
import shlex
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_outbox import make_archive  # noqa: E402

from dangan.search.backend import open_backend  # noqa: E402
from dangan.search.service import SearchService  # noqa: E402


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--queries", type=int, default=60)
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--level", default="public", choices=["public", "internal", "confidential", "secret"])
    ap.add_argument("--backend", default="embedded", choices=["embedded", "elasticsearch"])
    ap.add_argument("--es-url", default=os.environ.get("DANGAN_TEST_ES_URL", "http://127.0.0.1:9200"))
    ap.add_argument("--reuse", type=Path, help="keep the archive here; reuse it if it holds --records")
    args = ap.parse_args()
    print("command:", shlex.join([".venv/bin/python", *sys.argv]))

    tmp = Path(tempfile.mkdtemp(prefix="bench-stored-text-"))
    system, docs = make_archive(args.reuse or tmp / "home", args.records)
    wang = system.actor("wang")
    base = system.settings

    def service(name: str) -> SearchService:
        if args.backend == "embedded":
            return SearchService(system, open_backend("embedded", path=tmp / name))
        return SearchService(system, open_backend("elasticsearch", url=args.es_url,
                                                  index=f"bench-stored-{name}-{uuid.uuid4().hex[:8]}"))

    modes = {"off": dataclasses.replace(base, search_withhold_text_from="none"),
             "on": dataclasses.replace(base, search_withhold_text_from=args.level)}
    services = {}
    for mode, settings in modes.items():
        system.settings = settings
        services[mode] = svc = service(mode)
        t = time.perf_counter()
        svc.reindex()
        print(f"index built with the setting {mode}: {time.perf_counter() - t:.0f} s")

    # common two-character words, each filling a page
    rng = random.Random(42)
    words: list[str] = []
    cjk = re.compile(r"[\u4e00-\u9fff]{2}")
    system.settings = modes["off"]
    while len(words) < args.queries:
        found = cjk.findall(rng.choice(docs).text)
        w = rng.choice(found) if found else ""
        if w and w not in words and services["off"].search(wang, w, limit=args.limit, facets=False)["total"] >= args.limit:
            words.append(w)

    times: dict[str, list[float]] = {"off": [], "on": []}
    decrypted = 0
    on, load_text = services["on"], services["on"]._text

    def counted(rec):  # type: ignore[no-untyped-def]
        nonlocal decrypted
        decrypted += 1
        return load_text(rec)

    on._text = counted  # type: ignore[method-assign]
    for rnd in range(2):  # the first round warms caches; the second is timed
        for w in words:
            for mode in ("off", "on"):   # interleaved, so load changes hit both alike
                system.settings = modes[mode]
                t = time.perf_counter()
                res = services[mode].search(wang, w, limit=args.limit)
                ms = (time.perf_counter() - t) * 1000
                assert len(res["hits"]) == args.limit
                if rnd:
                    times[mode].append(ms)
        if not rnd:
            decrypted = 0
    print(f"{args.records} records, {len(words)} queries (2-character words), pages of {args.limit}, "
          f"facets on, backend {args.backend}; level {args.level}: {decrypted / len(words):.1f} hits "
          "per page were decrypted for their snippet")
    for mode in ("off", "on"):
        v = times[mode]
        print(f"  setting {mode:3s}: p50 {statistics.median(v):6.1f} ms   p95 {pct(v, 95):6.1f} ms")
    extra = [b - a for a, b in zip(times["off"], times["on"], strict=True)]
    print(f"  cost per query: p50 {statistics.median(extra):+.1f} ms, "
          f"{statistics.median(extra) * len(words) / max(decrypted, 1):.2f} ms per decrypted hit")
    print("load average:", " ".join(f"{x:.2f}" for x in os.getloadavg()), f"({os.cpu_count()} cores)")
    for svc in services.values():
        if args.backend == "elasticsearch":
            svc.backend.drop()  # type: ignore[attr-defined]
        svc.backend.close()
    system.close()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
