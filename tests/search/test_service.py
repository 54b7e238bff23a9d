"""The search service over the real records service: the outbox keeps the index in step,
clearance is part of every query, personal numbers only through the blind index, every
search audited. Runs on the embedded index and on the real Elasticsearch node."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from dangan.archive.models import AuditEntry
from dangan.archive.pii import blind_token, mask_text
from dangan.archive.records import RecordInput
from dangan.errors import PermissionDenied
from dangan.search.backend import open_backend
from dangan.search.service import SearchService

ROOT = Path(__file__).resolve().parents[2]
ID_CARD = "110101199003074514"  # valid GB 11643 checksum
MOBILE = "13912345678"


@pytest.fixture(params=["embedded", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)])
def svc(request, sqlite_system, tmp_path: Path):
    if request.param == "embedded":
        backend = open_backend("embedded", path=tmp_path / "index")
    else:
        url = request.getfixturevalue("es_server_url")
        backend = open_backend("elasticsearch", url=url, index=f"dangan-svc-{uuid.uuid4().hex[:10]}")
    service = SearchService(sqlite_system, backend)
    sqlite_system.__dict__["search_service"] = service
    yield service
    if request.param == "elasticsearch":
        backend.drop()
    backend.close()


def add(system, text: str, **kw) -> str:
    """A record as ingest makes it: text pages plus blind-index tokens of its personal numbers."""
    tokens = [(m.kind, blind_token(system.blind_key, m.kind, m.value)) for m in mask_text(text)[1]]
    data = dict(original_name="x.pdf", media_type="application/pdf", title="维修记录",
                category="maintenance", location="A-01-001-0101", doc_date=dt.date(2024, 3, 5),
                text_pages=[{"page": 1, "text": text, "confidence": 1.0}], pii_tokens=tokens)
    data.update(kw)
    src = uuid.uuid4().bytes * 10
    import io

    return system.records.create(system.actor("wang"), io.BytesIO(src), RecordInput(**data)).archive_no


def hits(result: dict) -> list[str]:
    return [h["archive_no"] for h in result["hits"]]


def test_new_records_are_found_after_the_outbox_drains(svc) -> None:
    system = svc.system
    no = add(system, "三号电梯困人，维修人员十分钟到场。")
    assert svc.search(system.actor("wang"), "电梯")["total"] == 0  # not yet drained
    assert svc.sync() == 1 and svc.pending() == 0
    assert hits(svc.search(system.actor("wang"), "电梯")) == [no]
    assert hits(svc.search(system.actor("wang"), "電梯")) == [no]  # Traditional finds Simplified


def test_public_reader_sees_neither_hits_nor_count_of_internal_records(svc) -> None:
    system = svc.system
    add(system, "地下车库漏水严重。")
    add(system, "业主反映车库漏水。", category="owner", title="业主来函")
    add(system, "车库漏水已修复。", security="public")
    svc.sync()
    assert svc.search(system.actor("wang"), "漏水")["total"] == 3
    assert svc.search(system.actor("li"), "漏水")["total"] == 2  # internal, not confidential
    guest = svc.search(system.actor("guest"), "漏水")
    assert guest["total"] == 1 and sum(guest["facets"]["category"].values()) == 1


def test_exact_id_number_finds_its_record_only_for_cleared_readers(svc) -> None:
    system = svc.system
    no = add(system, f"业主姓名：王小明 身份证号：{ID_CARD} 联系电话：{MOBILE}", category="owner",
             title="业主登记表")
    add(system, "另一份无关的登记表。", category="owner", title="业主登记表")
    svc.sync()
    assert hits(svc.search(system.actor("zhao"), ID_CARD)) == [no]
    assert hits(svc.search(system.actor("zhao"), "139 1234 5678")) == [no]
    assert svc.search(system.actor("li"), ID_CARD)["total"] == 0  # internal clearance: owner files are confidential


def test_personal_numbers_never_reach_the_index(svc) -> None:
    system = svc.system
    add(system, f"身份证号：{ID_CARD}，手机 {MOBILE}", security="public")
    svc.sync()
    from dangan.search.backend import Reader, SearchRequest

    for fragment in ("110101", "19900307", "1391234"):
        assert svc.backend.search(SearchRequest(query=fragment, reader=Reader(3))).total == 0
    [hit] = svc.search(system.actor("wang"), "身份证号")["hits"]
    assert ID_CARD not in hit["snippet"] and "****" in hit["snippet"]


def test_every_search_is_audited_and_personal_numbers_are_masked_there(svc) -> None:
    system = svc.system
    add(system, "电梯年检合格。")
    svc.sync()
    svc.search(system.actor("li"), "电梯", categories=["maintenance"], year_from=2020)
    svc.search(system.actor("li"), ID_CARD)
    with system.db.read() as s:
        rows = list(s.execute(select(AuditEntry).where(AuditEntry.action == "search")).scalars())
    first, second = (json.loads(r.detail) for r in rows[-2:])
    assert rows[-1].actor == "li" and first["query"] == "电梯" and first["hits"] == 1
    assert first["categories"] == ["maintenance"] and first["year_from"] == 2020
    assert ID_CARD not in rows[-1].detail and "****4514" in second["query"]


def test_staff_without_search_right_is_refused_and_audited(svc) -> None:
    with pytest.raises(PermissionDenied):
        svc.search(svc.system.actor("root"), "电梯")


def test_a_correction_reaches_the_index_and_the_old_number_still_finds_it(svc) -> None:
    system = svc.system
    old = add(system, "水泵房巡检。")
    svc.sync()
    new = system.records.edit(system.actor("wang"), old, {"location": "A-01-002-0101"}, "位置录错")["archive_no"]
    svc.sync()
    assert hits(svc.search(system.actor("wang"), new)) == [new]
    assert hits(svc.search(system.actor("wang"), old)) == [new]
    assert hits(svc.search(system.actor("wang"), "水泵", location="A-01-002")) == [new]
    assert svc.search(system.actor("wang"), "水泵", location="A-01-001")["total"] == 0


def test_sync_twice_changes_nothing_and_reindex_matches_the_database(svc) -> None:
    system = svc.system
    for i in range(5):
        add(system, f"第{i}次消防巡查，消防栓完好。", category="safety")
    svc.sync()
    assert svc.sync() == 0
    assert svc.reindex(system.actor("wang")) == 5
    state = svc.consistency()
    assert state == {"missing": [], "extra": [], "pending": 0}
    assert svc.search(system.actor("wang"), "消防栓")["total"] == 5


@pytest.mark.elasticsearch
def test_index_catches_up_after_elasticsearch_is_killed_mid_ingest(sqlite_system, es_server_url, tmp_path) -> None:
    """Stop the real node while records keep arriving; start it again; sync; the index
    matches the database exactly."""
    backend = open_backend("elasticsearch", url=es_server_url, index=f"dangan-outage-{uuid.uuid4().hex[:8]}")
    svc = SearchService(sqlite_system, backend)
    sqlite_system.__dict__["search_service"] = svc
    script = str(ROOT / "scripts" / "elasticsearch.sh")
    try:
        for i in range(3):
            add(sqlite_system, f"停电检修第{i}次。")
        svc.sync()
        subprocess.run([script, "stop"], check=True, capture_output=True, timeout=120)
        for i in range(4):
            add(sqlite_system, f"停电期间新增第{i}份记录。")
        with pytest.raises(Exception):  # noqa: B017 - any connection error: the outbox keeps the rows
            svc.sync()
        assert svc.pending() == 4
    finally:
        subprocess.run([script, "start"], check=True, capture_output=True, timeout=600)
    assert svc.sync() == 4
    assert svc.consistency() == {"missing": [], "extra": [], "pending": 0}
    assert svc.search(sqlite_system.actor("wang"), "停电")["total"] == 7
    backend.drop()
    backend.close()


def test_a_large_backlog_is_loaded_by_a_process_pool_and_matches_the_database(svc, monkeypatch) -> None:
    import dangan.search.service as service_mod

    monkeypatch.setattr(service_mod, "PARALLEL_FROM", 10)
    monkeypatch.setattr(service_mod, "SYNC_BATCH", 7)
    system = svc.system
    for i in range(30):
        add(system, f"第{i}号水箱清洗记录。", category="environment")
    assert svc.sync(workers=2) == 30
    assert svc.consistency() == {"missing": [], "extra": [], "pending": 0}
    assert svc.search(system.actor("wang"), "水箱", limit=50)["total"] == 30
    # a rebuild goes through the same pool
    assert svc.reindex(system.actor("wang"), workers=2) == 30
    assert svc.consistency() == {"missing": [], "extra": [], "pending": 0}
    assert svc.search(system.actor("wang"), "水箱", limit=50)["total"] == 30


def test_a_recoded_record_is_found_by_its_new_and_its_earlier_archive_number(svc) -> None:
    system = svc.system
    old = add(system, "屋面防水层修补。")
    new = system.records.edit(system.actor("wang"), old, {"category": "safety"}, "类别更正")["archive_no"]
    assert new != old
    svc.sync()
    wang = system.actor("wang")
    for number in (old, new):
        hits = svc.search(wang, number)["hits"]
        assert [h["archive_no"] for h in hits] == [new]


# ------------------------------------------------ [search] withhold_text_from


def withhold(system, level: str) -> None:
    import dataclasses

    system.settings = dataclasses.replace(system.settings, search_withhold_text_from=level)


def stored_text(svc, archive_no: str) -> str | None:
    """The text the index keeps for a record, read straight from its stored value."""
    with svc.system.db.read() as s:
        rid = svc.system.records.find(s, archive_no).id
    b = svc.backend
    if hasattr(b, "_es"):
        return b._es.get(index=b.index_name, id=rid)["_source"].get("text")
    import tantivy

    from dangan.search.embedded import _decode_stored

    searcher = b._searcher()
    [(_, address)] = searcher.search(tantivy.Query.term_query(b._schema, "id", rid), 1).hits
    return _decode_stored(bytes(searcher.doc(address)["src"][0]))["text"]


def snippet_of(result: dict, archive_no: str) -> str:
    [snip] = [h["snippet"] for h in result["hits"] if h["archive_no"] == archive_no]
    return snip


def test_withheld_text_is_not_stored_yet_found_and_shown_from_decryption(svc) -> None:
    system = svc.system
    withhold(system, "confidential")
    conf = add(system, f"消防泵房漏水，业主来电 {MOBILE} 报修，已关闭阀门。", security="confidential")
    secret = add(system, "消防演练方案（机密）。", security="secret")
    pub = add(system, "消防通道畅通，无杂物。", security="public")
    svc.sync()
    assert not stored_text(svc, conf) and not stored_text(svc, secret)
    assert stored_text(svc, pub) == "消防通道畅通，无杂物。"

    assert hits(svc.search(system.actor("zhao"), "泵房")) == [conf]      # the tokens stay
    result = svc.search(system.actor("wang"), "消防")
    assert sorted(hits(result)) == sorted([conf, secret, pub])
    snip = snippet_of(result, conf)
    assert "<mark>消防</mark>泵房漏水" in snip                             # from the decrypted text
    assert MOBILE not in snip and "****5678" in snip                      # masked as at indexing
    assert "<mark>消防</mark>演练方案" in snippet_of(result, secret)
    from dangan.search import analysis
    assert snippet_of(result, pub) == analysis.snippets(["消防通道畅通，无杂物。"], ["消防"])[0]
    assert hits(svc.search(system.actor("li"), "泵房")) == []             # rights unchanged


def test_withholding_applies_at_reindex_and_off_behaves_as_before(svc) -> None:
    system = svc.system
    conf = add(system, "地下室配电箱更换记录。", security="confidential")
    svc.sync()
    assert stored_text(svc, conf) == "地下室配电箱更换记录。"                 # off (the default)
    before = snippet_of(svc.search(system.actor("wang"), "配电箱"), conf)

    withhold(system, "internal")
    assert stored_text(svc, conf) == "地下室配电箱更换记录。"                 # until a reindex
    assert snippet_of(svc.search(system.actor("wang"), "配电箱"), conf) == before
    svc.reindex()
    assert not stored_text(svc, conf)
    assert snippet_of(svc.search(system.actor("wang"), "配电箱"), conf) == before

    withhold(system, "none")
    svc.reindex()
    assert stored_text(svc, conf) == "地下室配电箱更换记录。"
    assert snippet_of(svc.search(system.actor("wang"), "配电箱"), conf) == before


def test_personal_numbers_find_the_same_records_after_the_blind_index_is_rekeyed(svc) -> None:
    system = svc.system
    first = add(system, f"业主身份证号 {ID_CARD}，电话 {MOBILE}。", category="owner", title="业主登记表")
    second = add(system, f"复印件：{ID_CARD}")
    svc.sync()
    wang = system.actor("wang")
    assert sorted(hits(svc.search(wang, ID_CARD))) == sorted([first, second])
    report = system.keys.rekey_index(system.actor("root"))
    assert report.generation == 2 and report.removed == report.tokens == 3
    assert sorted(hits(svc.search(wang, ID_CARD))) == sorted([first, second])
    assert hits(svc.search(wang, MOBILE)) == [first]
