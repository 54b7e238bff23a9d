"""The blind-index and classifier-cache keys have their own rotation story: `keys
rekey-index` rebuilds every record's tokens under a new key (resumable; searches keep
working throughout), `keys rotate-cache` re-keys the classifier cache, `keys status`
shows every key's generation."""

from __future__ import annotations

import io
import os

import pytest
from sqlalchemy import delete, select

from dangan.archive.derived_keys import BLIND_INDEX
from dangan.archive.models import BlindIndex
from dangan.archive.pii import text_tokens
from dangan.archive.records import RecordInput
from dangan.errors import PermissionDenied

ID_CARD = "110101199003074514"
MOBILE = "13812345678"


def add(system, text: str, *, queue: bool = False, title: str = "业主登记表") -> str:
    """A record as ingest makes it: text pages plus its tokens under the current key."""
    data = RecordInput(original_name="a.pdf", media_type="application/pdf", title=title,
                       category="owner", location="A-01", queue=queue,
                       text_pages=[{"page": 1, "text": text, "confidence": 1.0}],
                       pii_tokens=text_tokens(system.blind_key, text))
    return system.records.create(system.actor("wang"), io.BytesIO(os.urandom(2000)), data).record_id


def found(system, query: str) -> set[str]:
    hits = system.search_service.search(system.actor("wang"), query)["hits"]
    return {h["archive_no"] for h in hits}


def tokens(system) -> set[tuple[str, str, int]]:
    with system.db.read() as s:
        return {(t, r, g) for t, r, g in s.execute(
            select(BlindIndex.token, BlindIndex.record_id, BlindIndex.generation))}


def archive(system, n: int = 6) -> list[str]:
    """`n` records, each with its own phone number; one 身份证号 shared by two; one in 待分类."""
    ids = [add(system, f"业主 张{i} 手机 138{i:08d} 登记。") for i in range(n)]
    ids.append(add(system, f"业主身份证号 {ID_CARD}，联系电话 {MOBILE}。"))
    ids.append(add(system, f"复印件 身份证 {ID_CARD}", queue=True, title="待分类复印件"))
    ids.append(add(system, "没有个人号码的巡查记录。"))
    system.search_service.sync()
    return ids


def test_after_rekey_the_same_numbers_find_the_same_records_with_new_tokens_only(system) -> None:
    archive(system)
    before_id, before_phone, before_one = found(system, ID_CARD), found(system, MOBILE), found(system, "13800000003")
    assert len(before_id) == 2 and len(before_phone) == 1 and len(before_one) == 1
    old = tokens(system)

    report = system.keys.rekey_index(system.actor("root"), batch=3)

    assert (report.generation, report.previous, report.records) == (2, 1, 9)
    assert found(system, ID_CARD) == before_id
    assert found(system, MOBILE) == before_phone and found(system, "13800000003") == before_one
    new = tokens(system)
    assert {g for _, _, g in new} == {2} and report.tokens == len(new) == len(old) == report.removed
    assert not {t for t, _, _ in old} & {t for t, _, _ in new}       # every token differs
    assert {r for _, r, _ in old} == {r for _, r, _ in new}          # for the same records
    with system.db.read() as s:
        row = system.records.derived.row(s, BLIND_INDEX, 1)
        assert row.state == "retired"
    log = system.audit_log(system.actor("audit1"), action="keys.rekey_index")
    assert [e["outcome"] for e in log] == ["started", "ok"]
    assert system.verify_audit(system.actor("audit1")).ok


