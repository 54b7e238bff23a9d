"""Recall against brute force: a search finds exactly the records whose folded text holds
the word — sampled 1-, 2-, 3- and 4-character words, in Simplified and Traditional, on
synthetic property documents. (bench/bench_search.py runs the same check on 10,000.)"""

from __future__ import annotations

import datetime
import random
import re

import pytest

from dangan.demo.corpus import generate, to_traditional
from dangan.search import analysis
from dangan.search.backend import IndexDoc
from tests.search.conftest import found

_CJK_WORD = re.compile(f"[{analysis.CJK_CLASS}]+")


@pytest.fixture(scope="module")
def corpus() -> list[IndexDoc]:
    docs = []
    for i, d in enumerate(generate(250, seed=11)):
        docs.append(IndexDoc(
            record_id=f"c{i:04d}", archive_no=None, aliases=(), title=d.title, category=d.category,
            location=d.location, year=d.date.year, date=d.date, security=0, status="active",
            text=d.text, maintenance_code=d.maintenance_code))
    return docs


def sample_words(docs: list[IndexDoc], seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    words: list[str] = []
    while len(words) < 32:
        text = analysis.fold(rng.choice(docs).text)
        runs = [m.group() for m in _CJK_WORD.finditer(text)]
        run = rng.choice(runs)
        size = (1, 2, 3, 4)[len(words) % 4]
        if len(run) >= size:
            start = rng.randrange(len(run) - size + 1)
            words.append(run[start : start + size])
    return words


def brute_force(docs: list[IndexDoc], word: str) -> set[str]:
    w = analysis.fold(word)
    return {d.record_id for d in docs if w in analysis.fold(d.title) or w in analysis.fold(d.text)}


def test_search_finds_exactly_the_records_containing_the_word(backend, corpus):
    backend.index(corpus)
    misses, extras = {}, {}
    for word in sample_words(corpus):
        for query in {word, to_traditional(word)}:
            expected = brute_force(corpus, query)
            got = found(backend, query)
            if expected - got:
                misses[query] = sorted(expected - got)
            if got - expected:
                extras[query] = sorted(got - expected)
    assert misses == {}
    assert extras == {}


def test_dates_in_corpus_are_searchable_by_year(backend, corpus):
    backend.index(corpus)
    expected = {d.record_id for d in corpus if d.year == 2020}
    assert found(backend, year_from=2020, year_to=2020) == expected
    assert found(backend, date_from=datetime.date(2020, 1, 1), date_to=datetime.date(2020, 12, 31)) == expected
