"""Search speed, indexing rate and recall on synthetic Chinese property records.

    .venv/bin/python bench/bench_search.py [--records 1000000] [--reuse DIR]
        [--compare-records 100000] [--recall-records 10000] [--es-url URL | --skip-es]
        [--skip-whoosh] [--queries 30]

1. Embedded (tantivy) index of --records records from `dangan.demo.corpus` (300–800
   characters of 物业 documents each): indexing rate through `SearchBackend.index` inside
   `bulk()` (generation timed apart), then p50/p95 of `SearchBackend.search` — parsing,
   clearance filter (an internal-clearance reader), facets, hits and snippets included —
   for 1-, 2- and 4-character words, a room-code prefix, and two words ANDed with a
   category filter. Targets at 1M: p50 ≤ 10 ms, p95 ≤ 50 ms; ≥ 5,000 records/s.
   --reuse DIR keeps the index in DIR and reuses it when it already holds --records.
2. The same queries at --compare-records on the embedded index, on Whoosh (what
   Paperless-ngx used until 3.0; fed the very same bigram/character tokens so it gets a
   fair chance on Chinese) and on Elasticsearch (the node of scripts/elasticsearch.sh);
   ratios against the embedded figures.
3. Recall on --recall-records: every sampled word (1–4 characters, Simplified and
   Traditional) must return exactly the records whose folded text contains it, by a
   brute-force substring scan with the same folding. Misses are printed; any miss is a bug.

The machine is shared: the load average is printed next to the figures.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import random
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dangan.demo.corpus import generate, to_traditional
from dangan.search import analysis
from dangan.search.backend import IndexDoc, Reader, SearchBackend, SearchRequest, open_backend

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
SECURITY = {"public": 0, "internal": 1, "confidential": 2, "secret": 3}
READER = Reader(clearance=1)          # internal clearance: sees public + internal
CHUNK = 5000
_CJK = re.compile(f"[{analysis.CJK_CLASS}]+")


def to_index_doc(i: int, d: Any) -> IndexDoc:
    return IndexDoc(
        record_id=f"r{i:07d}", archive_no=f"{d.category[:2].upper()}-{d.location or 'X'}-{d.date.year}-{i:07d}",
        aliases=(), title=d.title, category=d.category, location=d.location, year=d.date.year,
        date=d.date, security=SECURITY[d.security], status="active", text=d.text,
        maintenance_code=d.maintenance_code)


def chunks(n: int, seed: int = 0) -> Iterator[tuple[list[IndexDoc], float, float]]:
    """Batches of IndexDocs with the wall and CPU seconds (this thread) spent generating them."""
    gen = generate(n, seed=seed)
    i = 0
    while i < n:
        t, c = time.perf_counter(), time.thread_time()
        batch = [to_index_doc(i + j, next(gen)) for j in range(min(CHUNK, n - i))]
        yield batch, time.perf_counter() - t, time.thread_time() - c
        i += len(batch)


def build(backend: SearchBackend, n: int, label: str) -> dict[str, float]:
    """Index n records in bulk; the indexing rate excludes corpus generation."""
    gen_s = idx_s = gen_cpu = 0.0
    done = 0
    t_all = time.perf_counter()
    cpu0 = _cpu()
    with backend.bulk():
        for batch, g, gc_ in chunks(n):
            gen_s += g
            gen_cpu += gc_
            t = time.perf_counter()
            backend.index(batch)
            idx_s += time.perf_counter() - t
            done += len(batch)
            if done % 100_000 == 0 or done == n:
                print(f"  {label}: {done:,} indexed, {done / max(idx_s, 1e-9):,.0f} records/s so far",
                      file=sys.stderr, flush=True)
        t = time.perf_counter()
    idx_s += time.perf_counter() - t  # the final commit and merges
    cpu = _cpu() - cpu0 - gen_cpu
    return {"records": n, "index_s": idx_s, "generate_s": gen_s, "rate": n / idx_s,
            "wall_s": time.perf_counter() - t_all, "cpu_us_per_record": cpu / n * 1e6,
            "rate_if_idle": (os.cpu_count() or 1) * n / cpu}


def _cpu() -> float:
    """CPU seconds of this process, all threads (tantivy indexes in its own threads)."""
    t = os.times()
    return t.user + t.system


def stage_costs(n: int = 20_000) -> dict[str, float]:
    """Where indexing time goes, in CPU µs per record: the Python stages (this thread)
    and tantivy's indexing threads (process CPU during add + commit)."""
    import tantivy

    from dangan.search import embedded
    from dangan.search.backend import prepare

    docs = [d for batch, _, _ in chunks(n, seed=9) for d in batch]
    out: dict[str, float] = {}

    def cpu(name: str, fn: Any) -> Any:
        c = time.thread_time()
        r = fn()
        out[name] = (time.thread_time() - c) / n * 1e6
        return r

    cpu("analysis (fold + tok/chr streams)", lambda: [
        analysis.analyze([d.title for d in docs[i:i + 1000]] + [d.text for d in docs[i:i + 1000]])
        for i in range(0, n, 1000)])
    prepared = cpu("prepare (analysis + codes)", lambda: [p for i in range(0, n, 1000)
                                                           for p in prepare(docs[i:i + 1000])])
    built = cpu("tantivy Document building", lambda: [embedded._document(p) for p in prepared])
    with tempfile.TemporaryDirectory(dir=OUT) as d:
        index = tantivy.Index(embedded._schema(), path=d)
        writer = index.writer(heap_size=128_000_000, num_threads=2)
        c0 = _cpu()
        for doc in built:
            writer.add_document(doc)
        writer.commit()
        writer.wait_merging_threads()
        out["tantivy indexing (all threads)"] = (_cpu() - c0) / n * 1e6
    return out


