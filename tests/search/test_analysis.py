"""The Chinese analysis both backends index: folding, token streams, codes, snippets."""

from __future__ import annotations

import pytest

from dangan.search import analysis
from dangan.search.analysis import Phrase


def test_fold_is_lowercase_half_width_and_simplified():
    assert analysis.fold("電梯維修ＡＢＣ１２３") == "电梯维修abc123"


def test_fold_is_character_wise_so_a_word_folds_the_same_inside_a_text():
    # phrase-level OpenCC turns 瞭解 into 了解 but leaves 瞭 alone; character-wise folding
    # must give the word and the text the same characters
    word, text = analysis.fold("瞭"), analysis.fold("瞭解情況")
    assert word in text


def test_cjk_runs_become_bigrams_and_single_characters_stay():
    assert analysis.tokens("电梯维修") == ["电梯", "梯维", "维修"]
    assert analysis.tokens("水") == ["水"]
    assert analysis.tokens("供水，停电") == ["供水", "停电"]


def test_chr_stream_marks_characters_whose_run_goes_on():
    tok, chars, _ = analysis.analyze(["电梯5楼"])
    assert tok[0].split() == ["电梯", "5", "楼"]
    assert chars[0].split() == ["电_", "梯", "5", "楼"]


def test_latin_and_digit_runs_are_whole_tokens():
    assert analysis.tokens("A栋2018年Lift-Off") == ["a", "栋", "2018", "年", "lift", "off"]


def test_expanding_characters_fold_to_their_letters():
    assert analysis.tokens("面积66㎡") == ["面积", "66m2"]
    assert analysis.tokens("㈱公司") == ["株", "公司"]


def test_q4_stream_holds_every_four_characters_of_a_run():
    _, _, quads = analysis.analyze(["电梯维修记录，水管A物业服务"])
    assert quads[0].split() == ["电梯维修", "梯维修记", "维修记录", "物业服务"]


def test_batch_gives_the_same_tokens_as_one_text_at_a_time():
    texts = ["电梯维修。", "", "供水管 ＡＢ１", "㎡", "梯"]
    assert analysis.token_streams(texts) == [analysis.token_streams([t])[0] for t in texts]


def test_very_long_latin_run_is_cut_like_elasticsearch_would():
    tokens = analysis.tokens("x" * 600)
    assert [len(t) for t in tokens] == [255, 255, 90]


@pytest.mark.parametrize(("word", "expected"), [
    ("电梯", Phrase("tok", ("电梯",))),
    ("电梯维修", Phrase("q4", ("电梯维修",))),
    ("电梯维", Phrase("tok", ("电梯", "梯维"))),
    ("电梯维修记录", Phrase("tok", ("电梯", "梯维", "维修", "修记", "记录"), guards=("电梯维修", "维修记录"))),
    ("水", Phrase("chr", ("水",), "水_")),
    ("5楼", Phrase("chr", ("5", "楼"), "楼_")),
    ("A栋B", Phrase("chr", ("a", "栋", "b"))),
    ("，。", None),
])
def test_query_word_becomes_the_phrase_that_matches_it_exactly(word, expected):
    assert analysis.phrase(word) == expected


def test_code_prefixes_end_at_segment_boundaries():
    assert analysis.code_prefixes("A-01-001-0101") == ["A", "A-01", "A-01-001", "A-01-001-0101"]
    assert analysis.code_prefixes("ｗｘ-a-01") == ["WX", "WX-A", "WX-A-01"]
    assert analysis.code_prefixes("010023") == ["01", "010023"]
    assert analysis.code_prefixes("") == []


def test_snippet_maps_marks_back_through_expanding_characters():
    assert analysis.snippet("面积66㎡，电梯", ["66m2", "电梯"]) == "面积<mark>66㎡</mark>，<mark>电梯</mark>"


def test_snippet_without_a_match_shows_the_start():
    assert analysis.snippet("物业服务中心" * 50, ["电梯"]).startswith("物业服务中心")
