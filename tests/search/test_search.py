"""What a person searching the archive can rely on — the same on both backends."""

from __future__ import annotations

import datetime

import pytest

from dangan.errors import InvalidInput
from dangan.search.backend import Reader
from tests.search.conftest import found, make_doc, search

PUBLIC, INTERNAL, CONFIDENTIAL, SECRET = 0, 1, 2, 3


# ------------------------------------------------------------------- Chinese matching


def test_two_character_word_finds_it_inside_longer_text(backend):
    hit = make_doc("三号电梯井道照明损坏，已更换灯具。")
    miss = make_doc("楼道照明损坏。")
    backend.index([hit, miss])
    assert found(backend, "电梯") == {hit.record_id}


def test_one_character_word_matches_the_character_anywhere(backend):
    inside = make_doc("供水管更换完毕。")         # inside a run
    at_end = make_doc("地下室漏水。")             # at the end of a run
    alone = make_doc("停 水 通 知")               # a one-character run
    in_title = make_doc("巡查正常。", title="水泵房巡检")
    without = make_doc("电梯维保正常。")
    backend.index([inside, at_end, alone, in_title, without])
    assert found(backend, "水") == {inside.record_id, at_end.record_id, alone.record_id, in_title.record_id}


def test_traditional_query_finds_simplified_text(backend):
    doc = make_doc("电梯年检合格，维修记录已归档。")
    backend.index([doc])
    assert found(backend, "電梯維修") == set()  # not contiguous in the text
    assert found(backend, "電梯") == {doc.record_id}
    assert found(backend, "維修記錄") == {doc.record_id}


def test_simplified_query_finds_traditional_text(backend):
    doc = make_doc("物業服務檔案的建立與管理，電梯維修保養記錄。")
    backend.index([doc])
    assert found(backend, "电梯维修") == {doc.record_id}
    assert found(backend, "档案") == {doc.record_id}


def test_full_width_and_half_width_match_each_other(backend):
    full = make_doc("设备编号ＰＵＭＰ１２，位于Ｂ座。")
    half = make_doc("设备编号 pump12 已报修。")
    backend.index([full, half])
    assert found(backend, "PUMP12") == {full.record_id, half.record_id}
    assert found(backend, "ｐｕｍｐ１２") == {full.record_id, half.record_id}


def test_word_does_not_match_characters_split_by_punctuation(backend):
    split = make_doc("检查电，梯间无异常。")
    backend.index([split])
    assert found(backend, "电梯") == set()


def test_word_does_not_match_its_characters_in_another_order(backend):
    backend.index([make_doc("梯电检查。"), make_doc("电在梯旁。")])
    assert found(backend, "电梯") == set()


def test_four_character_word_needs_all_four_characters_contiguous(backend):
    exact = make_doc("专项维修资金使用公示。")
    apart = make_doc("维修工作已完成，资金另行结算。")
    other = make_doc("维修基金使用公示。")
    backend.index([exact, apart, other])
    assert found(backend, "维修资金") == {exact.record_id}


def test_room_words_with_single_characters_match_as_written(backend):
    flat = make_doc("2单元501室卫生间漏水。")
    flat_spaced = make_doc("2 单元 501 室 已维修")
    other_room = make_doc("2单元501号储藏室。")
    backend.index([flat, flat_spaced, other_room])
    assert found(backend, "2单元501室") == {flat.record_id, flat_spaced.record_id}


def test_number_matches_whole_numbers_only(backend):
    fifth = make_doc("5楼走廊灯不亮。")
    fifteenth = make_doc("15楼走廊灯不亮。")
    backend.index([fifth, fifteenth])
    assert found(backend, "5楼") == {fifth.record_id}


def test_latin_word_matches_whole_words_only(backend):
    lift = make_doc("Lift maintenance log")
    lifting = make_doc("Lifting equipment check")
    backend.index([lift, lifting])
    assert found(backend, "lift") == {lift.record_id}


