"""The demo archive shows loans in every state, an overdue original and an open incident."""

from __future__ import annotations

from dangan.demo.build import build_demo
from dangan.system import open_dangan


def test_demo_has_loans_in_every_state_including_an_overdue_one(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("DANGAN_DATABASE_URL", raising=False)
    home = tmp_path / "demo"
    build_demo(str(home), count=24, scans=0)
    system = open_dangan(home)
    wang = system.actor("wang")
    rows = system.loans.list(wang)
    assert {r["state"] for r in rows} == {"requested", "approved", "rejected", "checked_out", "returned",
                                          "cancelled"}
    assert len(system.loans.list(wang, overdue=True)) == 1
    assert len(system.loans.incidents(wang)) == 1
    li = system.actor("li")
    active = [r for r in system.loans.list(li) if r["active"] and r["kind"] in ("view", "copy")]
    assert active and system.records.show(li, active[0]["records"][0], with_text=True)["text"]
    boxes = [p for p in system.custody.places(wang) if p["kind"] == "box"]
    assert len(boxes) == 2 and sum(b["records"] for b in boxes) >= 12  # every numbered sample
    assert system.custody.stocktakes(wang)[0]["missing"]
    system.close()
