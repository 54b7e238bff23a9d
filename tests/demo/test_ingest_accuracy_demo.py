"""The issue #8 demo documents: what a newcomer sees in the records list and in 待分类."""

from __future__ import annotations

from dangan.demo.ingest_accuracy import add_ingest_accuracy_demo


def test_demo_shows_building_codes_traditional_titles_and_undated_records_waiting(sqlite_system) -> None:
    from dangan.demo.corpus import DEFAULT_PROJECTS

    root = sqlite_system.actor("root")
    known = {p["code"] for p in sqlite_system.projects.list()}
    for code, name, kind in DEFAULT_PROJECTS:
        if code not in known:
            sqlite_system.projects.add(root, code, name, kind)
    assert "待分类 2 件" in add_ingest_accuracy_demo(sqlite_system)
    wang = sqlite_system.actor("wang")
    _, rows = sqlite_system.records.list(wang)
    numbers = {r["title"]: r["archive_no"] for r in rows}
    assert numbers["錦繡江南火災事故應急預案"] == "AQ-A3-08-2021-0001"
    assert numbers["消防巡查记录"] == "AQ-A-03-2024-0001"
    assert numbers["物业费收费台账"] == "CW-B-2024-0001"
    queue = {r["title"]: r["suggestion"]["reasons"] for r in sqlite_system.records.review_queue(wang)}
    assert queue == {"设备台账": ["no document date"], "安全巡查记录": ["two places named"]}