# ------------------------------------------------------------------------ query set


@dataclass
class Q:
    kind: str
    query: str
    categories: list[str] | None = None


def query_set(per_kind: int, seed: int = 42) -> list[Q]:
    """Words as people type them: sampled from documents (so frequent words come up more
    often), plus room-code prefixes and two-word ANDs within a category."""
    rng = random.Random(seed)
    sample = [to_index_doc(i, d) for i, d in enumerate(generate(3000, seed=99))]
    runs_by_doc = [[r for r in _CJK.findall(analysis.fold(d.text)) if len(r) >= 2] for d in sample]
    char_freq = Counter(ch for runs in runs_by_doc for r in runs for ch in r)
    ranked = [c for c, _ in char_freq.most_common()]

    def substring(size: int) -> tuple[str, IndexDoc]:
        while True:
            k = rng.randrange(len(sample))
            runs = [r for r in runs_by_doc[k] if len(r) >= size]
            if runs:
                r = rng.choice(runs)
                s = rng.randrange(len(r) - size + 1)
                return r[s : s + size], sample[k]

    out: list[Q] = []
    # one-character words across the frequency range: the commonest (在, 的…) to rare ones
    for j in range(per_kind):
        rank = int((len(ranked) - 1) * (j / max(per_kind - 1, 1)) ** 2)
        out.append(Q("1-char", ranked[rank]))
    out += [Q("2-char", substring(2)[0]) for _ in range(per_kind)]
    out += [Q("4-char", substring(4)[0]) for _ in range(per_kind)]
    locs = [d.location for d in sample if d.location]
    for j in range(per_kind):
        parts = rng.choice(locs).split("-")
        out.append(Q("code prefix", "-".join(parts[: 3 if j % 2 == 0 else 2])))
    while sum(q.kind == "AND + category" for q in out) < per_kind:
        # two different words of one record, so that the AND is not trivially empty
        k = rng.randrange(len(sample))
        grams = sorted({r[s : s + 2] for r in runs_by_doc[k] for s in range(len(r) - 1)})
        if len(grams) >= 2:
            a, b = rng.sample(grams, 2)
            out.append(Q("AND + category", f"{a} {b}", [sample[k].category]))
    return out


