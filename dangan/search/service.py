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
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import and_, delete, false, func, not_, or_, select
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import ColumnElement

from dangan.archive import codes as codes_mod
from dangan.archive.derived_keys import BLIND_INDEX
from dangan.archive.models import ArchiveAlias, BlindIndex, Outbox, Record
from dangan.archive.permissions import LEVELS, Actor
from dangan.archive.pii import blind_token, mask_text, pii_query
from dangan.archive.records import Sealed
from dangan.errors import DanganError, InvalidInput, PermissionDenied
from dangan.search import analysis
from dangan.search.backend import Hit, IndexDoc, PreparedDoc, Reader, SearchBackend, SearchRequest, prepare
from dangan.search.query import And, Node, Not, Or, Word, parse

if TYPE_CHECKING:
    from dangan.config import Settings
    from dangan.system import Dangan

SYNC_BATCH = 500
PARALLEL_FROM = 5000  # outbox rows; below this a process pool costs more than it saves
_DELETE_PER_COMMIT = 20_000  # applied outbox rows removed per transaction


_LOADER: SearchService | None = None


def _init_loader(settings: Settings) -> None:
    """Pool worker: its own connection to the archive, to read and decrypt records."""
    global _LOADER
    from dangan.system import open_dangan

    # no backend: the loader only reads and prepares documents, the parent writes the index
    _LOADER = SearchService(open_dangan(settings=settings), backend=None)  # type: ignore[arg-type]


def _load_prepared(record_ids: list[str]) -> list[PreparedDoc]:
    """Pool worker: read, decrypt, mask and analyse; the parent only writes the index."""
    assert _LOADER is not None
    return prepare(_LOADER.load_docs(record_ids))


#: What the index needs of a record: a Core select of these columns (ORM objects cost a
#: third of the drain's time and the drain never changes a record).
_DOC_COLUMNS = (Record.id, Record.archive_no, Record.provisional_no, Record.title, Record.category,
                Record.location, Record.year, Record.doc_date, Record.security, Record.status,
                Record.maintenance_code, Record.has_text, Record.suite, Record.kek_id, Record.wrapped_dek)


class _DocRow(Sealed, Protocol):
    """A row of `_DOC_COLUMNS` (what `_doc` reads; the decryption columns come from Sealed)."""

    @property
    def archive_no(self) -> str | None: ...
    @property
    def provisional_no(self) -> str | None: ...
    @property
    def title(self) -> str: ...
    @property
    def category(self) -> str | None: ...
    @property
    def location(self) -> str | None: ...
    @property
    def year(self) -> int | None: ...
    @property
    def doc_date(self) -> dt.date | None: ...
    @property
    def security(self) -> str: ...
    @property
    def maintenance_code(self) -> str | None: ...

#: A batch on its way to the index: (outbox row ids, documents or their future, ids to remove).
_Batch = tuple[list[int], "cf.Future[list[PreparedDoc]] | list[IndexDoc]", list[str]]


