"""The search index interface: one set of dataclasses and one contract, two engines.

`SearchBackend` is what the search service, the outbox drain and the tests use; the
embedded engine (tantivy, `dangan.search.embedded`) and Elasticsearch
(`dangan.search.elastic`) implement it with the same semantics, checked by one test suite
run against both. Everything engine-neutral lives here so that the engines cannot drift:
request validation, the reader's clearance turned into filters (part of the query, so
totals, facets and pages never count what the reader may not see), the analysed fields
of a document, and snippets.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from dangan.errors import DanganError, InvalidInput
from dangan.search import analysis
from dangan.search.query import ParsedQuery, parse

__all__ = [
    "FACETS",
    "SECURITY_LEVELS",
    "SORTS",
    "STATUSES",
    "Filters",
    "Hit",
    "IndexDoc",
    "PreparedDoc",
    "Reader",
    "SearchAccessRefused",
    "SearchBackend",
    "SearchRequest",
    "SearchResult",
    "SearchUnavailable",
    "make_hits",
    "open_backend",
    "prepare",
]

#: 0 公开 public, 1 内部 internal, 2 秘密 confidential, 3 机密 secret.
SECURITY_LEVELS = (0, 1, 2, 3)
STATUSES = ("active", "queued", "on_loan", "on_hold", "destroyed")
SORTS = ("relevance", "date_desc", "date_asc")
#: Facet names, in display order; "project" is the first segment of the location code.
FACETS = ("category", "year", "security", "status", "project")
#: How many values one facet reports at most (the busiest first).
FACET_SIZE = 200
#: Deepest page either engine serves (Elasticsearch's default result window).
MAX_WINDOW = 10_000
MAX_LIMIT = 1_000
#: The title is indexed this many times ahead of the body, so a title match weighs like
#: repeated mentions — ranking titles first without an extra query clause per word
#: (a separate boosted title field cost 30–50% more per query at a million records).
TITLE_REPEAT = 2
#: A code matched in the code fields (档号, location, 维修编码) outranks text mentions.
CODE_BOOST = 4.0


class SearchUnavailable(DanganError):
    """The search index cannot be reached or written right now (server down, index locked)."""

    http_status = 503


class SearchAccessRefused(SearchUnavailable):
    """The search server refused Dangan (credentials rejected or missing, no rights on the
    index, a certificate not trusted): a setting to fix, not an outage — but, like an
    outage, the outbox keeps the changes until the index can be written again."""


@dataclass(frozen=True)
class IndexDoc:
    """What the index holds about one record; `text` is already PII-masked by ingest.

    `store_text=False` (records at or above ``[search] withhold_text_from``): the text is
    analysed and searchable, but not kept in the stored fields a hit shows; the search
    service makes such hits' snippets from the decrypted text instead."""

    record_id: str
    archive_no: str | None
    aliases: tuple[str, ...]      # older 档号 and the provisional number; searchable like archive_no
    title: str
    category: str                 # scheme key, e.g. "maintenance"
    location: str | None          # "A-01-001-0101" (prefix-searchable)
    year: int | None
    date: datetime.date | None
    security: int                 # 0 public, 1 internal, 2 confidential, 3 secret
    status: str                   # active | queued | on_loan | on_hold | destroyed
    text: str
    maintenance_code: str | None = None
    store_text: bool = True

    @property
    def project(self) -> str | None:
        """First segment of the location code (the estate), for the "project" facet."""
        if not self.location:
            return None
        return analysis.location_prefixes(self.location)[0]


@dataclass(frozen=True)
class Reader:
    """Who is searching: sees records with security <= clearance, in `categories` if given."""

    clearance: int                            # sees security <= clearance
    categories: frozenset[str] | None = None  # None = all categories


@dataclass
class SearchRequest:
    query: str
    reader: Reader
    categories: list[str] | None = None
    location_prefix: str | None = None
    year_from: int | None = None
    year_to: int | None = None
    date_from: datetime.date | None = None
    date_to: datetime.date | None = None
    security: list[int] | None = None
    status: list[str] | None = None          # default: everything but destroyed
    record_ids: list[str] | None = None      # restrict (used for blind-index PII lookups)
    sort: str = "relevance"                  # relevance | date_desc | date_asc
    offset: int = 0
    limit: int = 20
    facets: bool = True