def test_character_after_latin_letters_matches_across_scripts(backend):
    doc = make_doc("A栋电梯B座扶梯")
    backend.index([doc])
    assert found(backend, "A栋") == {doc.record_id}
    assert found(backend, "梯B") == {doc.record_id}
    assert found(backend, "电梯B座") == {doc.record_id}
    assert found(backend, "栋B") == set()


def test_title_is_searched_and_ranks_above_body(backend):
    in_title = make_doc("本次工作已完成。", title="消防设施检查记录")
    in_body = make_doc("对小区消防设施进行检查，情况良好。", title="巡查记录")
    backend.index([in_body, in_title])
    hits = search(backend, "消防设施").hits
    assert [h.record_id for h in hits] == [in_title.record_id, in_body.record_id]


# --------------------------------------------------------------------- query language


def test_words_must_all_match(backend):
    both = make_doc("电梯困人，已维修。")
    one = make_doc("电梯年检。")
    backend.index([both, one])
    assert found(backend, "电梯 维修") == {both.record_id}


def test_or_finds_either_word(backend):
    a, b, c = make_doc("电梯年检。"), make_doc("扶梯维保。"), make_doc("绿化修剪。")
    backend.index([a, b, c])
    assert found(backend, "电梯 OR 扶梯") == {a.record_id, b.record_id}


def test_or_binds_tighter_than_and(backend):
    a = make_doc("电梯维修。")
    b = make_doc("扶梯维修。")
    c = make_doc("扶梯年检。")
    backend.index([a, b, c])
    assert found(backend, "电梯 OR 扶梯 维修") == {a.record_id, b.record_id}
    assert found(backend, "(电梯 | 扶梯) 维修") == {a.record_id, b.record_id}


def test_minus_excludes_records_with_the_word(backend):
    keep = make_doc("电梯年检合格。")
    drop = make_doc("电梯年检不合格，需维修。")
    backend.index([keep, drop])
    assert found(backend, "电梯 -维修") == {keep.record_id}
    assert found(backend, '电梯 -"不合格"') == {keep.record_id}


def test_quoted_phrase_keeps_words_in_order(backend):
    ordered = make_doc("pump room inspection")
    reversed_ = make_doc("room pump inspection")
    backend.index([ordered, reversed_])
    assert found(backend, '"pump room"') == {ordered.record_id}
    assert found(backend, "pump room") == {ordered.record_id, reversed_.record_id}


@pytest.mark.parametrize("query", ['"电梯', "-电梯", "电梯 OR", "(电梯", "电梯)", "-(-电梯) 维修", "，。"])
def test_malformed_query_is_refused_with_a_reason(backend, query):
    with pytest.raises(InvalidInput) as info:
        search(backend, query)
    assert str(info.value)


def test_empty_query_lists_every_visible_record(backend):
    docs = [make_doc(f"记录{i}") for i in range(3)]
    backend.index(docs)
    assert found(backend, "") == {d.record_id for d in docs}
    assert found(backend, "   ") == {d.record_id for d in docs}


# ------------------------------------------------------------------------------ codes


def test_room_prefix_finds_every_flat_in_unit(backend):
    unit = [make_doc(location="A-01-001-0101"), make_doc(location="A-01-001-0502")]
    other_unit = make_doc(location="A-01-002-0101")
    other_building = make_doc(location="A-02-001-0101")
    backend.index([*unit, other_unit, other_building])
    assert found(backend, "A-01-001") == {d.record_id for d in unit}
    assert found(backend, "A-01") == {d.record_id for d in unit} | {other_unit.record_id}


def test_room_code_matches_exactly(backend):
    flat = make_doc(location="A-01-001-0101")
    neighbour = make_doc(location="A-01-001-0102")
    backend.index([flat, neighbour])
    assert found(backend, "A-01-001-0101") == {flat.record_id}
    assert found(backend, "ａ－０１－００１－０１０１") == {flat.record_id}