def time_queries(backend: SearchBackend, queries: list[Q], facets: bool = True,
                 passes: int = 2) -> dict[str, dict[str, float]]:
    """Per kind: p50/p95 in ms over `passes` warm passes, and the mean hit count."""
    for q in queries:   # warm-up pass
        backend.search(SearchRequest(q.query, READER, categories=q.categories, facets=facets))
    times: dict[str, list[float]] = {}
    cpus: dict[str, list[float]] = {}
    totals: dict[str, list[int]] = {}
    for _ in range(passes):
        for q in queries:
            t, c = time.perf_counter(), time.process_time()
            r = backend.search(SearchRequest(q.query, READER, categories=q.categories, facets=facets))
            times.setdefault(q.kind, []).append((time.perf_counter() - t) * 1000)
            cpus.setdefault(q.kind, []).append((time.process_time() - c) * 1000)
            totals.setdefault(q.kind, []).append(r.total)
    out = {}
    for kind, ts in times.items():
        ts.sort()
        cs = sorted(cpus[kind])
        out[kind] = {"p50": statistics.median(ts), "p95": ts[min(len(ts) - 1, int(len(ts) * 0.95))],
                     "max": ts[-1], "hits": statistics.mean(totals[kind]),
                     "cpu_p50": statistics.median(cs), "cpu_p95": cs[min(len(cs) - 1, int(len(cs) * 0.95))]}
    return out


def print_latency(title: str, res: dict[str, dict[str, float]]) -> None:
    """Wall-clock latency, and the CPU time the search took (all threads of this process:
    what it would take on a machine nobody else is using)."""
    print(f"\n{title}")
    cpu = "cpu_p50" in next(iter(res.values()))
    print(f"  {'query':16s} {'p50 ms':>8s} {'p95 ms':>8s} {'max ms':>8s} {'mean hits':>10s}"
          + (f" {'CPU p50':>8s} {'CPU p95':>8s}" if cpu else ""))
    for kind, r in res.items():
        print(f"  {kind:16s} {r['p50']:8.1f} {r['p95']:8.1f} {r['max']:8.1f} {r['hits']:10,.0f}"
              + (f" {r['cpu_p50']:8.1f} {r['cpu_p95']:8.1f}" if cpu else ""))


def print_ratio(title: str, other: dict[str, dict[str, float]], base: dict[str, dict[str, float]]) -> None:
    print(f"\n{title}")
    print(f"  {'query':16s} {'p50 ×':>8s} {'p95 ×':>8s}")
    for kind in base:
        print(f"  {kind:16s} {other[kind]['p50'] / base[kind]['p50']:8.1f} "
              f"{other[kind]['p95'] / base[kind]['p95']:8.1f}")


# --------------------------------------------------------------------------- whoosh


