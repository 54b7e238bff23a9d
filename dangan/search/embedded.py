"""The embedded search backend: tantivy (via tantivy-py) in a directory, no server.

Why tantivy: over Chinese bigram tokens it answers ranked phrase queries in milliseconds
at a million records with exact results (see `dangan.search.analysis` and
bench/bench_search.py), in-process, with nothing to operate.

Concurrency: tantivy allows one writer per index across all processes (a lock file), and
the web server and a CLI outbox drain may both write. So a writer is taken per batch —
retrying briefly while another process holds it — used for one commit, and released.
Searches reload the reader first, so every committed change is visible, from whichever
process committed it. A rebuild wraps its batches in `bulk()`, which keeps one writer (no
commit and merge wait per batch) and skips the delete-before-add while the index started
empty.

Speed notes (measured at 1M records, bench/bench_search.py): tantivy has no filter
cache, so each filter costs about one step per document it touches. Clearance is
therefore mostly a choice of fields (see `PARTITIONS`), and the remaining filters take
the cheaper side (exclude the few destroyed records rather than require the many
others). Facets are one aggregation over a value combining all five, whose counts also
give the total, so a search with facets does not count twice.
The title is indexed twice instead of as a boosted field (one clause less per word).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import tantivy
from tantivy import Occur, Order, Query

from dangan.errors import InvalidInput
from dangan.search.analysis import Phrase
from dangan.search.backend import (
    CODE_BOOST,
    FACET_SIZE,
    SECURITY_LEVELS,
    STATUSES,
    Filters,
    IndexDoc,
    PreparedDoc,
    SearchBackend,
    SearchRequest,
    SearchResult,
    SearchUnavailable,
    make_hits,
    order_facets,
)
from dangan.search.query import And, Node, Not, Or, ParsedQuery, Word

__all__ = ["EmbeddedBackend"]

#: Bump when the schema or the analysis changes: an index built by another version is
#: refused with a message asking for `dangan search reindex`.
SCHEMA_VERSION = 6

#: Security levels whose records share searchable fields (``tok0``, ``chr0``… hold
#: public and internal records, ``tok1``… confidential and secret ones). A search looks
#: only in the partitions holding a level the reader may see, so clearance is mostly a
#: choice of fields rather than a filter: a filter that excludes the confidential fifth
#: of a million records cost more than the search itself (tantivy has no filter cache),
#: and an internal-clearance reader now needs none. Levels inside a searched partition
#: that the reader may not see are still filtered out (a public reader: the filter keeps
#: the few public records, which is cheap).
PARTITIONS: tuple[tuple[int, ...], ...] = ((0, 1), (2, 3))
_PARTITION_OF = {level: p for p, levels in enumerate(PARTITIONS) for level in levels}
_VERSION_FILE = "dangan-search.json"
_NO_DATE_DESC = -1            # undated records sort last in both directions
_NO_DATE_ASC = 10**8
#: Buckets of the combined category/security/status facet (10 categories × 4 × 5 = 200);
#: records beyond them still count in the total (through ``sum_other_doc_count``).
_FACET_COMBOS = 10_000
#: Buckets of the value combining all five facets (`EmbeddedBackend._facets`).
_ALL_FACET_COMBOS = 10_000


def _schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("id", stored=True, tokenizer_name="raw", index_option="basic")
    sb.add_bytes_field("src", stored=True)                       # what a hit shows (JSON)
    for part in range(len(PARTITIONS)):           # the searchable fields, per partition
        for name in ("tok", "chr"):               # the token streams
            sb.add_text_field(f"{name}{part}", tokenizer_name="whitespace", index_option="position")
        sb.add_text_field(f"q4{part}", tokenizer_name="whitespace", index_option="freq")
        # codes hold no spaces: one whitespace-separated value (one call, not a dozen)
        sb.add_text_field(f"codes{part}", tokenizer_name="whitespace", index_option="basic")
    sb.add_text_field("loc", tokenizer_name="whitespace", index_option="basic")
    for name in ("category", "status"):
        sb.add_text_field(name, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("project", tokenizer_name="raw", fast=True, index_option="basic")
    # category, security and status in one value: one aggregation instead of three
    sb.add_text_field("facet", tokenizer_name="raw", fast=True, index_option="basic")
    # all five facets in one value: one column read per matching record
    sb.add_text_field("facets", tokenizer_name="raw", fast=True, index_option="basic")
    sb.add_integer_field("security", indexed=True)
    sb.add_integer_field("year", indexed=True, fast=True)
    sb.add_integer_field("day", indexed=True)                     # date as an ordinal
    sb.add_integer_field("sort_desc", fast=True)
    sb.add_integer_field("sort_asc", fast=True)
    return sb.build()


class EmbeddedBackend(SearchBackend):
    """tantivy index in `path` (created if missing)."""

    def __init__(self, path: str | os.PathLike[str], *, writer_heap: int = 128_000_000,
                 bulk_heap: int = 512_000_000, writer_threads: int | None = None,
                 lock_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._writer_heap = writer_heap
        # a rebuild gets a bigger indexing buffer: fewer, larger segments and merges
        # (8% more records per CPU-second at 512 MB than at 128 MB)
        self._bulk_heap = bulk_heap
        self._writer_threads = writer_threads or max(1, min(2, os.cpu_count() or 1))
        self._lock_timeout = lock_timeout
        self._schema = _schema()
        self._check_version()
        self._index = tantivy.Index(self._schema, path=str(self.path), reuse=True)
        self._lock = threading.RLock()   # one writer per process at a time
        self._bulk: tantivy.IndexWriter | None = None
        self._bulk_pending = 0
        # ids added during a bulk load that began on an empty index: a record not seen
        # yet cannot be in the index, so its delete-before-add (a third of the indexing
        # cost) is skipped
        self._bulk_fresh: set[str] | None = None
        self._closed = False

    # ------------------------------------------------------------------ housekeeping

    def _check_version(self) -> None:
        marker = self.path / _VERSION_FILE
        if marker.exists():
            try:
                version = json.loads(marker.read_text(encoding="utf-8")).get("schema")
            except (OSError, ValueError):
                version = None
            if version != SCHEMA_VERSION:
                raise InvalidInput(
                    f"检索索引 {self.path} 由其他版本建立，请运行 dangan search reindex 重建索引。")
        elif any(self.path.iterdir()):
            raise InvalidInput(f"目录 {self.path} 不是本系统的检索索引，请指定一个空目录。")
        else:
            marker.write_text(json.dumps({"schema": SCHEMA_VERSION, "engine": "tantivy"}), encoding="utf-8")

    def _writer(self, heap: int | None = None) -> tantivy.IndexWriter:
        """Take the index writer, waiting while another process (or thread) holds it."""
        deadline = time.monotonic() + self._lock_timeout
        delay = 0.01
        while True:
            try:
                return self._index.writer(heap_size=heap or self._writer_heap, num_threads=self._writer_threads)
            except ValueError as exc:
                if "LockBusy" not in str(exc):
                    raise
                if time.monotonic() >= deadline:
                    raise SearchUnavailable(
                        "检索索引正被另一个进程写入，等待超时，请稍后重试。") from exc
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    def _write(self, work: Any, count: int = 0) -> None:
        """Run `work(writer)` as one commit, then release the writer and refresh readers
        (inside `bulk`, on the held writer, committing every `bulk_commit_every` records)."""
        if self._closed:
            raise InvalidInput("检索索引已关闭。")
        with self._lock:
            if self._bulk is not None:
                work(self._bulk)
                self._bulk_pending += count
                if self._bulk_pending >= self.bulk_commit_every:
                    self._bulk.commit()
                    self._bulk_pending = 0
                    self._index.reload()
                return
            writer = self._writer()
            try:
                work(writer)
                writer.commit()
            except BaseException:
                writer.rollback()
                raise
            finally:
                # Waits for merges the commit started, then drops the writer and its lock.
                writer.wait_merging_threads()
            self._index.reload()

    #: In `bulk`, commit after this many records (progress visible, memory bounded).
    bulk_commit_every = 250_000

    @contextlib.contextmanager
    def bulk(self) -> Iterator[None]:
        """Hold the writer across many `index` calls: no commit and merge wait per batch,
        and merges overlap with the analysis of the next batches. Other processes' writes
        wait (and give up after `lock_timeout` with `SearchUnavailable`) meanwhile."""
        with self._lock:
            if self._bulk is not None:  # nested: the outer block commits
                yield
                return
            writer = self._writer(self._bulk_heap)
            self._bulk, self._bulk_pending = writer, 0
            self._index.reload()
            self._bulk_fresh = set() if self._index.searcher().num_docs == 0 else None
            try:
                yield
                writer.commit()
            except BaseException:
                writer.rollback()
                raise
            finally:
                self._bulk = None
                self._bulk_fresh = None
                writer.wait_merging_threads()
            self._index.reload()

    # ------------------------------------------------------------------------ writes

    def index_prepared(self, prepared: Sequence[PreparedDoc]) -> None:
        if not prepared:
            return

        def work(writer: tantivy.IndexWriter) -> None:
            fresh = self._bulk_fresh if writer is self._bulk else None
            for p in prepared:
                rid = p.doc.record_id
                if fresh is None or rid in fresh:
                    writer.delete_documents_by_term("id", rid)
                if fresh is not None:
                    fresh.add(rid)
                writer.add_document(_document(p))

        self._write(work, len(prepared))

    def delete(self, record_ids: Sequence[str]) -> None:
        ids = [str(r) for r in record_ids if r]
        if not ids:
            return

        def work(writer: tantivy.IndexWriter) -> None:
            for rid in dict.fromkeys(ids):
                writer.delete_documents_by_term("id", rid)
                if self._bulk_fresh is not None and writer is self._bulk:
                    self._bulk_fresh.discard(rid)

        self._write(work)

    def clear(self) -> None:
        def work(writer: tantivy.IndexWriter) -> None:
            writer.delete_all_documents()
            if writer is self._bulk:
                self._bulk_fresh = set()

        self._write(work)

    # ----------------------------------------------------------------------- reading

    def _searcher(self) -> tantivy.Searcher:
        if self._closed:
            raise InvalidInput("检索索引已关闭。")
        self._index.reload()   # see commits of other processes too
        return self._index.searcher()

    def count(self) -> int:
        return int(self._searcher().num_docs)

    def get_ids(self) -> set[str]:
        searcher = self._searcher()
        # Counted against live documents, so deleted ids (still in the term dictionary
        # until a merge) report 0.
        terms = searcher.terms_with_prefix("id", "", filter_query=Query.all_query())
        return {term for term, n in terms if n > 0}

    def _search(self, req: SearchRequest, parsed: ParsedQuery, filters: Filters) -> SearchResult:
        searcher = self._searcher()
        query = self._query(parsed, filters, searcher)
        # With facets on, their aggregation counts the matches anyway (every record has
        # exactly one category/security/status value): the ranked search need not count.
        count = not req.facets
        if req.sort == "relevance":
            result = searcher.search(query, req.limit, count=count, offset=req.offset)
        else:
            field, order = (("sort_desc", Order.Desc) if req.sort == "date_desc" else ("sort_asc", Order.Asc))
            result = searcher.search(query, req.limit, count=count, offset=req.offset,
                                     order_by_field=field, order=order)
        stored = [_decode_stored(bytes(searcher.doc(address)["src"][0])) for _, address in result.hits]
        scores = [float(score) if req.sort == "relevance" else 0.0 for score, _ in result.hits]
        hits = make_hits(stored, scores, parsed)
        if not req.facets:
            # tantivy.pyi omits SearchResult.count, which search(count=True) sets
            return SearchResult(total=int(result.count or 0), hits=hits)  # type: ignore[attr-defined]
        facets, total = self._facets(searcher, query)
        return SearchResult(total=total, hits=hits, facets=facets)

    def _facets(self, searcher: tantivy.Searcher, query: Query) -> tuple[dict[str, dict[str, int]], int]:
        """The facet counts, and the number of matches (the buckets add up to it).

        One aggregation over the value combining all five facets reads one column per
        matching record instead of three (at 1M records: half the facet time of a common
        word). A result holding more distinct combinations than `_ALL_FACET_COMBOS` (an
        archive with very many estates and years) is counted by `_facets_apart`."""
        raw = searcher.aggregate(query, {"all": {"terms": {"field": "facets", "size": _ALL_FACET_COMBOS}}})
        combined = raw.get("all", {})
        if combined.get("sum_other_doc_count"):
            return self._facets_apart(searcher, query)
        # unrolled: a common word's result holds a thousand combinations or more
        cat: dict[str, int] = {}
        sec: dict[str, int] = {}
        status: dict[str, int] = {}
        year: dict[str, int] = {}
        project: dict[str, int] = {}
        total = 0
        for bucket in combined.get("buckets", []):
            n = int(bucket["doc_count"])
            total += n
            c, s, st, y, p = str(bucket["key"]).split(_US)
            cat[c] = cat.get(c, 0) + n
            sec[s] = sec.get(s, 0) + n
            status[st] = status.get(st, 0) + n
            year[y] = year.get(y, 0) + n
            project[p] = project.get(p, 0) + n
        out = {"category": cat, "security": sec, "status": status, "year": year, "project": project}
        return {name: dict(list(values.items())[:FACET_SIZE])
                for name, values in order_facets(out).items()}, total

    def _facets_apart(self, searcher: tantivy.Searcher,
                      query: Query) -> tuple[dict[str, dict[str, int]], int]:
        """Facets from three aggregations: category/security/status combined, year, project."""
        aggs = {name: {"terms": {"field": name, "size": size}}
                for name, size in (("facet", _FACET_COMBOS), ("year", FACET_SIZE), ("project", FACET_SIZE))}
        raw = searcher.aggregate(query, aggs)
        out: dict[str, dict[str, int]] = {"category": {}, "security": {}, "status": {}}
        combined = raw.get("facet", {})
        total = int(combined.get("sum_other_doc_count") or 0)
        for bucket in combined.get("buckets", []):
            n = int(bucket["doc_count"])
            total += n
            for name, value in zip(("category", "security", "status"), str(bucket["key"]).split(_US), strict=True):
                out[name][value] = out[name].get(value, 0) + n
        for name in ("year", "project"):
            values: dict[str, int] = {}
            for bucket in raw.get(name, {}).get("buckets", []):
                key = bucket["key"]
                if isinstance(key, float) and key.is_integer():
                    key = int(key)
                values[str(key)] = int(bucket["doc_count"])
            out[name] = values
        return order_facets(out), total

    # ---------------------------------------------------------------------- queries

    def _query(self, parsed: ParsedQuery, filters: Filters, searcher: tantivy.Searcher) -> Query:
        clauses: list[tuple[Occur, Query]] = []
        allowed = set(filters.security)
        parts = [p for p, levels in enumerate(PARTITIONS) if allowed & set(levels)]
        if parsed.root is None:
            clauses.append((Occur.Must, Query.all_query()))
            searched: Sequence[int] = SECURITY_LEVELS
        else:
            clauses.append((Occur.Must, self._node(parsed.root, parts)))
            searched = [level for p in parts for level in PARTITIONS[p]]
        clauses.extend(self._filters(filters, searcher, searched))
        return Query.boolean_query(clauses)

    def _node(self, node: Node, parts: list[int]) -> Query:
        """A parsed query over the reader's partitions. A record lives in one partition,
        so AND, OR and exclusion of per-word alternatives across partitions are exact."""
        if isinstance(node, Word):
            return self._word(node, parts)
        if isinstance(node, Or):
            return Query.boolean_query([(Occur.Should, self._node(it, parts)) for it in node.items])
        if isinstance(node, And):
            clauses = [(Occur.MustNot, self._node(it.item, parts)) if isinstance(it, Not)
                       else (Occur.Must, self._node(it, parts)) for it in node.items]
            return Query.boolean_query(clauses)
        raise AssertionError(f"unexpected query node {node!r}")  # Not only appears inside And

    def _phrase(self, ph: Phrase, part: int) -> Query:
        field = f"{ph.field}{part}"
        variants = [self._tokens(field, toks) for toks in ph.variants()]
        query = variants[0] if len(variants) == 1 else Query.boolean_query(
            [(Occur.Should, q) for q in variants])
        if not ph.guards:
            return query
        return Query.boolean_query([(Occur.Must, query)] + [
            (Occur.Must, _constant(Query.term_query(self._schema, f"q4{part}", g))) for g in ph.guards])

    def _tokens(self, field: str, toks: tuple[str, ...]) -> Query:
        if len(toks) == 1:
            return Query.term_query(self._schema, field, toks[0])
        return Query.phrase_query(self._schema, field, list(toks))

    def _word(self, word: Word, parts: list[int]) -> Query:
        should: list[Query] = []
        for part in parts:
            if word.phrase is not None:
                should.append(self._phrase(word.phrase, part))
            if word.code is not None:
                should.append(Query.boost_query(
                    Query.term_query(self._schema, f"codes{part}", word.code), CODE_BOOST))
        if len(should) == 1:
            return should[0]
        return Query.boolean_query([(Occur.Should, q) for q in should])

    def _filters(self, f: Filters, searcher: tantivy.Searcher,
                 searched: Sequence[int]) -> list[tuple[Occur, Query]]:
        """The filters as boolean clauses, each in its cheaper form; `searched` are the
        security levels the query can reach at all (those of the partitions it reads).

        tantivy has no filter cache, so a filter costs about one step per matching
        document: requiring "security 0 or 1" walks 80% of the index, excluding
        "security 2 or 3" only the 20% that are confidential or secret — and excluding
        "destroyed", which the index rarely holds, costs nothing. The side with fewer
        postings is chosen from the term statistics. Filters score zero.
        """
        s = self._schema
        out: list[tuple[Occur, Query]] = []

        def one_of(field: str, allowed: Sequence[Any], universe: Sequence[Any]) -> None:
            if set(allowed) >= set(universe):
                return
            rest = [v for v in universe if v not in allowed]
            freq = {v: searcher.doc_freq(field, v) for v in universe}
            if sum(freq[v] for v in rest) <= sum(freq[v] for v in allowed):
                out.extend((Occur.MustNot, Query.term_query(s, field, v)) for v in rest if freq[v])
            else:
                out.append((Occur.Must, _constant(_any_term(s, field, list(allowed)))))

        one_of("security", f.security, searched)
        one_of("status", f.status, STATUSES)
        if f.categories is not None:
            out.append((Occur.Must, _constant(_any_term(s, "category", list(f.categories)))))
        if f.record_ids is not None:
            out.append((Occur.Must, _constant(Query.term_set_query(s, "id", list(f.record_ids)))))
        if f.location_prefix is not None:
            out.append((Occur.Must, _constant(Query.term_query(s, "loc", f.location_prefix))))
        if f.year_from is not None or f.year_to is not None:
            out.append((Occur.Must, _constant(Query.range_query(
                s, "year", tantivy.FieldType.Integer,
                f.year_from if f.year_from is not None else -(2**62),
                f.year_to if f.year_to is not None else 2**62))))
        if f.date_from is not None or f.date_to is not None:
            out.append((Occur.Must, _constant(Query.range_query(
                s, "day", tantivy.FieldType.Integer,
                f.date_from.toordinal() if f.date_from else -(2**62),
                f.date_to.toordinal() if f.date_to else 2**62))))
        return out

    def close(self) -> None:
        self._closed = True


_STORED = ("record_id", "archive_no", "title", "category", "location", "date", "text")
_US = "\x1f"  # unit separator between stored fields; the text comes last, so it may hold one


def _encode_stored(d: IndexDoc) -> bytes:
    """What a hit shows, as one stored value: fields joined by US (JSON cost 4× more per
    record, a third of the Python indexing time)."""
    head = _US.join((d.record_id, d.archive_no or "", d.title, d.category, d.location or "",
                     d.date.isoformat() if d.date else ""))
    if head.count(_US) != len(_STORED) - 2:
        head = _US.join(v.replace(_US, " ") for v in (
            d.record_id, d.archive_no or "", d.title, d.category, d.location or "",
            d.date.isoformat() if d.date else ""))
    return (head + _US + d.text).encode("utf-8")


def _decode_stored(raw: bytes) -> dict[str, Any]:
    values = raw.decode("utf-8").split(_US, len(_STORED) - 1)
    out: dict[str, Any] = dict(zip(_STORED, values, strict=True))
    for key in ("archive_no", "location", "date"):
        out[key] = out[key] or None
    return out


def _constant(q: Query) -> Query:
    return Query.const_score_query(q, 0.0)


def _any_term(schema: tantivy.Schema, field: str, values: list[Any]) -> Query:
    """One term, a few terms, or a term set (which builds a bitset: only worth it for many)."""
    if len(values) == 1:
        return Query.term_query(schema, field, values[0])
    if len(values) <= 8:
        return Query.boolean_query([(Occur.Should, Query.term_query(schema, field, v)) for v in values])
    return Query.term_set_query(schema, field, values)


def _document(p: PreparedDoc) -> tantivy.Document:
    d: IndexDoc = p.doc
    doc = tantivy.Document()
    doc.add_text("id", d.record_id)
    doc.add_bytes("src", _encode_stored(d))
    part = _PARTITION_OF[d.security]
    for value in p.tok_values:
        doc.add_text(f"tok{part}", value)
    for value in p.chr_values:
        doc.add_text(f"chr{part}", value)
    for value in p.q4_values:
        doc.add_text(f"q4{part}", value)
    doc.add_text("facet", _US.join((d.category, str(d.security), d.status)))
    doc.add_text("facets", _US.join((d.category, str(d.security), d.status,
                                     "" if d.year is None else str(d.year),
                                     p.locations[0] if p.locations else "")))
    if p.codes:
        doc.add_text(f"codes{part}", " ".join(p.codes))
    if p.locations:
        doc.add_text("loc", " ".join(p.locations))
    doc.add_text("category", d.category)
    doc.add_text("status", d.status)
    if p.locations:
        doc.add_text("project", p.locations[0])
    doc.add_integer("security", d.security)
    if d.year is not None:
        doc.add_integer("year", d.year)
    if d.date is not None:
        doc.add_integer("day", d.date.toordinal())
    doc.add_integer("sort_desc", d.date.toordinal() if d.date else _NO_DATE_DESC)
    doc.add_integer("sort_asc", d.date.toordinal() if d.date else _NO_DATE_ASC)
    return doc