def test_code_prefix_must_end_at_a_segment_boundary(backend):
    backend.index([make_doc(location="A-01-001-0101")])
    assert found(backend, "A-01-00") == set()


def test_project_code_finds_its_records_only(backend):
    b2 = make_doc(location="B2-01-001-0101")
    b = make_doc(location="B-01-001-0101")
    backend.index([b2, b])
    assert found(backend, "B2") == {b2.record_id}
    assert found(backend, "B") == {b.record_id}


def test_archive_no_matches_exactly_and_by_prefix(backend):
    doc = make_doc(archive_no="WX-A-01-001-0101-2024-0007")
    other = make_doc(archive_no="WX-A-01-001-0101-2024-0008")
    backend.index([doc, other])
    assert found(backend, "WX-A-01-001-0101-2024-0007") == {doc.record_id}
    assert found(backend, "WX-A-01-001-0101-2024") == {doc.record_id, other.record_id}


def test_old_archive_number_still_finds_the_record(backend):
    doc = make_doc(archive_no="WX-A-01-002-0101-2024-0003",
                   aliases=("WX-A-01-001-0101-2024-0007", "TMP-2024-000123"))
    backend.index([doc])
    assert found(backend, "WX-A-01-001-0101-2024-0007") == {doc.record_id}
    assert found(backend, "TMP-2024-000123") == {doc.record_id}


def test_maintenance_code_finds_the_record(backend):
    doc = make_doc(maintenance_code="010023")
    other = make_doc(maintenance_code="020023")
    backend.index([doc, other])
    assert found(backend, "010023") == {doc.record_id}


def test_code_written_in_text_is_found(backend):
    doc = make_doc("业主反映A-01-001-0101室楼上漏水。", location="B-01-001-0101")
    backend.index([doc])
    assert found(backend, "A-01-001-0101") == {doc.record_id}
    assert found(backend, "A-01-001") == {doc.record_id}


def test_location_prefix_filter_covers_everything_below_it(backend):
    a1 = make_doc("电梯", location="A-01-001-0101")
    a2 = make_doc("电梯", location="A-01-002-0101")
    b = make_doc("电梯", location="B-01-001-0101")
    none = make_doc("电梯", location=None)
    backend.index([a1, a2, b, none])
    assert found(backend, "电梯", location_prefix="A-01") == {a1.record_id, a2.record_id}
    assert found(backend, "", location_prefix="a-01-001") == {a1.record_id}


# ------------------------------------------------------------------- filters, facets


def test_category_filter(backend):
    m = make_doc("电梯", category="maintenance")
    s = make_doc("电梯", category="safety")
    backend.index([m, s])
    assert found(backend, "电梯", categories=["safety"]) == {s.record_id}


def test_year_and_date_ranges_include_their_bounds(backend):
    d2022 = make_doc(date=datetime.date(2022, 12, 31))
    d2023 = make_doc(date=datetime.date(2023, 1, 1))
    d2024 = make_doc(date=datetime.date(2024, 6, 1))
    undated = make_doc(date=None)
    backend.index([d2022, d2023, d2024, undated])
    assert found(backend, year_from=2023) == {d2023.record_id, d2024.record_id}
    assert found(backend, year_to=2023) == {d2022.record_id, d2023.record_id}
    assert found(backend, date_from=datetime.date(2022, 12, 31), date_to=datetime.date(2023, 1, 1)) == {
        d2022.record_id, d2023.record_id}


def test_reversed_range_is_refused(backend):
    with pytest.raises(InvalidInput):
        search(backend, year_from=2024, year_to=2020)


def test_security_and_status_filters(backend):
    public = make_doc(security=PUBLIC)
    internal = make_doc(security=INTERNAL, status="on_loan")
    backend.index([public, internal])
    assert found(backend, security=[PUBLIC]) == {public.record_id}
    assert found(backend, status=["on_loan"]) == {internal.record_id}