class WhooshIndex:
    """Whoosh over the same analysed tokens (a space tokenizer over our streams), queried
    with the same phrase/term plan, filters and facets — its fairest Chinese setup."""

    def __init__(self, path: Path) -> None:
        from whoosh import fields, index
        from whoosh.analysis import SpaceSeparatedTokenizer

        ws = SpaceSeparatedTokenizer()
        schema = fields.Schema(
            id=fields.ID(stored=True, unique=True),
            tok=fields.TEXT(analyzer=ws, phrase=True), chr=fields.TEXT(analyzer=ws, phrase=True),
            q4=fields.TEXT(analyzer=ws, phrase=False),
            codes=fields.KEYWORD(commas=True), category=fields.ID(stored=True, sortable=True),
            security=fields.NUMERIC(sortable=True), status=fields.ID(sortable=True),
            project=fields.ID(sortable=True), year=fields.NUMERIC(sortable=True),
            title=fields.STORED, text=fields.STORED)
        self.index = index.create_in(str(path), schema)

    def build(self, n: int) -> dict[str, float]:
        from dangan.search.backend import prepare

        writer = self.index.writer(limitmb=256)
        t0 = time.perf_counter()
        gen_s = 0.0
        for batch, g, _ in chunks(n):
            gen_s += g
            for p in prepare(batch):
                d = p.doc
                writer.add_document(
                    id=d.record_id, tok=" ".join(p.tok_values), chr=" ".join(p.chr_values),
                    q4=" ".join(p.q4_values),
                    codes=",".join(p.codes), category=d.category, security=d.security,
                    status=d.status, project=p.locations[0] if p.locations else "none",
                    year=d.year, title=d.title, text=d.text)
        writer.commit()
        idx_s = time.perf_counter() - t0 - gen_s
        return {"records": n, "index_s": idx_s, "rate": n / idx_s}

    def search(self, q: Q, facets: bool = True) -> int:
        from whoosh import query as wq
        from whoosh import sorting

        from dangan.search.query import And, Or, Word, parse

        def word(w: Word) -> Any:
            alts: list[Any] = []
            if w.phrase is not None:
                for toks in w.phrase.variants():
                    q = (wq.Term(w.phrase.field, toks[0]) if len(toks) == 1
                         else wq.Phrase(w.phrase.field, list(toks)))
                    if w.phrase.guards:
                        q = wq.And([q, *(wq.Term("q4", g) for g in w.phrase.guards)])
                    alts.append(q)
            if w.code is not None:
                alts.append(wq.Term("codes", w.code))
            return alts[0] if len(alts) == 1 else wq.Or(alts)

        def node(n: Any) -> Any:
            if isinstance(n, Word):
                return word(n)
            if isinstance(n, And):
                return wq.And([node(i) for i in n.items])
            if isinstance(n, Or):
                return wq.Or([node(i) for i in n.items])
            raise AssertionError(n)

        parsed = parse(q.query)
        filt = [wq.Or([wq.Term("security", s) for s in (0, 1)])]
        if q.categories:
            filt.append(wq.Or([wq.Term("category", c) for c in q.categories]))
        groups = ({name: sorting.FieldFacet(name) for name in ("category", "year", "security", "status", "project")}
                  if facets else None)
        with self.index.searcher() as s:
            r = s.search(node(parsed.root), limit=20, filter=wq.And(filt), groupedby=groups)
            analysis.snippets([h["text"] for h in r], parsed.highlight)
            for name in groups or ():
                r.groups(name)
            return len(r)


def time_whoosh(w: WhooshIndex, queries: list[Q], facets: bool = True) -> dict[str, dict[str, float]]:
    for q in queries:
        w.search(q, facets)
    times: dict[str, list[float]] = {}
    totals: dict[str, list[int]] = {}
    for q in queries:
        t = time.perf_counter()
        n = w.search(q, facets)
        times.setdefault(q.kind, []).append((time.perf_counter() - t) * 1000)
        totals.setdefault(q.kind, []).append(n)
    out = {}
    for kind, ts in times.items():
        ts.sort()
        out[kind] = {"p50": statistics.median(ts), "p95": ts[min(len(ts) - 1, int(len(ts) * 0.95))],
                     "max": ts[-1], "hits": statistics.mean(totals[kind])}
    return out


# --------------------------------------------------------------------------- recall


def all_hits(backend: SearchBackend, query: str) -> set[str]:
    got: set[str] = set()
    offset = 0
    while True:
        r = backend.search(SearchRequest(query, Reader(clearance=3), offset=offset, limit=1000, facets=False))
        got.update(h.record_id for h in r.hits)
        offset += 1000
        if offset >= r.total or not r.hits:
            return got


