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


def test_every_loan_page_renders_for_every_demo_role(tmp_path, monkeypatch) -> None:
    import re

    from dangan.demo.build import DEMO_PASSWORD, OFFICERS, PEOPLE
    from dangan.web.app import create_app

    monkeypatch.delenv("DANGAN_DATABASE_URL", raising=False)
    home = tmp_path / "demo"
    build_demo(str(home), count=24, scans=0)
    system = open_dangan(home)
    app = create_app(system)
    wang = system.actor("wang")
    some_loan = system.loans.list(wang)[0]["loan_id"]
    box = next(p["code"] for p in system.custody.places(wang) if p["kind"] == "box")
    pages = ["/loans", "/loans/new", "/loans/queue", "/loans/desk", "/loans/desk?code=" + some_loan,
             "/loans/overdue", "/loans/incidents?all=1", "/loans/ledger", f"/loans/{some_loan}", "/custody",
             f"/custody/place/{box}", f"/custody/check?box={box}"]
    for name in [*PEOPLE, OFFICERS["auditor"]]:
        client = app.test_client()
        html = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
        client.post("/login", data={"name": name, "password": DEMO_PASSWORD, "csrf_token": token})
        for path in pages:
            resp = client.get(path)
            assert resp.status_code in (200, 403), (name, path, resp.status_code)
            if resp.status_code == 200:
                assert "出错了" not in resp.get_data(as_text=True), (name, path)
    system.close()