def test_a_rebuild_interrupted_half_way_leaves_search_working_and_a_rerun_finishes(
        system, monkeypatch: pytest.MonkeyPatch) -> None:
    archive(system)
    old = tokens(system)
    read = system.records.read_text_pages
    calls = {"n": 0}

    def crash_after_four(rec):
        calls["n"] += 1
        if calls["n"] > 4:
            raise RuntimeError("power cut")
        return read(rec)

    monkeypatch.setattr(system.records, "read_text_pages", crash_after_four)
    with pytest.raises(RuntimeError):
        system.keys.rekey_index(system.actor("root"), batch=2)
    monkeypatch.setattr(system.records, "read_text_pages", read)

    # half-way: the old tokens all there and used; two batches of new ones beside them
    assert {x for x in tokens(system) if x[2] == 1} == old
    assert len(found(system, ID_CARD)) == 2 and len(found(system, MOBILE)) == 1
    status = system.keys.status(system.actor("root"))[BLIND_INDEX]
    assert status["generation"] == 1 and status["unfinished"] == {"generation": 2, "state": "building",
                                                                  "records_done": 4}
    late = add(system, "新来的业主 手机 13911112222。")  # written under the old key meanwhile
    system.search_service.sync()

    report = system.keys.rekey_index(system.actor("root"), batch=2)
    assert report.resumed and report.generation == 2
    assert {g for _, _, g in tokens(system)} == {2}
    assert len(found(system, ID_CARD)) == 2 and len(found(system, MOBILE)) == 1
    assert len(found(system, "13911112222")) == 1 and late in {r for _, r, _ in tokens(system)}
    assert system.keys.status(system.actor("root"))[BLIND_INDEX]["unfinished"] is None


def test_a_personal_number_search_between_switch_and_cleanup_works(system, monkeypatch) -> None:
    ids = archive(system)
    keys = system.keys
    old_key = system.blind_key  # generation 1
    catch_up = keys._catch_up
    seen: dict[str, set[str]] = {}
    calls = {"n": 0}

    def after_switch(old: int, new: int):
        calls["n"] += 1
        if calls["n"] == 2:  # the second catch-up runs after the switch, before the cleanup
            # an ingest batch that began under the old key commits now: its tokens are redone
            stale = RecordInput(original_name="b.pdf", media_type="application/pdf", title="迟到的登记表",
                                category="owner", location="A-01",
                                text_pages=[{"page": 1, "text": f"身份证 {ID_CARD}"}],
                                pii_tokens=text_tokens(old_key, f"身份证 {ID_CARD}"),
                                pii_generation=old)
            system.records.create(system.actor("wang"), io.BytesIO(os.urandom(500)), stale)
            system.search_service.sync()
            # and a record not yet caught up: its new tokens missing, only the old ones there
            with system.db.session() as s:
                s.execute(delete(BlindIndex).where(BlindIndex.record_id == ids[-2], BlindIndex.generation == new))
            seen["id"], seen["phone"] = found(system, ID_CARD), found(system, MOBILE)
            seen["generations"] = {str(g) for _, _, g in tokens(system)}
        return catch_up(old, new)

    monkeypatch.setattr(keys, "_catch_up", after_switch)
    keys.rekey_index(system.actor("root"))
    assert seen["generations"] == {"1", "2"}          # both still there at that moment
    assert len(seen["id"]) == 3 and len(seen["phone"]) == 1
    assert len(found(system, ID_CARD)) == 3            # the late record made it into generation 2
    assert {g for _, _, g in tokens(system)} == {2}


def test_destroyed_records_get_no_tokens(system) -> None:
    from dangan.archive.models import Record
    from dangan.archive.shred import forget_key

    ids = archive(system)
    with system.db.session() as s:
        forget_key(s, s.get(Record, ids[-3]))          # the one with the 身份证号 and the phone
    system.keys.rekey_index(system.actor("root"))
    assert ids[-3] not in {r for _, r, _ in tokens(system)}
    assert len(found(system, ID_CARD)) == 1 and found(system, MOBILE) == set()


def test_keys_commands_need_the_key_admin_right(system) -> None:
    for call in (lambda a: system.keys.rekey_index(a), lambda a: system.keys.rotate_cache(a),
                 lambda a: system.keys.status(a)):
        with pytest.raises(PermissionDenied):
            call(system.actor("wang"))
    denied = [e["action"] for e in system.audit_log(system.actor("audit1")) if e["outcome"] == "denied"]
    assert {"keys.rekey_index", "keys.rotate_cache", "keys.status"} <= set(denied)


