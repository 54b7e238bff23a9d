"""Physical custody: places, moves with history, 盘点 reports and QR labels."""

from __future__ import annotations

import io

import pytest

from dangan.errors import Conflict, InvalidInput, NotFound, PermissionDenied


@pytest.fixture
def room(system, lend):
    wang = lend["who"]("wang")
    c = system.custody
    c.add_place(wang, "K1", "room", "一号库房")
    c.add_place(wang, "K1-G01", "cabinet", "1号柜", parent="K1")
    c.add_place(wang, "K1-G01-J1", "shelf", "第1层", parent="K1-G01")
    c.add_place(wang, "H001", "box", "2026 维修记录 第1盒", parent="K1-G01-J1")
    c.add_place(wang, "H002", "box", "2026 维修记录 第2盒", parent="K1-G01-J1")
    c.move(wang, [lend["a"], lend["b"]], "H001", "入库上架")
    return lend


def test_places_form_a_tree_and_refuse_nonsense(system, room):
    wang = room["who"]("wang")
    tree = system.custody.places(wang)
    assert [(p["code"], p["depth"], p["records"]) for p in tree] == [
        ("K1", 0, 0), ("K1-G01", 1, 0), ("K1-G01-J1", 2, 0), ("H001", 3, 2), ("H002", 3, 0)]
    with pytest.raises(Conflict):
        system.custody.add_place(wang, "H001", "box", "again", parent="K1-G01-J1")
    with pytest.raises(InvalidInput):
        system.custody.add_place(wang, "H9", "box", "no parent")
    with pytest.raises(InvalidInput):
        system.custody.add_place(wang, "K2", "room", "room in a box", parent="H001")
    with pytest.raises(InvalidInput):
        system.custody.add_place(wang, "bad code!", "room", "x")
    with pytest.raises(PermissionDenied):
        system.custody.add_place(room["who"]("li"), "K3", "room", "x")


def test_a_move_is_recorded_with_where_from_and_why(system, room):
    wang = room["who"]("wang")
    system.custody.move(wang, [f"dangan:record:{room['a']}"], "H002", "调整排架")
    assert [i["archive_no"] for i in system.custody.contents(wang, "H002")["items"]] == [room["a"]]
    hist = system.custody.history(wang, room["a"])
    assert [(h["from"], h["to"], h["reason"]) for h in hist] == [(None, "H001", "入库上架"), ("H001", "H002", "调整排架")]
    with pytest.raises(Conflict):
        system.custody.move(wang, [room["a"]], "H002")
    with pytest.raises(NotFound, match="不是任何档案"):
        system.custody.move(wang, ["WX-NOPE"], "H002")


def test_a_stocktake_reports_missing_misplaced_and_out_on_loan(system, room):
    wang = room["who"]("wang")
    c_rec = room["c"]
    system.custody.move(wang, [c_rec], "H002")
    lid = system.loans.request(room["who"]("li"), [room["b"]], "核对", "physical")["loan_id"]
    system.loans.approve(wang, lid)
    system.loans.checkout(wang, lid)
    report = system.custody.stocktake(wang, "dangan:box:H001", [f"dangan:record:{c_rec}"])
    assert report["expected"] == 2 and not report["ok"]
    assert report["missing"] == [room["a"]]
    assert report["out"] == [{"archive_no": room["b"], "loan_id": lid}]
    assert report["misplaced"] == [{"archive_no": c_rec, "belongs_in": "H002"}]
    good = system.custody.stocktake(wang, "H001", [room["a"]])
    assert good["ok"] and good["present"] == [room["a"]]
    assert [r["id"] for r in system.custody.stocktakes(wang, "H001")] == [good["id"], report["id"]]


def test_a_label_code_that_names_no_record_is_refused_and_nothing_is_kept(system, room):
    wang = room["who"]("wang")
    with pytest.raises(NotFound, match="不是任何档案"):
        system.custody.stocktake(wang, "H001", [room["a"], "dangan:record:WX-A-9999"])
    assert system.custody.stocktakes(wang) == []
    with pytest.raises(NotFound):
        system.custody.stocktake(wang, "H404", [room["a"]])


def test_labels_are_pdfs_with_an_embedded_chinese_font_and_qr_codes(system, room):
    from pypdf import PdfReader

    wang = room["who"]("wang")
    for data in (system.custody.item_labels(wang, [room["a"], room["b"]]),
                 system.custody.box_labels(wang, ["H001"])):
        assert data[:4] == b"%PDF"
        page = PdfReader(io.BytesIO(data)).pages[0]
        fonts = [f.get_object()["/BaseFont"] for f in page["/Resources"]["/Font"].values()]
        assert any("WenQuanYi" in str(f) or "STSong" in str(f) for f in fonts)
        text = page.extract_text()
        assert room["a"] in text
    spine = PdfReader(io.BytesIO(system.custody.box_labels(wang, ["H001"]))).pages[0].extract_text()
    assert "第1盒" in spine and "D10" in spine
    with pytest.raises(NotFound):
        system.custody.item_labels(wang, ["WX-NOPE"])
    with pytest.raises(PermissionDenied):
        system.custody.item_labels(room["who"]("li"), [room["a"]])


def test_custody_over_the_api_and_the_pages(system, room):
    import re

    from dangan.web.app import create_app

    app = create_app(system)
    app.config["TESTING"] = True
    token = system.users.new_token(system.actor("wang"), "wang")
    h = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    assert next(p["code"] for p in client.get("/api/v1/custody/places", headers=h).json["places"]) == "K1"
    r = client.post("/api/v1/custody/places", json={"code": "H003", "kind": "box", "parent": "K1-G01-J1"}, headers=h)
    assert r.status_code == 201
    r = client.post("/api/v1/custody/moves", json={"records": [room["c"]], "to": "H003"}, headers=h)
    assert r.json["moves"][0]["to"] == "H003"
    r = client.post("/api/v1/custody/checks", json={"box": "H003", "found": ["nonsense"]}, headers=h)
    assert r.status_code == 404 and "不是任何档案" in r.json["error"]
    r = client.post("/api/v1/custody/checks", json={"box": "H003", "found": [room["c"]]}, headers=h)
    assert r.json["ok"] is True
    assert client.get(f"/api/v1/custody/labels?record={room['c']}", headers=h).data[:4] == b"%PDF"
    staff = {"Authorization": f"Bearer {system.users.new_token(system.actor('li'), 'li')}"}
    assert client.post("/api/v1/custody/moves", json={"records": [room["c"]], "to": "H001"},
                       headers=staff).status_code == 403
    # the 盘点 page: log in, scan two codes, read the report
    system.users.set_password(system.actor("secofficer"), "wang", "long enough pw")
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/login", data={"name": "wang", "password": "long enough pw", "csrf_token": csrf})
    html = client.get("/custody/check?box=H001").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    assert client.post("/custody/check", data={"box": "H001", "codes": room["a"]}).status_code == 400  # no CSRF
    html = client.post("/custody/check", data={"box": "H001", "csrf_token": csrf,
                                               "codes": f"dangan:record:{room['a']}\n{room['c']}\n"}).get_data(as_text=True)
    assert "有差异" in html and "缺失" in html and "错放" in html
    html = client.get("/custody/place/H001").get_data(as_text=True)
    assert room["a"] in html and "打印盒脊背标签" in html
