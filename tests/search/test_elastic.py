"""Elasticsearch specifics: an unreachable server is a clear, retryable error."""

from __future__ import annotations

import socket

import pytest

from dangan.errors import InvalidInput
from dangan.search.backend import SearchUnavailable, open_backend


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_unreachable_server_raises_search_unavailable():
    with pytest.raises(SearchUnavailable, match="无法连接 Elasticsearch"):
        open_backend("elasticsearch", url=f"http://127.0.0.1:{closed_port()}", index="x", timeout=2,
                     max_retries=0)


def test_missing_url_is_refused():
    with pytest.raises(InvalidInput):
        open_backend("elasticsearch", url="", index="x")


def test_unknown_backend_is_refused():
    with pytest.raises(InvalidInput, match="embedded 或 elasticsearch"):
        open_backend("solr")


@pytest.mark.elasticsearch
def test_index_of_another_schema_version_is_refused(es_server_url):
    from elasticsearch import Elasticsearch

    es = Elasticsearch(es_server_url)
    name = "dangan-test-old-schema"
    es.options(ignore_status=404).indices.delete(index=name)
    es.indices.create(index=name, mappings={"_meta": {"dangan_schema": 0}})
    try:
        with pytest.raises(InvalidInput, match="reindex"):
            open_backend("elasticsearch", url=es_server_url, index=name)
    finally:
        es.options(ignore_status=404).indices.delete(index=name)
        es.close()