def test_destroyed_records_are_hidden_unless_asked_for(backend):
    active = make_doc("电梯")
    destroyed = make_doc("电梯", status="destroyed")
    backend.index([active, destroyed])
    assert found(backend, "电梯") == {active.record_id}
    assert found(backend, "电梯", status=["destroyed"]) == {destroyed.record_id}


def test_record_ids_restrict_the_search(backend):
    a, b, c = make_doc("电梯"), make_doc("电梯"), make_doc("电梯")
    backend.index([a, b, c])
    assert found(backend, "电梯", record_ids=[a.record_id, c.record_id]) == {a.record_id, c.record_id}
    assert found(backend, "电梯", record_ids=[]) == set()


def test_facets_count_every_matching_record(backend):
    backend.index([
        make_doc("电梯", category="maintenance", location="A-01-001-0101", date=datetime.date(2024, 1, 1)),
        make_doc("电梯", category="maintenance", location="B2-01-001-0101", date=datetime.date(2023, 1, 1)),
        make_doc("电梯", category="safety", location=None, security=PUBLIC, status="on_hold",
                 date=datetime.date(2024, 2, 1)),
        make_doc("绿化", category="environment"),
    ])
    result = search(backend, "电梯", limit=1)
    assert result.total == 3
    assert len(result.hits) == 1
    assert result.facets == {
        "category": {"maintenance": 2, "safety": 1},
        "year": {"2024": 2, "2023": 1},
        "security": {"1": 2, "0": 1},
        "status": {"active": 2, "on_hold": 1},
        "project": {"A": 1, "B2": 1},
    }


def test_facets_follow_the_filters(backend):
    backend.index([make_doc("电梯", category="maintenance"), make_doc("电梯", category="safety")])
    result = search(backend, "电梯", categories=["safety"])
    assert result.facets["category"] == {"safety": 1}


def test_facets_can_be_left_out(backend):
    backend.index([make_doc("电梯")])
    assert search(backend, "电梯", facets=False).facets == {}


# ------------------------------------------------------------------------- clearance


def test_public_reader_sees_no_count_of_confidential_hits(backend):
    public = make_doc("电梯维修", security=PUBLIC)
    backend.index([
        public,
        make_doc("电梯维修", security=INTERNAL),
        make_doc("电梯维修", security=CONFIDENTIAL, category="owner"),
        make_doc("电梯维修", security=SECRET, category="finance"),
    ])
    result = search(backend, "电梯", reader=Reader(clearance=PUBLIC))
    assert [h.record_id for h in result.hits] == [public.record_id]
    assert result.total == 1
    assert result.facets["security"] == {"0": 1}
    assert result.facets["category"] == {"maintenance": 1}
    assert sum(result.facets["year"].values()) == 1


@pytest.mark.parametrize("query", ["电梯", "梯", '"电梯维修" -外墙', "电梯 OR 扶梯", "A-01-001", ""])
def test_each_clearance_sees_exactly_its_levels_for_every_kind_of_query(backend, query):
    docs = {level: make_doc("电梯维修记录。", security=level, location="A-01-001-0101") for level in range(4)}
    backend.index(list(docs.values()))
    for clearance in range(4):
        result = search(backend, query, reader=Reader(clearance=clearance))
        assert {h.record_id for h in result.hits} == {docs[lv].record_id for lv in range(clearance + 1)}
        assert result.total == clearance + 1
        assert result.facets["security"] == {str(lv): 1 for lv in range(clearance + 1)}
        # asking for one level narrows within the clearance, never beyond it
        for level in range(4):
            only = search(backend, query, reader=Reader(clearance=clearance), security=[level])
            assert {h.record_id for h in only.hits} == ({docs[level].record_id} if level <= clearance else set())