class SearchService:
    def __init__(self, system: Dangan, backend: SearchBackend) -> None:
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
               sort: str = "relevance", offset: int = 0, limit: int = 20, facets: bool = True) -> dict:
        """Ranked hits the actor may see, with facets; the count never includes the rest.

        Facets cost as much as the search itself on common words; callers that do not
        show them (the CLI's text output, an API client paging on) pass facets=False."""
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
            derived = self.system.records.derived
            with self.db.read() as s:
                # the current key, and during a rebuild's last step the previous one too
                tokens = [blind_token(derived.key(s, BLIND_INDEX, g), kind, value)
                          for g in derived.lookup(s, BLIND_INDEX)]
                record_ids = list(s.execute(select(BlindIndex.record_id).distinct()
                                            .where(BlindIndex.token.in_(tokens))).scalars()) or ["-"]
            query = ""
            logged_query = mask_text(logged_query)[0]
        req = SearchRequest(query=query, reader=Reader(actor.level, actor.categories), categories=cats,
                            location_prefix=prefix, year_from=year_from, year_to=year_to,
                            date_from=date_from, date_to=date_to, security=levels, status=status,
                            record_ids=record_ids, sort=sort, offset=offset, limit=limit, facets=facets)
        result = self.backend.search(req)
        self._withheld_snippets(actor, result.hits, query)
        catalogue_total = 0
        catalogue: list[dict] = []
        if record_ids is None:  # a personal number is looked up in the text: never in the catalogue
            catalogue_total, catalogue = self._catalogue(
                actor, query, cats, prefix, year_from if date_from is None else max(year_from or 0, date_from.year),
                year_to if date_to is None else min(year_to or 9999, date_to.year), levels, status, sort,
                offset, limit)
        with self.db.session() as s:
            self.audit.append(s, actor.name, "search", None, "ok", {
                "query": logged_query, "categories": cats, "location": prefix, "year_from": year_from,
                "year_to": year_to, "date_from": date_from, "date_to": date_to, "security": security,
                "status": status, "sort": sort, "offset": offset, "hits": result.total,
                "catalogue": catalogue_total})
        return {
            "total": result.total,
            "hits": [{"archive_no": h.archive_no, "title": h.title, "category": h.category,
                      "location": h.location, "date": h.date.isoformat() if h.date else None,
                      "score": round(h.score, 4), "snippet": h.snippet} for h in result.hits],
            "facets": result.facets,
            "catalogue_total": catalogue_total,
            "catalogue": catalogue,
        }

    def _catalogue(self, actor: Actor, query: str, cats: list[str] | None, prefix: str | None,
                   year_from: int | None, year_to: int | None, levels: list[int] | None,
                   status: list[str] | None, sort: str, offset: int, limit: int) -> tuple[int, list[dict]]:
        """目录可查: catalogue entries of records above the actor's clearance whose category's
        scheme entry makes them visible (and which the actor's category rights allow).

        A database query on metadata only — 档号 or a prefix of it, location prefix,
        category, year, and the title's words where the entry is "titled" — so a word of
        the text can never find one; `total`, hits and facets do not count them."""
        visible = self.scheme.catalogue_keys()
        if actor.categories is not None:
            visible = [k for k in visible if k in actor.categories]
        if cats is not None:
            visible = [k for k in visible if k in cats]
        if not visible:
            return 0, []
        titled = [k for k in visible if k in self.scheme.catalogue_keys("titled")]
        above = [k for k, lv in LEVELS.items() if lv > actor.level and (levels is None or lv in levels)]
        if not above:
            return 0, []
        where: list[ColumnElement[bool]] = [
            Record.category.in_(visible), Record.archive_no.is_not(None), Record.security.in_(above),
            Record.status != "destroyed"]  # a destroyed record has nothing left to lend
        if status:
            where.append(self.system.record_status.clause(status))
        if prefix:
            where.append(_code_match(Record.location, prefix))
        if year_from is not None:
            where.append(Record.year >= year_from)
        if year_to is not None:
            where.append(Record.year <= year_to)
        root = parse(query).root
        if root is not None:
            where.append(_metadata_match(root, titled))
        order = {"relevance": (Record.archive_no,),
                 "date_desc": (Record.year.desc(), Record.archive_no.desc()),
                 "date_asc": (Record.year, Record.archive_no)}[sort]
        with self.db.read() as s:
            total = s.execute(select(func.count()).select_from(Record).where(*where)).scalar_one()
            rows = s.execute(select(Record.archive_no, Record.category, Record.location, Record.year,
                                    Record.title).where(*where).order_by(*order).offset(offset).limit(limit)).all()
        entries = []
        for no, category, location, year, title in rows:
            entry = {"archive_no": no, "category": category, "location": location, "year": year}
            if category in titled:
                entry["title"] = mask_text(title)[0]
            entry["needs_loan"] = True
            entries.append(entry)
        return total, entries

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

    def _withheld_snippets(self, actor: Actor, hits: list[Hit], query: str) -> None:
        """Snippets for the hits of this page whose text the index does not store
        (``[search] withhold_text_from``): decrypted and masked as for indexing, and only
        while the database still lets this reader see the record."""
        level = self.system.settings.withhold_text_level
        if level is None:
            return
        ids = [h.record_id for h in hits if not h.text_stored]
        if not ids:
            return
        with self.db.read() as s:
            rows = {r.id: r for r in s.execute(select(*_DOC_COLUMNS).where(Record.id.in_(ids)))}

        def shown(rec: _DocRow | None) -> bool:
            return (rec is not None and rec.has_text and level <= LEVELS.get(rec.security, 3) <= actor.level
                    and (actor.categories is None or (rec.category or "unclassified") in actor.categories))

        todo = [(h, rows[h.record_id]) for h in hits if not h.text_stored and shown(rows.get(h.record_id))]
        if not todo:
            return
        texts = [self._text(rec) for _, rec in todo]
        for (h, _), snip in zip(todo, analysis.snippets(texts, parse(query).highlight), strict=True):
            h.snippet = snip

    def _cat_name(self, key: str) -> str:
        return "待分类" if key == "unclassified" else self.scheme.category(key).name

    # -- keeping the index in step ------------------------------------------------------

    def _doc(self, rec: _DocRow, aliases: list[str], status: str) -> IndexDoc:
        """Metadata and PII-masked text of one record (a row with the `_DOC_COLUMNS`);
        `status` is the derived one (dangan.search.status), not `rec.status`."""
        if rec.provisional_no and rec.provisional_no not in aliases:
            aliases.append(rec.provisional_no)
        security = LEVELS.get(rec.security, 3)
        withhold = self.system.settings.withhold_text_level
        return IndexDoc(
            record_id=rec.id, archive_no=rec.archive_no or rec.provisional_no, aliases=tuple(aliases),
            title=mask_text(rec.title)[0], category=rec.category or "unclassified", location=rec.location,
            year=rec.year, date=rec.doc_date, security=security, status=status,
            text=self._text(rec), maintenance_code=rec.maintenance_code,
            store_text=withhold is None or security < withhold)

    def _text(self, rec: _DocRow) -> str:
        """The PII-masked text of a record (a row with the `_DOC_COLUMNS`), as indexed."""
        if not rec.has_text:
            return ""
        try:
            text = "\n".join(p.get("text", "") for p in self.system.records.read_text_pages(rec))
        except DanganError:
            return ""  # integrity failures are reported by verify; the metadata stays findable
        return mask_text(text)[0]

    def load_docs(self, record_ids: list[str]) -> list[IndexDoc]:
        """Index documents for these records, as they are in the database now (aliases and
        each status mark in one query for the batch; decryption happens after the read
        transaction ends)."""
        if not record_ids:
            return []
        aliases: dict[str, list[str]] = defaultdict(list)
        with self.db.read() as s:
            rows = list(s.execute(select(*_DOC_COLUMNS).where(Record.id.in_(record_ids),
                                                               Record.status != "destroyed")))
            for alias, rid in s.execute(select(ArchiveAlias.alias, ArchiveAlias.record_id)
                                        .where(ArchiveAlias.record_id.in_([r.id for r in rows]))):
                aliases[rid].append(alias)
            status = self.system.record_status.of(s, [(r.id, r.status) for r in rows])
        return [self._doc(row, aliases[row.id], status[row.id]) for row in rows]

    def sync(self, limit: int | None = None, workers: int | None = None) -> int:
        """Apply pending outbox rows to the index; safe to run again or concurrently.

        Rows are deleted only after the index has committed what they asked for, so a
        crash in between re-applies them (harmless) instead of losing them."""
        backlog = self.pending()
        if not backlog:
            return 0
        done: list[int] = []
        applied = self._feed(self._plans(limit), min(backlog, limit or backlog), workers, done)
        for start in range(0, len(done), _DELETE_PER_COMMIT):
            with self.db.session() as s:
                chunk = done[start:start + _DELETE_PER_COMMIT]
                for i in range(0, len(chunk), SYNC_BATCH):
                    s.execute(delete(Outbox).where(Outbox.id.in_(chunk[i:i + SYNC_BATCH])))
        return applied

    def _feed(self, plans: Iterable[tuple[list[int], list[str], list[str]]], size: int,
              workers: int | None, done: list[int]) -> int:
        """Write planned batches to the index inside one `bulk()`; returns rows applied.

        A large job (≥ PARALLEL_FROM) is loaded — read, decrypted, masked and analysed —
        by a process pool, while this process only writes the index: the loading is most
        of the work and Python runs it on one core per process."""
        workers = workers if workers is not None else (os.cpu_count() or 1)
        pool = None
        if workers > 1 and size >= PARALLEL_FROM:
            pool = cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver"),
                                          initializer=_init_loader, initargs=(self.system.settings,))
        applied = 0
        try:
            with self.backend.bulk():
                pending: deque[_Batch] = deque()
                for row_ids, live, gone in plans:
                    if pool is None:
                        pending.append((row_ids, self.load_docs(live), gone))
                    else:
                        pending.append((row_ids, pool.submit(_load_prepared, live), gone))
                    while pending and (pool is None or len(pending) > 2 * workers):
                        applied += self._apply(*pending.popleft(), done)
                while pending:
                    applied += self._apply(*pending.popleft(), done)
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
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

    def _apply(self, row_ids: list[int], docs: cf.Future[list[PreparedDoc]] | list[IndexDoc], gone: list[str],
               done: list[int]) -> int:
        """Write one batch; returns the outbox rows it applied (or, rebuilding, the records)."""
        if isinstance(docs, cf.Future):
            prepared = docs.result()
            self.backend.index_prepared(prepared)
            written = len(prepared)
        else:
            self.backend.index(docs)
            written = len(docs)
        if gone:
            self.backend.delete(gone)
        done.extend(row_ids)
        return len(row_ids) if row_ids else written

    def apply_now(self, refs: Iterable[str]) -> str | None:
        """Apply the outbox rows of these records (档号, provisional number or id) at once,
        so the person who changed them finds the change in the next search.

        Returns None when the index has them, else one sentence saying that search will
        catch up (index unreachable): the rows stay in the outbox for the background
        drain or `dangan search sync`, and the change itself is already committed."""
        try:
            with self.db.read() as s:
                ids = [self.system.records.find(s, ref).id for ref in refs]
                rows = list(s.execute(select(Outbox.id, Outbox.record_id, Outbox.op)
                                      .where(Outbox.record_id.in_(ids)).order_by(Outbox.id)))
            if not rows:
                return None
            latest = {rid: op for _, rid, op in rows}
            with self.db.read() as s:
                status = dict(s.execute(select(Record.id, Record.status)
                                        .where(Record.id.in_(list(latest)))).all())
            live = [i for i, op in latest.items() if op == "upsert" and status.get(i) not in (None, "destroyed")]
            gone = [i for i in latest if i not in live]
            with self.backend.bulk():
                if live:
                    self.backend.index(self.load_docs(live))
                if gone:
                    self.backend.delete(gone)
            with self.db.session() as s:
                s.execute(delete(Outbox).where(Outbox.id.in_([r[0] for r in rows])))
        except Exception as exc:  # an index outage must not undo or hide a committed change
            return f"检索索引暂不可用（{type(exc).__name__}），修改已保存，检索将在索引恢复后自动补上。"
        return None

    def pending(self) -> int:
        with self.db.read() as s:
            return s.execute(select(func.count()).select_from(Outbox)).scalar_one()

    def reindex(self, actor: Actor | None = None, workers: int | None = None) -> int:
        """Rebuild the index from the database (the source of truth)."""
        if actor is not None and not actor.can("search.admin"):
            raise PermissionDenied(f"用户 {actor.name} 无权重建索引。")
        with self.db.read() as s:
            mark = s.execute(select(func.max(Outbox.id))).scalar_one() or 0
            total = s.execute(select(func.count()).select_from(Record)
                              .where(Record.status != "destroyed")).scalar_one()
        self.backend.clear()
        count = self._feed(self._all_records(), total, workers, [])
        with self.db.session() as s:
            s.execute(delete(Outbox).where(Outbox.id <= mark))
            if actor is not None:
                self.audit.append(s, actor.name, "search.reindex", None, "ok", {"records": count})
        return count

    def _all_records(self) -> Iterator[tuple[list[int], list[str], list[str]]]:
        """Every record not destroyed, in batches (keyset paging by id)."""
        last = ""
        while True:
            with self.db.read() as s:
                ids = list(s.execute(select(Record.id).where(Record.id > last, Record.status != "destroyed")
                                     .order_by(Record.id).limit(SYNC_BATCH)).scalars())
            if not ids:
                return
            yield [], ids, []
            last = ids[-1]

    def consistency(self) -> dict:
        """Which records the index and the database disagree about (for checks and tests)."""
        with self.db.read() as s:
            wanted = set(s.execute(select(Record.id).where(Record.status != "destroyed")).scalars())
        have = self.backend.get_ids()
        return {"missing": sorted(wanted - have), "extra": sorted(have - wanted), "pending": self.pending()}