def test_rekeyed_keys_survive_a_kek_rotation(system) -> None:
    archive(system)
    system.keys.rekey_index(system.actor("root"))
    result = system.rotate_keys(system.actor("root"))
    assert result["purpose_keys"] == 1
    system.records.derived._keys.clear()              # as a fresh process: unwrap again
    assert len(found(system, ID_CARD)) == 2
    with system.db.read() as s:
        assert system.records.derived.row(s, BLIND_INDEX, 2).kek_id == result["active"]


def test_rotate_cache_keeps_classification_working_and_never_reads_the_old_entry(system) -> None:
    from dangan.ingest import learning

    add(system, "电梯 维修 保养 记录 电梯 故障", title="电梯维修记录")
    learning.current_classifier(system)                       # trains and caches under generation 1
    signature = learning._signature(system)
    assert learning._load_cached(system, signature) is not None
    old_blob = b"".join(system.store.get(learning.MODEL_KEY))

    result = system.keys.rotate_cache(system.actor("root"))
    assert (result["generation"], result["previous"]) == (2, 1)
    assert not system.store.exists(learning.MODEL_KEY)         # invalidated
    system.store.put(learning.MODEL_KEY, [old_blob])           # an old entry comes back (a backup, a race)
    assert learning._load_cached(system, signature) is None    # a miss, not an error
    model = learning.current_classifier(system)                # retrained and cached under the new key
    assert model.predict("电梯 维修", "维修记录").category
    assert learning._load_cached(system, signature) is not None
    assert b"".join(system.store.get(learning.MODEL_KEY)) != old_blob


def test_the_switch_waits_for_a_writer_that_holds_the_old_generation(system) -> None:
    """An ingest transaction holds the current generation (a shared row lock on PostgreSQL,
    the one write lock on SQLite), so the switch cannot slip in between its read of the
    generation and its commit."""
    import threading

    with system.db.session() as s:
        new = system.records.derived.create(s, BLIND_INDEX, "building", "root")
    switched = threading.Event()
    with system.db.session() as s:
        assert system.records.derived.current(s, BLIND_INDEX, lock=True) == 1
        worker = threading.Thread(target=lambda: (system.keys._switch(1, new), switched.set()))
        worker.start()
        assert not switched.wait(1.0)  # held back while the writer's transaction is open
    worker.join(10)
    assert switched.is_set()
    with system.db.read() as s:
        assert system.records.derived.current(s, BLIND_INDEX, lock=True) == new


def test_two_rekey_runs_at_once_share_the_work_and_finish_one_generation(system) -> None:
    import threading
    import time

    from dangan.archive.models import AuditEntry

    archive(system, 20)
    errors: list[BaseException] = []

    def started() -> int:
        with system.db.read() as s:
            return len(s.execute(select(AuditEntry.id).where(
                AuditEntry.action == "keys.rekey_index", AuditEntry.outcome == "started")).all())

    def overlap(_done: int) -> None:
        """The first run to finish a batch waits for the second to start: the runs really
        overlap however the threads are scheduled (a late second run would start a third
        generation of its own, rightly)."""
        deadline = time.monotonic() + 60
        while started() < 2 and time.monotonic() < deadline:
            time.sleep(0.01)

    def run() -> None:
        try:
            system.keys.rekey_index(system.actor("root"), batch=2, progress=overlap)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert {g for _, _, g in tokens(system)} == {2}
    assert len(found(system, ID_CARD)) == 2 and len(found(system, "13800000017")) == 1
    assert system.keys.status(system.actor("root"))[BLIND_INDEX] | {"since": None} == {
        "generation": 2, "since": None, "rotations": 1, "derived_from_audit_key": False, "unfinished": None}
