"""A run over many records: rows read in bulk, states written in chunks, and still every
tampered record reported under its own number, the rest left passing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select, update

from dangan.archive.models import Record
from dangan.archive.records import object_key
from dangan.integrity import state as remember
from dangan.integrity.models import VerifyState
from tests.handover.conftest import add_record

TITLES = ["电梯设备台账", "水泵设备台账", "消防设备台账", "配电设备台账", "监控设备台账", "门禁设备台账",
          "供暖设备台账"]


@pytest.fixture
def numbers(system, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Seven records, checked once; states are then written two ids per statement."""
    monkeypatch.setattr(remember, "CHUNK", 2)
    nos = [add_record(system, tmp_path, title, "equipment", "A-01") for title in TITLES]
    assert system.verify.run(system.actor("audit1"), mode="full")["failed"] == 0
    return nos


def _ids(system, nos: list[str]) -> list[str]:
    with system.db.read() as s:
        return [system.records.find(s, no).id for no in nos]


def _states(system) -> dict[str, VerifyState]:
    with system.db.read() as s:
        rows = list(s.execute(select(VerifyState)).scalars())
        for row in rows:
            s.expunge(row)
    return {r.record_id: r for r in rows}


def test_tampered_records_in_the_middle_of_a_run_fail_under_their_own_numbers(system, numbers) -> None:
    ids = _ids(system, numbers)
    # record 2 gets record 4's ciphertext: well-formed, but sealed to another record
    system.store.put(object_key(ids[2], "original"), system.store.get(object_key(ids[4], "original")))
    with system.db.session() as s:  # record 3: a title edited behind the service's back
        s.execute(update(Record).where(Record.id == ids[3]).values(title="配电\x07设备台账"))
        s.execute(update(Record).where(Record.id == ids[5]).values(sha256="0" * 64))  # 5: a wrong digest
    report = system.verify.run(system.actor("audit1"), mode="full")
    rows = {r["archive_no"]: r for r in report["results"]}
    assert set(rows) == set(numbers) and report["checked"] == 7
    failed = {no for no, r in rows.items() if not r["ok"]}
    assert failed == {numbers[2], numbers[3], numbers[5]}
    assert rows[numbers[2]]["details"]["decrypts"] is not True
    assert rows[numbers[2]]["checks"]["security"] is not True
    assert "控制字符" in rows[numbers[3]]["details"]["no_forbidden_characters"]
    assert rows[numbers[3]]["details"]["decrypts"] is True and rows[numbers[3]]["details"]["fixity"] is True
    assert "SHA-256" in rows[numbers[5]]["details"]["fixity"]
    for no in set(numbers) - failed:
        assert all(v is True for v in rows[no]["details"].values()), rows[no]
    assert report["per_check"]["decrypts"] == {"passed": 6, "failed": 1}
    assert report["per_check"]["fixity"]["failed"] == 2  # record 2 never hashed, record 5 hashed wrong
    latest = system.verify.latest(system.actor("audit1"))
    assert sorted(r["archive_no"] for r in latest["failures"]) == sorted(failed)


def test_the_remembered_state_follows_each_record_through_the_chunks(system, numbers) -> None:
    ids = _ids(system, numbers)
    before = _states(system)
    system.store.delete(object_key(ids[3], "original"))
    report = system.verify.run(system.actor("audit1"), mode="full")
    after = _states(system)
    assert set(after) == set(ids)
    for rid in ids:
        assert after[rid].run_id == report["run_id"] and after[rid].checked_at >= before[rid].checked_at
    assert after[ids[3]].ok is False and "缺失" in json.loads(after[ids[3]].details)["objects_present"]
    for rid in set(ids) - {ids[3]}:
        assert after[rid].ok is True and after[rid].details == remember.PASSED
        assert after[rid].content == before[rid].content  # the rendered outcome is kept, not redone
    # the next periodic run reads only the failed record, and finds it still failing
    again = system.verify.run(system.actor("audit1"), mode="incremental")
    assert [r["archive_no"] for r in again["results"]] == [numbers[3]] and again["failed"] == 1


def test_a_record_that_is_mended_passes_and_is_remembered_as_passing(system, numbers) -> None:
    ids = _ids(system, numbers)
    with system.db.session() as s:
        s.execute(update(Record).where(Record.id == ids[1]).values(title="水泵\u200b设备台账"))
    assert system.verify.run(system.actor("audit1"), mode="full")["failed"] == 1
    assert _states(system)[ids[1]].ok is False
    with system.db.session() as s:
        s.execute(update(Record).where(Record.id == ids[1]).values(title=TITLES[1]))
    report = system.verify.run(system.actor("audit1"), mode="full")
    assert report["failed"] == 0
    mended = _states(system)[ids[1]]
    assert mended.ok is True and mended.details == remember.PASSED and mended.run_id == report["run_id"]
    assert system.verify.run(system.actor("audit1"), mode="incremental")["checked"] == 0
