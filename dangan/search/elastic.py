"""The Elasticsearch backend: the same index and query semantics as the embedded one, on a
server, for installations that outgrow one machine.

The Chinese analysis is done in Python (`dangan.search.analysis`) and sent as
whitespace-separated tokens, indexed with the core ``whitespace`` analyser: the minimal
distributions lack the ``analysis-common`` plugin (no whitespace *tokenizer*, no
``cjk_bigram``), and doing it once in Python keeps both engines token-for-token equal.

Writes refresh the index before returning, so a search right after `index` sees the
change, as with the embedded backend. A server that cannot be reached raises
`SearchUnavailable`; the outbox keeps the change and retries.

With security on (production), the client options carry TLS (`ca_certs`) and an API key
or a user and password (`dangan.system.elastic_client_options` reads them from the
environment). A refusal — credentials missing or rejected, no rights on the index, a
certificate not trusted — raises `SearchAccessRefused`, one sentence naming the setting
to check and never the secret.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import urllib.parse
from collections.abc import Iterator, Sequence
from typing import Any

from dangan.errors import InvalidInput
from dangan.search.analysis import Phrase
from dangan.search.backend import (
    CODE_BOOST,
    FACET_SIZE,
    FACETS,
    MAX_WINDOW,
    Filters,
    PreparedDoc,
    SearchAccessRefused,
    SearchBackend,
    SearchRequest,
    SearchResult,
    SearchUnavailable,
    make_hits,
    order_facets,
)
from dangan.search.query import And, Node, Not, Or, ParsedQuery, Word

__all__ = ["ElasticBackend"]

SCHEMA_VERSION = 3
_TEXT = {"type": "text", "analyzer": "whitespace", "norms": True}
_STORED_ONLY = {"type": "keyword", "index": False, "doc_values": False}

MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "_meta": {"dangan_schema": SCHEMA_VERSION},
    # the token streams are for matching only; a hit shows the original fields
    "_source": {"excludes": ["tok", "chr", "q4", "codes", "loc"]},
    "properties": {
        "record_id": {"type": "keyword"},
        "archive_no": _STORED_ONLY,
        "title": _STORED_ONLY,
        "location": _STORED_ONLY,
        "text": {"type": "text", "index": False},
        "category": {"type": "keyword"},
        "status": {"type": "keyword"},
        "project": {"type": "keyword"},
        "security": {"type": "integer"},
        "year": {"type": "integer"},
        "date": {"type": "date", "format": "yyyy-MM-dd"},
        "tok": _TEXT,
        "chr": _TEXT,
        "q4": {**_TEXT, "index_options": "freqs"},
        "codes": {"type": "keyword"},
        "loc": {"type": "keyword"},
    },
}

SETTINGS: dict[str, Any] = {
    "number_of_shards": 1,
    "number_of_replicas": 0,
    "max_result_window": MAX_WINDOW,
}


class ElasticBackend(SearchBackend):
    """An index named `index` on the Elasticsearch node at `url` (created if missing)."""

    def __init__(self, url: str, index: str = "dangan-records", *, timeout: float = 30.0,
                 refresh: bool = True, **client_options: Any) -> None:
        from elasticsearch import Elasticsearch

        if not url:
            raise InvalidInput("未配置 Elasticsearch 地址。")
        ca = client_options.get("ca_certs")
        if ca and not (os.path.isfile(ca) and os.access(ca, os.R_OK)):
            raise InvalidInput(f"Elasticsearch 的 CA 证书文件不存在或不可读：{ca}（DANGAN_ES_CA_CERTS）。")
        self.url = _public_url(url)
        self.index_name = index
        self.refresh = refresh
        self._login = _login_kind(url, client_options)
        self._es = Elasticsearch(url, request_timeout=timeout, **client_options)
        self._ensure_index()

    # ------------------------------------------------------------------ housekeeping

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Call the client, turning transport failures and refusals into one readable error."""
        from elastic_transport import ConnectionError as TransportConnectionError
        from elastic_transport import ConnectionTimeout, TlsError
        from elasticsearch import AuthenticationException, AuthorizationException

        try:
            return fn(*args, **kwargs)
        except TlsError as exc:
            raise SearchAccessRefused(
                f"Elasticsearch（{self.url}）的证书未通过验证，{what}未完成："
                "请用 DANGAN_ES_CA_CERTS 指定签发该证书的 CA 证书文件。") from exc
        except (TransportConnectionError, ConnectionTimeout) as exc:
            raise SearchUnavailable(
                f"无法连接 Elasticsearch（{self.url}），{what}未完成，请检查服务是否运行。") from exc
        except AuthenticationException as exc:
            raise SearchAccessRefused(self._login_refused(what)) from exc
        except AuthorizationException as exc:
            raise SearchAccessRefused(
                f"Elasticsearch（{self.url}）不允许{self._login[1]}对索引 {self.index_name} {what}："
                "请给它这个索引的读写和建立索引的权限。") from exc

    def _login_refused(self, what: str) -> str:
        kind, who = self._login
        if kind == "none":
            return (f"Elasticsearch（{self.url}）要求登录，{what}未完成："
                    "请设置 DANGAN_ES_API_KEY，或 DANGAN_ES_USERNAME 和 DANGAN_ES_PASSWORD。")
        if kind == "api_key":
            return (f"Elasticsearch（{self.url}）不接受所配置的 API 密钥（不对、已过期或已作废），"
                    f"{what}未完成：请检查 DANGAN_ES_API_KEY。")
        if kind == "basic":
            return (f"Elasticsearch（{self.url}）拒绝了{who}的用户名或密码，{what}未完成："
                    "请检查 DANGAN_ES_USERNAME 和 DANGAN_ES_PASSWORD。")
        return f"Elasticsearch（{self.url}）拒绝了所配置的凭据，{what}未完成。"

    def _ensure_index(self) -> None:
        es = self._es
        if self._call("检查索引", es.indices.exists, index=self.index_name):
            meta = self._call("检查索引", es.indices.get_mapping, index=self.index_name)
            index_meta: dict[str, Any] = next(iter(meta.body.values()), {})
            found = index_meta.get("mappings", {}).get("_meta", {})
            if found.get("dangan_schema") != SCHEMA_VERSION:
                raise InvalidInput(
                    f"Elasticsearch 索引 {self.index_name} 由其他版本建立，请运行 dangan search reindex 重建。")
            return
        from elasticsearch import BadRequestError

        try:
            self._call("建立索引", es.indices.create, index=self.index_name,
                       settings=SETTINGS, mappings=MAPPINGS)
        except BadRequestError as exc:  # created meanwhile by another process
            if "resource_already_exists_exception" not in str(exc):
                raise

    def _refresh(self) -> None:
        if self.refresh:
            self._call("刷新索引", self._es.indices.refresh, index=self.index_name)

    # ------------------------------------------------------------------------ writes

    #: Records per bulk request: the token streams make a record ~10 kB of JSON, and a
    #: small node should not have to hold 50 MB requests.
    bulk_size = 500

    def index_prepared(self, prepared: Sequence[PreparedDoc]) -> None:
        for i in range(0, len(prepared), self.bulk_size):
            self._index_batch(prepared[i : i + self.bulk_size])

    def _index_batch(self, prepared: Sequence[PreparedDoc]) -> None:
        ops: list[dict[str, Any]] = []
        for p in prepared:
            d = p.doc
            ops.append({"index": {"_index": self.index_name, "_id": d.record_id}})
            body: dict[str, Any] = {
                "record_id": d.record_id,
                "archive_no": d.archive_no,
                "title": d.title,
                "location": d.location,
                "text": d.text,
                "category": d.category,
                "status": d.status,
                "security": d.security,
                "tok": p.tok_values,
                "chr": p.chr_values,
                "q4": p.q4_values,
                "codes": list(p.codes),
                "loc": list(p.locations),
            }
            if p.locations:
                body["project"] = p.locations[0]
            if d.year is not None:
                body["year"] = d.year
            if d.date is not None:
                body["date"] = d.date.isoformat()
            ops.append(body)
        self._bulk(ops, "写入索引")

    @contextlib.contextmanager
    def bulk(self) -> Iterator[None]:
        """No refresh per batch; one at the end (what a rebuild wants)."""
        saved, self.refresh = self.refresh, False
        try:
            yield
        finally:
            self.refresh = saved
        self._call("刷新索引", self._es.indices.refresh, index=self.index_name)

    def _bulk(self, ops: list[dict[str, Any]], what: str) -> None:
        resp = self._call(what, self._es.bulk, operations=ops, refresh=self.refresh)
        if resp.get("errors"):
            failed = [it for it in resp["items"]
                      if next(iter(it.values())).get("error")
                      and next(iter(it.values())).get("status") != 404]
            if failed:
                first = next(iter(failed[0].values()))
                raise SearchUnavailable(
                    f"Elasticsearch 拒绝了 {len(failed)} 条{what}操作：{first.get('error')}")

    def delete(self, record_ids: Sequence[str]) -> None:
        ids = list(dict.fromkeys(str(r) for r in record_ids if r))
        if ids:
            self._bulk([{"delete": {"_index": self.index_name, "_id": rid}} for rid in ids], "删除")

    def clear(self) -> None:
        # Dropping and recreating is faster than deleting every document, and
        # _delete_by_query lives in the reindex module minimal distributions lack.
        self.drop()
        self._ensure_index()

    # ----------------------------------------------------------------------- reading

    def count(self) -> int:
        return int(self._call("统计", self._es.count, index=self.index_name)["count"])

    def get_ids(self) -> set[str]:
        return set(self._iter_ids())

    def _iter_ids(self, page: int = 5000) -> Iterator[str]:
        after: list[Any] | None = None
        while True:
            kwargs: dict[str, Any] = {}
            if after is not None:
                kwargs["search_after"] = after
            resp = self._call("读取编号", self._es.search, index=self.index_name, size=page,
                              query={"match_all": {}}, sort=[{"record_id": "asc"}],
                              source=False, track_total_hits=False, **kwargs)
            hits = resp["hits"]["hits"]
            for h in hits:
                yield h["_id"]
            if len(hits) < page:
                return
            after = hits[-1]["sort"]

    def _search(self, req: SearchRequest, parsed: ParsedQuery, filters: Filters) -> SearchResult:
        query = {"bool": {
            "must": [{"match_all": {}} if parsed.root is None else self._node(parsed.root)],
            "filter": self._filters(filters),
        }}
        body: dict[str, Any] = {
            "query": query,
            "from": req.offset,
            "size": req.limit,
            "track_total_hits": True,
            "source_includes": ["record_id", "archive_no", "title", "category", "location", "date", "text"],
        }
        if req.sort == "date_desc":
            body["sort"] = [{"date": {"order": "desc", "missing": "_last"}}, {"record_id": "asc"}]
        elif req.sort == "date_asc":
            body["sort"] = [{"date": {"order": "asc", "missing": "_last"}}, {"record_id": "asc"}]
        else:
            body["sort"] = ["_score", {"record_id": "asc"}]
        if req.facets:
            body["aggs"] = {name: {"terms": {"field": name, "size": FACET_SIZE}} for name in FACETS}
        resp = self._call("检索", self._es.search, index=self.index_name, **body)
        stored, scores = [], []
        for h in resp["hits"]["hits"]:
            src = dict(h["_source"])
            src["record_id"] = h["_id"]
            stored.append(src)
            scores.append((h.get("_score") or 0.0) if req.sort == "relevance" else 0.0)
        hits = make_hits(stored, scores, parsed)
        facets: dict[str, dict[str, int]] = {}
        if req.facets:
            raw = {name: {str(b["key"]): int(b["doc_count"]) for b in agg["buckets"]}
                   for name, agg in resp["aggregations"].items()}
            facets = order_facets(raw)
        return SearchResult(total=int(resp["hits"]["total"]["value"]), hits=hits, facets=facets)

    # ---------------------------------------------------------------------- queries

    def _node(self, node: Node) -> dict[str, Any]:
        if isinstance(node, Word):
            return self._word(node)
        if isinstance(node, Or):
            return {"bool": {"should": [self._node(it) for it in node.items], "minimum_should_match": 1}}
        if isinstance(node, And):
            must = [self._node(it) for it in node.items if not isinstance(it, Not)]
            must_not = [self._node(it.item) for it in node.items if isinstance(it, Not)]
            out: dict[str, Any] = {"must": must}
            if must_not:
                out["must_not"] = must_not
            return {"bool": out}
        raise AssertionError(f"unexpected query node {node!r}")

    @staticmethod
    def _tokens(field: str, toks: tuple[str, ...], boost: float = 1.0) -> dict[str, Any]:
        if len(toks) == 1:
            return {"term": {field: {"value": toks[0], "boost": boost}}}
        return {"match_phrase": {field: {"query": " ".join(toks), "boost": boost}}}

    def _phrase(self, field: str, ph: Phrase, boost: float = 1.0) -> list[dict[str, Any]]:
        variants = [self._tokens(field, toks, boost) for toks in ph.variants()]
        if not ph.guards:
            return variants
        guards = [{"term": {"q4": g}} for g in ph.guards]
        return [{"bool": {"must": [v], "filter": guards}} for v in variants]

    def _word(self, word: Word) -> dict[str, Any]:
        should: list[dict[str, Any]] = []
        if word.phrase is not None:
            should += self._phrase(word.phrase.field, word.phrase)
        if word.code is not None:
            should.append({"term": {"codes": {"value": word.code, "boost": CODE_BOOST}}})
        return {"bool": {"should": should, "minimum_should_match": 1}}

    @staticmethod
    def _filters(f: Filters) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [
            {"terms": {"security": list(f.security)}},
            {"terms": {"status": list(f.status)}},
        ]
        if f.categories is not None:
            out.append({"terms": {"category": list(f.categories)}})
        if f.record_ids is not None:
            out.append({"terms": {"record_id": list(f.record_ids)}})
        if f.location_prefix is not None:
            out.append({"term": {"loc": f.location_prefix}})
        if f.year_from is not None or f.year_to is not None:
            rng: dict[str, int] = {}
            if f.year_from is not None:
                rng["gte"] = f.year_from
            if f.year_to is not None:
                rng["lte"] = f.year_to
            out.append({"range": {"year": rng}})
        if f.date_from is not None or f.date_to is not None:
            drng: dict[str, str] = {}
            if f.date_from is not None:
                drng["gte"] = _iso(f.date_from)
            if f.date_to is not None:
                drng["lte"] = _iso(f.date_to)
            out.append({"range": {"date": drng}})
        return out

    def close(self) -> None:
        self._es.close()

    def drop(self) -> None:
        """Delete the whole index (tests, reindex from scratch)."""
        self._call("删除索引", self._es.options(ignore_status=404).indices.delete, index=self.index_name)


def _iso(d: datetime.date) -> str:
    return d.isoformat()


def _public_url(url: str) -> str:
    """The URL without a user and password in it, for messages."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _login_kind(url: str, options: dict[str, Any]) -> tuple[str, str]:
    """How the client logs in ("api_key", "basic", "bearer", "none") and who, for messages."""
    if options.get("api_key"):
        return "api_key", "该 API 密钥"
    if options.get("basic_auth"):
        return "basic", f"用户 {options['basic_auth'][0]} "
    if options.get("bearer_auth"):
        return "bearer", "该令牌"
    user = urllib.parse.urlsplit(url).username
    if user:
        return "basic", f"用户 {urllib.parse.unquote(user)} "
    return "none", "匿名用户"
