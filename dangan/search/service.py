"""The search service: what the CLI, the web pages and the API call.

It owns the rules the backends must not be trusted with alone: the reader's clearance
and category rights go into every request; an exact 身份证号, mobile or bank-card
number is looked up through the blind index (the index never holds the number); every
query is an audit entry (with personal numbers masked). It also keeps the index in step
with the database: record changes leave a row in the outbox in the same transaction,
and `sync` applies them idempotently; `reindex` rebuilds from the database.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import multiprocessing
import os
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator

from sqlalchemy import delete, func, select

from dangan.archive import codes as codes_mod
from dangan.archive.models import ArchiveAlias, BlindIndex, Outbox, Record
from dangan.archive.permissions import LEVELS, Actor
from dangan.archive.pii import blind_token, mask_text, pii_query
from dangan.errors import DanganError, InvalidInput, PermissionDenied
from dangan.search.backend import IndexDoc, Reader, SearchBackend, SearchRequest

SYNC_BATCH = 500
PARALLEL_FROM = 5000  # outbox rows; below this a process pool costs more than it saves


_LOADER: SearchService | None = None


def _init_loader(settings) -> None:  # type: ignore[no-untyped-def]
    """Pool worker: its own connection to the archive, to read and decrypt records."""
    global _LOADER
    from dangan.system import open_dangan

    _LOADER = SearchService(open_dangan(settings=settings), backend=None)  # type: ignore[arg-type]


def _load_docs(record_ids: list[str]) -> list[IndexDoc]:
    assert _LOADER is not None
    return _LOADER.load_docs(record_ids)


class SearchService:
    def __init__(self, system, backend: SearchBackend) -> None:  # type: ignore[no-untyped-def]
        self.system = system
        self.db = system.db
        self.scheme = system.scheme
        self.audit = system.audit
        self.backend = backend

    # -- queries ----------------------------------------------------------------------

    def search(self, actor: Actor, query: str, *, categories: list[str] | None = None,
               location: str | None = None, year_from: int | None = None, year_to: int | None = None,
               date_from: dt.date | None = None, date_to: dt.date | None = None,
               security: list[str] | None = None, status: list[str] | None = None,
               sort: str = "relevance", offset: int = 0, limit: int = 20) -> dict:
        """Ranked hits the actor may see, with facets; the count never includes the rest."""
        if not actor.can("search"):
            with self.db.session() as s:
                self.audit.append(s, actor.name, "search", None, "denied")
            raise PermissionDenied(f"用户 {actor.name} 无权检索档案。")
        query = (query or "").strip()
        if len(query) > 500:
            raise InvalidInput("检索词过长（最多 500 个字符）。")
        if not 1 <= limit <= 200 or offset < 0 or offset > 100_000:
            raise InvalidInput("分页参数无效：limit 应在 1–200 之间，offset 不小于 0。")
        if sort not in ("relevance", "date_desc", "date_asc"):
            raise InvalidInput("排序方式无效：可选 relevance、date_desc、date_asc。")
        cats = [self.scheme.category(c).key for c in categories] if categories else None
        prefix = str(codes_mod.parse_location(location, self.scheme.codes)) if location else None
        levels = [self.scheme.security(x).level for x in security] if security else None
        record_ids = None
        logged_query = query
        pii = pii_query(query) if query else None
        if pii is not None:
            kind, value = pii
            token = blind_token(self.system.blind_key, kind, value)
            with self.db.read() as s:
                record_ids = list(s.execute(select(BlindIndex.record_id).where(BlindIndex.token == token))
                                  .scalars()) or ["-"]
            query = ""
            logged_query = mask_text(logged_query)[0]
        req = SearchRequest(query=query, reader=Reader(actor.level, actor.categories), categories=cats,
                            location_prefix=prefix, year_from=year_from, year_to=year_to,
                            date_from=date_from, date_to=date_to, security=levels, status=status,
                            record_ids=record_ids, sort=sort, offset=offset, limit=limit)
        result = self.backend.search(req)
        with self.db.session() as s:
            self.audit.append(s, actor.name, "search", None, "ok", {
                "query": logged_query, "categories": cats, "location": prefix, "year_from": year_from,
                "year_to": year_to, "date_from": date_from, "date_to": date_to, "security": security,
                "status": status, "sort": sort, "offset": offset, "hits": result.total})
        return {
            "total": result.total,
            "hits": [{"archive_no": h.archive_no, "title": h.title, "category": h.category,
                      "location": h.location, "date": h.date.isoformat() if h.date else None,
                      "score": round(h.score, 4), "snippet": h.snippet} for h in result.hits],
            "facets": result.facets,
        }

    def dossier(self, actor: Actor, location: str) -> dict:
        """一户一档: every record of a location prefix the actor may see, by category, newest first."""
        prefix = str(codes_mod.parse_location(location, self.scheme.codes))
        total, rows = self.system.records.list(actor, offset=0, limit=10_000, location_prefix=prefix)
        groups: dict[str, list[dict]] = defaultdict(list)
        for r in sorted(rows, key=lambda r: (r["date"] or "", r["archive_no"] or ""), reverse=True):
            groups[r["category"] or "unclassified"].append(r)
        order = [c.key for c in self.scheme.categories] + ["unclassified"]
        with self.db.session() as s:
            self.audit.append(s, actor.name, "dossier", prefix, "ok", {"records": total})
        return {"location": prefix, "total": total,
                "categories": [{"category": k, "name": self._cat_name(k), "records": groups[k]}
                               for k in order if groups.get(k)]}

    def _cat_name(self, key: str) -> str:
        return "待分类" if key == "unclassified" else self.scheme.category(key).name

    # -- keeping the index in step ------------------------------------------------------

    def index_docs(self, s, records: list[Record]) -> list[IndexDoc]:  # type: ignore[no-untyped-def]
        """What the index holds for records: metadata and PII-masked text (one alias query)."""
        aliases: dict[str, list[str]] = defaultdict(list)
        ids = [r.id for r in records]
        for alias, rid in s.execute(select(ArchiveAlias.alias, ArchiveAlias.record_id)
                                    .where(ArchiveAlias.record_id.in_(ids))):
            aliases[rid].append(alias)
        return [self._doc(rec, aliases[rec.id]) for rec in records]

    def _doc(self, rec: Record, aliases: list[str]) -> IndexDoc:
        if rec.provisional_no and rec.provisional_no not in aliases:
            aliases.append(rec.provisional_no)
        text = ""
        if rec.has_text:
            try:
                text = "\n".join(p.get("text", "") for p in self.system.records.read_text_pages(rec))
            except DanganError:
                text = ""  # integrity failures are reported by verify; the metadata stays findable
        return IndexDoc(
            record_id=rec.id, archive_no=rec.archive_no or rec.provisional_no, aliases=tuple(aliases),
            title=mask_text(rec.title)[0], category=rec.category or "unclassified", location=rec.location,
            year=rec.year, date=rec.doc_date, security=LEVELS.get(rec.security, 3), status=rec.status,
            text=mask_text(text)[0], maintenance_code=rec.maintenance_code)

    def sync(self, limit: int | None = None, workers: int | None = None) -> int:
        """Apply pending outbox rows to the index; safe to run again or concurrently.

        Rows are deleted only after the index has committed what they asked for, so a
        crash in between re-applies them (harmless) instead of losing them. A large
        backlog is loaded (decrypted, masked) by a process pool while this process
        writes the index."""
        backlog = self.pending()
        if not backlog:
            return 0
        workers = workers if workers is not None else (os.cpu_count() or 1)
        pool = None
        if workers > 1 and backlog >= PARALLEL_FROM and (limit is None or limit >= PARALLEL_FROM):
            pool = cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver"),
                                          initializer=_init_loader, initargs=(self.system.settings,))
        applied = 0
        done: list[int] = []
        try:
            with self.backend.bulk():
                pending: deque[tuple[list[int], cf.Future | list[IndexDoc], list[str]]] = deque()
                for row_ids, live, gone in self._plans(limit):
                    if pool is None:
                        pending.append((row_ids, self.load_docs(live), gone))
                    else:
                        pending.append((row_ids, pool.submit(_load_docs, live), gone))
                    while pending and (pool is None or len(pending) > 2 * workers):
                        applied += self._apply(*pending.popleft(), done)
                while pending:
                    applied += self._apply(*pending.popleft(), done)
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
        for start in range(0, len(done), SYNC_BATCH):
            with self.db.session() as s:
                s.execute(delete(Outbox).where(Outbox.id.in_(done[start:start + SYNC_BATCH])))
        return applied

    def _plans(self, limit: int | None) -> Iterator[tuple[list[int], list[str], list[str]]]:
        """Batches of outbox rows: (row ids, records to (re)index, records to remove)."""
        after, seen = 0, 0
        while limit is None or seen < limit:
            with self.db.read() as s:
                rows = list(s.execute(select(Outbox.id, Outbox.record_id, Outbox.op).where(Outbox.id > after)
                                      .order_by(Outbox.id).limit(SYNC_BATCH)))
                if not rows:
                    return
                latest: dict[str, str] = {}
                for _, record_id, op in rows:
                    latest[record_id] = op
                status = dict(s.execute(select(Record.id, Record.status).where(Record.id.in_(list(latest)))).all())
            live = [i for i, op in latest.items() if op == "upsert" and status.get(i) not in (None, "destroyed")]
            gone = [i for i in latest if i not in live]
            yield [r[0] for r in rows], live, gone
            after = rows[-1][0]
            seen += len(rows)
            if len(rows) < SYNC_BATCH:
                return

    def _apply(self, row_ids: list[int], docs: cf.Future | list[IndexDoc], gone: list[str],
               done: list[int]) -> int:
        docs = docs.result() if isinstance(docs, cf.Future) else docs
        if docs:
            self.backend.index(docs)
        if gone:
            self.backend.delete(gone)
        done.extend(row_ids)
        return len(row_ids)

    def load_docs(self, record_ids: list[str]) -> list[IndexDoc]:
        """Index documents for these records, as they are in the database now."""
        if not record_ids:
            return []
        with self.db.read() as s:
            records = list(s.execute(select(Record).where(Record.id.in_(record_ids))).scalars())
            return self.index_docs(s, [r for r in records if r.status != "destroyed"])

    def pending(self) -> int:
        with self.db.read() as s:
            return s.execute(select(func.count()).select_from(Outbox)).scalar_one()

    def reindex(self, actor: Actor | None = None) -> int:
        """Rebuild the index from the database (the source of truth)."""
        if actor is not None and not actor.can("search.admin"):
            raise PermissionDenied(f"用户 {actor.name} 无权重建索引。")
        with self.db.read() as s:
            mark = s.execute(select(func.max(Outbox.id))).scalar_one() or 0
        self.backend.clear()
        count = 0
        last = ""
        with self.backend.bulk():
            while True:
                with self.db.read() as s:
                    batch = list(s.execute(select(Record).where(Record.id > last, Record.status != "destroyed")
                                           .order_by(Record.id).limit(SYNC_BATCH)).scalars())
                    docs = self.index_docs(s, batch)
                if not batch:
                    break
                self.backend.index(docs)
                count += len(docs)
                last = batch[-1].id
        with self.db.session() as s:
            s.execute(delete(Outbox).where(Outbox.id <= mark))
            if actor is not None:
                self.audit.append(s, actor.name, "search.reindex", None, "ok", {"records": count})
        return count

    def consistency(self) -> dict:
        """Which records the index and the database disagree about (for checks and tests)."""
        with self.db.read() as s:
            wanted = set(s.execute(select(Record.id).where(Record.status != "destroyed")).scalars())
        have = self.backend.get_ids()
        return {"missing": sorted(wanted - have), "extra": sorted(have - wanted), "pending": self.pending()}


def filters_from_args(args: Iterable[tuple[str, str]]) -> dict:
    """Shared by the CLI and the web: turn query-string style pairs into search kwargs."""
    out: dict = {}
    for key, value in args:
        if not value:
            continue
        if key in ("year_from", "year_to", "offset", "limit"):
            try:
                out[key] = int(value)
            except ValueError:
                raise InvalidInput(f"参数 {key} 应为整数。") from None
        elif key in ("date_from", "date_to"):
            try:
                out[key] = dt.date.fromisoformat(value)
            except ValueError:
                raise InvalidInput(f"参数 {key} 应为 YYYY-MM-DD。") from None
        elif key in ("category", "security", "status"):
            out.setdefault({"category": "categories"}.get(key, key), []).append(value)
        elif key in ("location", "sort"):
            out[key] = value
    return out
