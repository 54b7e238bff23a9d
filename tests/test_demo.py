"""`dangan demo` (what `make run` serves): a working archive with sample documents."""

from __future__ import annotations

from dangan.demo.build import DEMO_PASSWORD, build_demo
from dangan.system import open_dangan


def test_demo_builds_a_searchable_archive_once(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("DANGAN_DATABASE_URL", raising=False)
    home = tmp_path / "demo"
    first = build_demo(str(home), count=8, scans=1)
    assert "入库 8 件" in first["message"] and DEMO_PASSWORD in first["message"]
    again = build_demo(str(home), count=8, scans=1)
    assert "已存在" in again["message"]
    system = open_dangan(home)
    total, rows = system.records.list(system.actor("wang"))
    assert total >= 8  # the corpus sample, plus what each feature's demo module adds
    assert system.users.login("li", DEMO_PASSWORD).name == "li"
    word = rows[0]["title"][:2]
    assert system.search_service.search(system.actor("wang"), word)["total"] >= 1
    system.close()