def recall(backends: dict[str, SearchBackend], n: int, words: int, seed: int = 7) -> dict[str, Any]:
    docs = [d for batch, _, _ in chunks(n, seed=5) for d in batch]
    for b in backends.values():
        with b.bulk():
            for i in range(0, n, CHUNK):
                b.index(docs[i : i + CHUNK])
    folded = [(d.record_id, analysis.fold(d.title), analysis.fold(d.text)) for d in docs]
    rng = random.Random(seed)
    sample: list[str] = []
    while len(sample) < words:
        text = folded[rng.randrange(n)][2]
        runs = _CJK.findall(text)
        r = rng.choice(runs)
        size = 1 + len(sample) % 4
        if len(r) >= size:
            s = rng.randrange(len(r) - size + 1)
            sample.append(r[s : s + size])
    queries = sorted({q for w in sample for q in (w, to_traditional(w))})
    report: dict[str, Any] = {"records": n, "queries": len(queries)}
    for name, b in backends.items():
        misses: dict[str, int] = {}
        extras: dict[str, int] = {}
        checked = 0
        for q in queries:
            w = analysis.fold(q)
            expected = {rid for rid, t, x in folded if w in t or w in x}
            got = all_hits(b, q)
            checked += len(expected)
            if expected - got:
                misses[q] = len(expected - got)
                print(f"  MISS {name}: {q!r} misses {sorted(expected - got)[:5]}", file=sys.stderr)
            if got - expected:
                extras[q] = len(got - expected)
        report[name] = {"misses": misses, "extras": extras, "expected_hits_checked": checked}
    return report


# ----------------------------------------------------------------------------- main


