"""The query language, parsed before either backend sees it."""

from __future__ import annotations

import pytest

from dangan.errors import InvalidInput
from dangan.search.query import And, Not, Or, Word, looks_like_code, parse


def words(node) -> list[str]:
    if isinstance(node, Word):
        return [node.text]
    if isinstance(node, Not):
        return ["-" + w for w in words(node.item)]
    if isinstance(node, And | Or):
        return [w for it in node.items for w in words(it)]
    return []


def test_words_are_anded():
    root = parse("电梯 维修").root
    assert isinstance(root, And)
    assert words(root) == ["电梯", "维修"]


def test_or_binds_tighter_than_the_implicit_and():
    root = parse("电梯 OR 扶梯 维修").root
    assert isinstance(root, And)
    assert isinstance(root.items[0], Or)
    assert words(root) == ["电梯", "扶梯", "维修"]


def test_lowercase_or_is_an_ordinary_word():
    assert words(parse("lift or stairs").root) == ["lift", "or", "stairs"]


def test_minus_excludes_only_at_the_start_of_a_word():
    assert words(parse("电梯 -维修").root) == ["电梯", "-维修"]
    assert words(parse("A-01-001").root) == ["A-01-001"]


def test_quotes_make_one_phrase_and_chinese_quotes_work():
    assert words(parse('"电梯 维修" 水').root) == ["电梯 维修", "水"]
    assert words(parse("“电梯 维修”").root) == ["电梯 维修"]


def test_empty_query_matches_everything():
    assert parse("").match_all
    assert parse(" \u3000 ").match_all


def test_codes_are_recognised():
    assert looks_like_code("A-01-001")
    assert looks_like_code("WX-A-01-001-0101-2024-0007")
    assert looks_like_code("B13")
    assert looks_like_code("010023")
    assert looks_like_code("A-01-001-")
    assert not looks_like_code("电梯")
    assert not looks_like_code("lift")
    word = parse("ａ-01-001").root
    assert isinstance(word, Word) and word.code == "A-01-001"


def test_highlight_words_leave_out_exclusions():
    assert parse("电梯 OR 扶梯 -维修").highlight == ("电梯", "扶梯")


@pytest.mark.parametrize(("query", "says"), [
    ('"电梯', "引号"),
    ("“电梯", "引号"),
    ("-电梯", "排除词"),
    ("-电梯 -维修", "排除词"),
    ("电梯 OR", "OR"),
    ("OR 电梯", "OR"),
    ("电梯 OR OR 维修", "OR"),
    ("电梯 OR -维修", "OR"),
    ("(电梯", "括号"),
    ("电梯)", "括号"),
    ("() 电梯", "括号"),
    ("(-电梯) 维修", "括号"),
    ("电梯 AND", "AND"),
    ("，。！", "可检索"),
    ("电" * 501, "太长"),
])
def test_malformed_query_says_what_to_fix(query, says):
    with pytest.raises(InvalidInput, match=says):
        parse(query)