@dataclass
class Hit:
    """One record found; `score` is the relevance (0 when sorted by date)."""

    record_id: str
    archive_no: str | None
    title: str
    category: str
    location: str | None
    date: datetime.date | None
    score: float
    snippet: str                             # HTML-escaped, matches in <mark>…</mark>
    text_stored: bool = True                 # False: the index holds no text to show for it


@dataclass
class SearchResult:
    """`total` and `facets` count every matching record the reader may see, not one page."""

    total: int
    hits: list[Hit]
    facets: dict[str, dict[str, int]] = field(default_factory=dict)


# ----------------------------------------------------------------------------- filters


@dataclass(frozen=True)
class Filters:
    """Every restriction of one search, the reader's rights included, engine-neutral.

    `None` means "no restriction"; an empty tuple means "nothing can match" (then
    `impossible` is true and the engines do not even run the query).
    """

    categories: tuple[str, ...] | None
    security: tuple[int, ...]
    status: tuple[str, ...]
    location_prefix: str | None
    year_from: int | None
    year_to: int | None
    date_from: datetime.date | None
    date_to: datetime.date | None
    record_ids: tuple[str, ...] | None

    @property
    def impossible(self) -> bool:
        return (self.categories == () or not self.security or not self.status
                or self.record_ids == ())


def _ints(values: Iterable[Any], what: str) -> list[int]:
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int):
            raise InvalidInput(f"{what}必须是整数，收到的是“{v}”。")
        out.append(v)
    return out


def build_filters(req: SearchRequest) -> Filters:
    """Validate a request and fold the reader's rights into its filters."""
    reader = req.reader
    if not isinstance(reader, Reader):
        raise InvalidInput("检索必须指明读者（Reader）及其密级。")
    _ints([reader.clearance], "读者密级")
    if reader.clearance not in SECURITY_LEVELS:
        raise InvalidInput(f"读者密级应为 0–3，收到的是 {reader.clearance}。")
    if req.sort not in SORTS:
        raise InvalidInput(f"排序方式应为 {' / '.join(SORTS)} 之一，收到的是“{req.sort}”。")
    _ints([req.offset, req.limit], "分页参数")
    if req.offset < 0 or req.limit < 0:
        raise InvalidInput("分页参数不能为负数。")
    if req.limit > MAX_LIMIT:
        raise InvalidInput(f"每页最多 {MAX_LIMIT} 条结果。")
    if req.offset + req.limit > MAX_WINDOW:
        raise InvalidInput(f"只能翻到前 {MAX_WINDOW} 条结果，请加筛选条件缩小范围。")
    if req.year_from is not None and req.year_to is not None and req.year_from > req.year_to:
        raise InvalidInput("年度范围的起点晚于终点，请检查。")
    if req.date_from is not None and req.date_to is not None and req.date_from > req.date_to:
        raise InvalidInput("日期范围的起点晚于终点，请检查。")
    for v in (req.year_from, req.year_to):
        if v is not None:
            _ints([v], "年度")
    for d in (req.date_from, req.date_to):
        if d is not None and not isinstance(d, datetime.date):
            raise InvalidInput(f"日期必须是日期值，收到的是“{d}”。")

    categories: set[str] | None = None
    if req.categories is not None:
        categories = {str(c) for c in req.categories}
    if reader.categories is not None:
        categories = set(reader.categories) if categories is None else categories & set(reader.categories)

    security = set(SECURITY_LEVELS[: reader.clearance + 1])
    if req.security is not None:
        asked = set(_ints(req.security, "密级"))
        bad = asked - set(SECURITY_LEVELS)
        if bad:
            raise InvalidInput(f"密级应为 0–3，收到的是 {sorted(bad)[0]}。")
        security &= asked

    if req.status is None:
        status = set(STATUSES) - {"destroyed"}
    else:
        status = {str(s) for s in req.status}
        bad_status = status - set(STATUSES)
        if bad_status:
            raise InvalidInput(f"状态应为 {' / '.join(STATUSES)} 之一，收到的是“{sorted(bad_status)[0]}”。")

    location = None
    if req.location_prefix is not None and str(req.location_prefix).strip():
        location = analysis.normalize_code(str(req.location_prefix))
        if not location:
            raise InvalidInput(f"位置编码前缀“{req.location_prefix}”无效。")

    record_ids = None if req.record_ids is None else tuple(dict.fromkeys(str(r) for r in req.record_ids))
    return Filters(
        categories=None if categories is None else tuple(sorted(categories)),
        security=tuple(sorted(security)),
        status=tuple(sorted(status)),
        location_prefix=location,
        year_from=req.year_from,
        year_to=req.year_to,
        date_from=req.date_from,
        date_to=req.date_to,
        record_ids=record_ids,
    )