def test_clearance_is_applied_before_paging(backend):
    visible = [make_doc("电梯", security=PUBLIC) for _ in range(3)]
    backend.index([make_doc("电梯 电梯 电梯", security=SECRET) for _ in range(5)] + visible)
    page = search(backend, "电梯", reader=Reader(clearance=PUBLIC), limit=2)
    assert page.total == 3
    assert len(page.hits) == 2
    assert {h.record_id for h in page.hits} <= {d.record_id for d in visible}


def test_reader_category_rights_limit_hits_and_facets(backend):
    owner = make_doc("电梯", category="owner")
    maint = make_doc("电梯", category="maintenance")
    backend.index([owner, maint])
    reader = Reader(clearance=SECRET, categories=frozenset({"maintenance"}))
    result = search(backend, "电梯", reader=reader)
    assert {h.record_id for h in result.hits} == {maint.record_id}
    assert result.facets["category"] == {"maintenance": 1}
    assert found(backend, "电梯", reader=reader, categories=["owner"]) == set()


def test_reader_without_any_category_right_sees_nothing(backend):
    backend.index([make_doc("电梯", security=PUBLIC)])
    result = search(backend, "电梯", reader=Reader(clearance=SECRET, categories=frozenset()))
    assert (result.total, result.hits) == (0, [])
    assert all(counts == {} for counts in result.facets.values())


def test_request_filters_cannot_widen_the_readers_rights(backend):
    backend.index([make_doc("电梯", security=SECRET)])
    result = search(backend, "电梯", reader=Reader(clearance=PUBLIC), security=[SECRET])
    assert result.total == 0
    assert result.hits == []


# --------------------------------------------------------------------- paging, sort


def test_pages_cover_all_hits_without_overlap(backend):
    docs = [make_doc(f"电梯 第{i}次") for i in range(7)]
    backend.index(docs)
    pages = [search(backend, "电梯", offset=o, limit=3) for o in (0, 3, 6)]
    ids = [h.record_id for p in pages for h in p.hits]
    assert [len(p.hits) for p in pages] == [3, 3, 1]
    assert sorted(ids) == sorted(d.record_id for d in docs)
    assert all(p.total == 7 for p in pages)


def test_sort_by_date_puts_undated_records_last(backend):
    old = make_doc(date=datetime.date(2020, 1, 1))
    new = make_doc(date=datetime.date(2024, 1, 1))
    mid = make_doc(date=datetime.date(2022, 1, 1))
    undated = make_doc(date=None)
    backend.index([mid, undated, old, new])
    desc = [h.record_id for h in search(backend, sort="date_desc").hits]
    asc = [h.record_id for h in search(backend, sort="date_asc").hits]
    assert desc == [new.record_id, mid.record_id, old.record_id, undated.record_id]
    assert asc == [old.record_id, mid.record_id, new.record_id, undated.record_id]


def test_unknown_sort_and_deep_pages_are_refused(backend):
    with pytest.raises(InvalidInput):
        search(backend, sort="title")
    with pytest.raises(InvalidInput):
        search(backend, offset=20_000)


def test_relevance_ranks_more_mentions_higher(backend):
    many = make_doc("漏水。漏水。漏水。地下室漏水。")
    once = make_doc("地下室漏水，物业已派人查看并处理完毕，业主表示满意。")
    backend.index([once, many])
    hits = search(backend, "漏水").hits
    assert hits[0].record_id == many.record_id
    assert hits[0].score > hits[1].score > 0


# ------------------------------------------------------------------------ snippets


def test_snippet_marks_matches_and_escapes_html(backend):
    doc = make_doc("<b>注意</b>：电梯 & 扶梯维修")
    backend.index([doc])
    snippet = search(backend, "电梯").hits[0].snippet
    assert snippet == "&lt;b&gt;注意&lt;/b&gt;：<mark>电梯</mark> &amp; 扶梯维修"