def es_node(verb: str) -> str:
    """A node of its own for the benchmark (the test node may be restarted by test runs
    meanwhile): scripts/elasticsearch.sh with a separate instance directory."""
    cache = Path(os.environ.get("DANGAN_CACHE") or Path.home() / ".cache" / "dangan")
    env = {**os.environ, "DANGAN_ES_DIR": str(cache / "elasticsearch-bench")}
    proc = subprocess.run([str(ROOT / "scripts" / "elasticsearch.sh"), verb], capture_output=True,
                          text=True, timeout=900, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"Elasticsearch {verb} failed: {proc.stderr.strip()[-1500:]}")
    return proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--reuse", type=Path, help="keep the embedded index here; reuse it if it holds --records")
    ap.add_argument("--compare-records", type=int, default=100_000)
    ap.add_argument("--recall-records", type=int, default=10_000)
    ap.add_argument("--recall-words", type=int, default=200)
    ap.add_argument("--queries", type=int, default=30, help="queries per kind")
    ap.add_argument("--es-url")
    ap.add_argument("--skip-es", action="store_true")
    ap.add_argument("--skip-whoosh", action="store_true")
    ap.add_argument("--skip-main", action="store_true", help="only the comparison and recall parts")
    args = ap.parse_args()

    print("command: " + shlex.join([".venv/bin/python", "bench/bench_search.py", *sys.argv[1:]]))
    print(f"machine: {os.cpu_count()} cores, load {load()}, Python {sys.version.split()[0]}")
    OUT.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"argv": sys.argv[1:], "started": datetime.datetime.now().isoformat()}
    queries = query_set(args.queries)
    tmp = Path(tempfile.mkdtemp(prefix="bench-search-", dir=OUT))
    try:
        # 1. the big embedded index
        if not args.skip_main:
            path = args.reuse or (tmp / "main")
            backend = open_backend("embedded", path=path)
            if backend.count() == args.records:
                print(f"\nreusing {path} ({args.records:,} records)")
            else:
                if backend.count():
                    backend.clear()
                print(f"\nbuilding the embedded index of {args.records:,} records in {path}")
                b = build(backend, args.records, "embedded")
                report["index"] = b
                print(f"  indexing: {b['rate']:,.0f} records/s ({b['index_s']:.0f} s; corpus generation "
                      f"{b['generate_s']:.0f} s apart), load {load()}")
                print(f"  CPU per record (Python analysis + tantivy threads): {b['cpu_us_per_record']:.0f} µs "
                      f"→ {b['rate_if_idle']:,.0f} records/s if all {os.cpu_count()} cores were free")
                costs = stage_costs()
                report["stage_cpu_us"] = costs
                print("  CPU µs per record by stage (20,000 records): " + "; ".join(
                    f"{k} {v:.0f}" for k, v in costs.items()))
            size = du(Path(path))
            print(f"  index size on disk: {size / 2**30:.2f} GiB ({size / args.records:,.0f} bytes/record)")
            main_res = time_queries(backend, queries)
            print_latency(f"embedded, {args.records:,} records, reader clearance internal, facets on "
                          f"(load {load()})", main_res)
            bare = time_queries(backend, queries, facets=False, passes=1)
            print_latency("  … the same without facets", bare)
            report["embedded_main"] = {"with_facets": main_res, "no_facets": bare, "size_bytes": size}
            backend.close()
            del backend
            gc.collect()

        # 2. comparison at --compare-records
        n = args.compare_records
        print(f"\ncomparison at {n:,} records")
        emb = open_backend("embedded", path=tmp / "compare")
        report["compare_embedded_index"] = build(emb, n, "embedded")
        emb_res = time_queries(emb, queries)
        print_latency(f"embedded, {n:,} records (indexing {report['compare_embedded_index']['rate']:,.0f}/s)",
                      emb_res)
        emb_bare = time_queries(emb, queries, facets=False, passes=1)
        print_latency("  … the same without facets", emb_bare)
        report["compare_embedded"] = {"with_facets": emb_res, "no_facets": emb_bare}
        if not args.skip_whoosh:
            w = WhooshIndex(Path(tempfile.mkdtemp(dir=tmp)))
            wb = w.build(n)
            w_res = time_whoosh(w, queries)
            print_latency(f"whoosh, {n:,} records (indexing {wb['rate']:,.0f}/s), facets on", w_res)
            print_ratio("whoosh / embedded", w_res, emb_res)
            w_bare = time_whoosh(w, queries, facets=False)
            print_latency("whoosh without facets (as Paperless-ngx used it)", w_bare)
            print_ratio("whoosh without facets / embedded without facets", w_bare, emb_bare)
            report["whoosh"] = {"index": wb, "latency": w_res, "no_facets": w_bare}
        es_backend = None
        if not args.skip_es:
            url = args.es_url or es_node("start")
            es_backend = open_backend("elasticsearch", url=url, index="dangan-bench")
            es_backend.clear()
            eb = build(es_backend, n, "elasticsearch")
            es_res = time_queries(es_backend, queries)
            print_latency(f"elasticsearch ({url}), {n:,} records (indexing {eb['rate']:,.0f}/s)", es_res)
            print_ratio("elasticsearch / embedded", es_res, emb_res)
            es_bare = time_queries(es_backend, queries, facets=False, passes=1)
            print_latency("  … the same without facets", es_bare)
            print_ratio("elasticsearch / embedded, without facets", es_bare, emb_bare)
            report["elasticsearch"] = {"index": eb, "latency": es_res, "no_facets": es_bare}
            es_backend.clear()
        emb.close()

        # 3. recall
        print(f"\nrecall on {args.recall_records:,} records")
        rb: dict[str, SearchBackend] = {"embedded": open_backend("embedded", path=tmp / "recall")}
        if es_backend is not None:
            rb["elasticsearch"] = es_backend
        rec = recall(rb, args.recall_records, args.recall_words)
        for name in rb:
            r = rec[name]
            print(f"  {name}: {rec['queries']} queries, {r['expected_hits_checked']:,} expected hits checked, "
                  f"misses {len(r['misses'])} {r['misses'] or ''}, extra hits {len(r['extras'])} {r['extras'] or ''}")
        report["recall"] = rec
        if es_backend is not None:
            es_backend.drop()  # type: ignore[attr-defined]
            es_backend.close()
            if not args.es_url:
                es_node("stop")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # --reuse DIR lives outside tmp and stays
    report["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of this process: {report['peak_rss_mib']:,.0f} MiB; load {load()}")
    (OUT / "bench_search.json").write_text(json.dumps(report, ensure_ascii=False, indent=1, default=str))


if __name__ == "__main__":
    main()