def empty_result(req: SearchRequest) -> SearchResult:
    return SearchResult(total=0, hits=[], facets={f: {} for f in FACETS} if req.facets else {})


def order_facets(raw: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """Facet values busiest first (ties by value), zero counts dropped, every facet present."""
    out: dict[str, dict[str, int]] = {}
    for name in FACETS:
        values = {k: v for k, v in raw.get(name, {}).items() if v > 0 and k != ""}
        out[name] = dict(sorted(values.items(), key=lambda kv: (-kv[1], kv[0])))
    return out


# ------------------------------------------------------------------------ documents


@dataclass(frozen=True)
class PreparedDoc:
    """A document with its analysed fields, computed once for whichever engine."""

    doc: IndexDoc
    tok: str              # body token streams (see dangan.search.analysis)
    chr: str
    q4: str
    title_tok: str
    title_chr: str
    title_q4: str
    codes: tuple[str, ...]
    locations: tuple[str, ...]

    @property
    def tok_values(self) -> list[str]:
        """The values of the ``tok`` field: the title `TITLE_REPEAT` times, then the body
        (separate values, so no phrase matches across them)."""
        return [self.title_tok] * TITLE_REPEAT + [self.tok]

    @property
    def chr_values(self) -> list[str]:
        return [self.title_chr] * TITLE_REPEAT + [self.chr]

    @property
    def q4_values(self) -> list[str]:
        return [self.title_q4] * TITLE_REPEAT + [self.q4]

    @property
    def stored(self) -> dict[str, Any]:
        """What a hit shows, as stored in the index (JSON-friendly)."""
        d = self.doc
        return {
            "record_id": d.record_id,
            "archive_no": d.archive_no,
            "title": d.title,
            "category": d.category,
            "location": d.location,
            "date": d.date.isoformat() if d.date else None,
            "text": d.text,
        }


def _check_doc(d: IndexDoc) -> None:
    if not isinstance(d, IndexDoc):
        raise InvalidInput("只能索引 IndexDoc。")
    if not d.record_id:
        raise InvalidInput("索引文档缺少 record_id。")
    if d.security not in SECURITY_LEVELS:
        raise InvalidInput(f"档案 {d.record_id} 的密级应为 0–3，收到的是 {d.security}。")
    if d.status not in STATUSES:
        raise InvalidInput(f"档案 {d.record_id} 的状态“{d.status}”无效。")


def prepare(docs: Sequence[IndexDoc]) -> list[PreparedDoc]:
    """Analyse a batch (one vectorised pass for all titles and texts); the last version
    of a record id in the batch wins, as it would with sequential upserts."""
    last: dict[str, IndexDoc] = {}
    for d in docs:
        _check_doc(d)
        last.pop(d.record_id, None)
        last[d.record_id] = d
    batch = list(last.values())
    if not batch:
        return []
    toks, chrs, quads = analysis.analyze([d.title for d in batch] + [d.text for d in batch])
    n = len(batch)
    out = []
    for i, d in enumerate(batch):
        if not d.store_text:   # analysed above; the stored fields get no text
            d = dataclasses.replace(d, text="")
        codes: list[str] = []
        for c in (d.archive_no, *d.aliases, d.location, d.maintenance_code):
            if c:
                codes.extend(analysis.code_prefixes(c))
        out.append(PreparedDoc(
            doc=d,
            tok=toks[n + i],
            chr=chrs[n + i],
            q4=quads[n + i],
            title_tok=toks[i],
            title_chr=chrs[i],
            title_q4=quads[i],
            codes=tuple(dict.fromkeys(codes)),
            locations=tuple(analysis.location_prefixes(d.location)),
        ))
    return out


def make_hits(stored: Sequence[dict[str, Any]], scores: Sequence[float], parsed: ParsedQuery) -> list[Hit]:
    """Hits from the stored fields, with their snippets (made in one batch)."""
    snippets = analysis.snippets([s.get("text") or "" for s in stored], parsed.highlight)
    hits = []
    for s, score, snip in zip(stored, scores, snippets, strict=True):
        date = s.get("date")
        hits.append(Hit(
            record_id=s["record_id"],
            archive_no=s.get("archive_no"),
            title=s.get("title") or "",
            category=s.get("category") or "",
            location=s.get("location"),
            date=datetime.date.fromisoformat(date) if date else None,
            score=float(score),
            snippet=snip,
            text_stored=bool(s.get("text")),
        ))
    return hits


# --------------------------------------------------------------------------- interface


class SearchBackend(ABC):
    """A search index. Writes are idempotent upserts/deletes by record id; searches see
    every committed change; the reader's rights are applied inside the query."""

    def index(self, docs: Sequence[IndexDoc]) -> None:
        """Add or replace these records (by record_id); one batch is one commit."""
        self.index_prepared(prepare(docs))

    @abstractmethod
    def index_prepared(self, prepared: Sequence[PreparedDoc]) -> None:
        """`index` for documents already analysed by `prepare` (possibly in another
        process: the outbox drain analyses in its loader processes)."""

    @abstractmethod
    def delete(self, record_ids: Sequence[str]) -> None:
        """Remove these records; ids not in the index are ignored."""

    @contextlib.contextmanager
    def bulk(self) -> Iterator[None]:
        """Group many `index`/`delete` calls (a rebuild) into one long write.

        Changes become visible when the block ends (or at intermediate commits); the
        embedded index keeps its single writer for the whole block, so other writers
        wait. The default does nothing special.
        """
        yield

    def search(self, req: SearchRequest) -> SearchResult:
        """Ranked, filtered, faceted hits the reader is allowed to see."""
        filters = build_filters(req)
        parsed = parse(req.query)
        if filters.impossible:
            return empty_result(req)
        return self._search(req, parsed, filters)

    @abstractmethod
    def _search(self, req: SearchRequest, parsed: ParsedQuery, filters: Filters) -> SearchResult:
        """Engine part of `search`, given a validated request."""

    @abstractmethod
    def get_ids(self) -> set[str]:
        """Every record id in the index (for consistency checks against the database)."""

    @abstractmethod
    def count(self) -> int:
        """How many records the index holds."""

    @abstractmethod
    def clear(self) -> None:
        """Remove every record (before a rebuild)."""

    @abstractmethod
    def close(self) -> None:
        """Release files, locks and connections."""

    def __enter__(self) -> SearchBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_backend(kind: str, **settings: Any) -> SearchBackend:
    """The backend named in the configuration.

    ``open_backend("embedded", path=DIR)`` — tantivy in a directory (default, no server);
    ``open_backend("elasticsearch", url=URL, index=NAME)`` — an Elasticsearch node.
    """
    if kind == "embedded":
        from dangan.search.embedded import EmbeddedBackend

        return EmbeddedBackend(**settings)
    if kind in ("elasticsearch", "elastic", "es"):
        from dangan.search.elastic import ElasticBackend

        return ElasticBackend(**settings)
    raise InvalidInput(f"未知的检索后端“{kind}”，应为 embedded 或 elasticsearch。")