def test_snippet_is_a_window_around_the_first_match(backend):
    doc = make_doc("前言" * 200 + "水泵房漏水" + "后记" * 200)
    backend.index([doc])
    snippet = search(backend, "漏水").hits[0].snippet
    assert "<mark>漏水</mark>" in snippet
    assert snippet.startswith("…") and snippet.endswith("…")
    assert len(snippet) < 200


def test_snippet_marks_traditional_text_for_a_simplified_query(backend):
    doc = make_doc("本月電梯維修兩次。")
    backend.index([doc])
    assert search(backend, "电梯").hits[0].snippet == "本月<mark>電梯</mark>維修兩次。"


def test_hit_carries_the_display_fields(backend):
    doc = make_doc("电梯维修", archive_no="WX-A-01-001-0101-2024-0007", title="电梯维修单",
                   category="maintenance", location="A-01-001-0101", date=datetime.date(2024, 5, 20))
    backend.index([doc])
    hit = search(backend, "电梯").hits[0]
    assert (hit.record_id, hit.archive_no, hit.title, hit.category, hit.location, hit.date) == (
        doc.record_id, "WX-A-01-001-0101-2024-0007", "电梯维修单", "maintenance", "A-01-001-0101",
        datetime.date(2024, 5, 20))


# -------------------------------------------------------------------- index lifecycle


def test_reindexing_a_record_replaces_it(backend):
    doc = make_doc("电梯维修")
    backend.index([doc])
    changed = make_doc("绿化养护", record_id=doc.record_id)
    backend.index([changed])
    assert found(backend, "电梯") == set()
    assert found(backend, "绿化") == {doc.record_id}
    assert backend.count() == 1


def test_indexing_is_idempotent(backend):
    docs = [make_doc("电梯"), make_doc("水管")]
    backend.index(docs)
    backend.index(docs)
    assert backend.count() == 2
    assert search(backend, "电梯").total == 1


def test_last_version_in_one_batch_wins(backend):
    first = make_doc("电梯")
    second = make_doc("水管", record_id=first.record_id)
    backend.index([first, second])
    assert backend.get_ids() == {first.record_id}
    assert found(backend, "水管") == {first.record_id}


def test_delete_removes_records_and_ignores_unknown_ids(backend):
    a, b = make_doc("电梯"), make_doc("电梯")
    backend.index([a, b])
    backend.delete([a.record_id, "no-such-record"])
    backend.delete([a.record_id])
    assert backend.get_ids() == {b.record_id}
    assert found(backend, "电梯") == {b.record_id}


def test_count_get_ids_and_clear(backend):
    docs = [make_doc() for _ in range(5)]
    backend.index(docs)
    assert backend.count() == 5
    assert backend.get_ids() == {d.record_id for d in docs}
    backend.clear()
    assert backend.count() == 0
    assert backend.get_ids() == set()
    backend.index(docs[:1])
    assert backend.get_ids() == {docs[0].record_id}


def test_invalid_document_is_refused(backend):
    with pytest.raises(InvalidInput):
        backend.index([make_doc(security=7)])
    with pytest.raises(InvalidInput):
        backend.index([make_doc(status="lost")])


def test_bulk_rebuild_is_searchable_when_done(backend):
    docs = [make_doc(f"电梯 第{i}批") for i in range(9)]
    with backend.bulk():
        for i in range(0, 9, 3):
            backend.index(docs[i : i + 3])
        backend.delete([docs[0].record_id])
    assert backend.count() == 8
    assert found(backend, "电梯") == {d.record_id for d in docs[1:]}


def test_bulk_load_replaces_a_record_indexed_twice(backend):
    first = make_doc("电梯")
    again = make_doc("水管", record_id=first.record_id)
    with backend.bulk():
        backend.index([first])
        backend.index([again])
    assert backend.count() == 1
    assert found(backend, "电梯") == set()
    assert found(backend, "水管") == {first.record_id}