_CODE_SEPARATORS = "-·./"


def _code_match(column: QueryableAttribute[str | None], code: str) -> ColumnElement[bool]:
    """The code itself or a code it is a segment prefix of (A-01 → A-01-001-0101, not A-010)."""
    return and_(column.is_not(None),  # false, not NULL, for a record without one (so "-A" works)
                or_(column == code, *(column.startswith(code + sep, autoescape=True) for sep in _CODE_SEPARATORS)))


def _metadata_match(node: Node, titled: list[str]) -> ColumnElement[bool]:
    """The parsed query over catalogue metadata: a code matches the 档号 or the location
    (exactly or by segment prefix); any word matches the title only in `titled` categories."""
    if isinstance(node, Not):
        return not_(_metadata_match(node.item, titled))
    if isinstance(node, And):
        return and_(*(_metadata_match(it, titled) for it in node.items))
    if isinstance(node, Or):
        return or_(*(_metadata_match(it, titled) for it in node.items))
    assert isinstance(node, Word)
    options: list[ColumnElement[bool]] = []
    code = node.code or analysis.normalize_code(node.text)
    if node.code or (code.isascii() and code.isalnum()):  # also a category code alone: YZ
        options += [_code_match(Record.archive_no, code), _code_match(Record.location, code)]
    if titled:
        options.append(and_(Record.category.in_(titled),
                            func.lower(Record.title).contains(analysis.fold(node.text), autoescape=True)))
    return or_(*options) if options else false()


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
        elif key == "facets":
            if value.lower() not in ("1", "true", "yes", "0", "false", "no"):
                raise InvalidInput("参数 facets 应为 true 或 false。")
            out["facets"] = value.lower() in ("1", "true", "yes")
    return out
