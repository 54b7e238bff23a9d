"""/api/v1/custody…: places, moves, stocktakes (盘点) and labels for programs."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from flask import Blueprint, current_app, g, jsonify, request, send_file
from flask.typing import ResponseReturnValue

from dangan.errors import InvalidInput
from dangan.web.auth import login_required
from dangan.web.loans_api import body
from dangan.web.openapi import op, path_param, query, register

if TYPE_CHECKING:
    from dangan.system import Dangan

bp = Blueprint("custody_api", __name__)


def system() -> Dangan:
    return current_app.config["DANGAN"]


def _strings(value: object, name: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"{name} 应为字符串列表。")
    return value


@bp.get("/custody/places")
@login_required
def places() -> ResponseReturnValue:
    return jsonify({"places": system().custody.places(g.actor)})


@bp.post("/custody/places")
@login_required
def add_place() -> ResponseReturnValue:
    d = body()
    place = system().custody.add_place(g.actor, str(d.get("code") or ""), str(d.get("kind") or ""),
                                       str(d.get("name") or ""), d.get("parent") or None)
    return jsonify(place), 201


@bp.get("/custody/places/<code>")
@login_required
def place(code: str) -> ResponseReturnValue:
    return jsonify(system().custody.contents(g.actor, code))


@bp.post("/custody/moves")
@login_required
def move() -> ResponseReturnValue:
    d = body()
    return jsonify({"moves": system().custody.move(g.actor, _strings(d.get("records"), "records"),
                                                    str(d.get("to") or ""), d.get("reason"))})


@bp.post("/custody/checks")
@login_required
def stocktake() -> ResponseReturnValue:
    d = body()
    return jsonify(system().custody.stocktake(g.actor, str(d.get("box") or ""),
                                              _strings(d.get("found") or [], "found")))


@bp.get("/custody/labels")
@login_required
def labels() -> ResponseReturnValue:
    svc = system().custody
    boxes = request.args.getlist("box")
    data = svc.box_labels(g.actor, boxes) if boxes else svc.item_labels(g.actor, request.args.getlist("record"))
    return send_file(io.BytesIO(data), mimetype="application/pdf", download_name="labels.pdf")


register({
    "/api/v1/custody/places": {
        "get": op("存放位置（库房、柜、架、盒）"),
        "post": op("登记存放位置", body={"type": "object", "required": ["code", "kind"], "properties": {
            "code": {"type": "string"}, "kind": {"type": "string", "enum": ["room", "cabinet", "shelf", "box"]},
            "name": {"type": "string"}, "parent": {"type": "string"}}})},
    "/api/v1/custody/places/{code}": {"get": op("某位置应有的档案", [path_param("code")])},
    "/api/v1/custody/moves": {"post": op("放入或移动纸质原件", body={
        "type": "object", "required": ["records", "to"], "properties": {
            "records": {"type": "array", "items": {"type": "string"}}, "to": {"type": "string"},
            "reason": {"type": "string"}}})},
    "/api/v1/custody/checks": {"post": op("盘点：核对盒内实有与应有", body={
        "type": "object", "required": ["box", "found"], "properties": {
            "box": {"type": "string"}, "found": {"type": "array", "items": {"type": "string"}}}})},
    "/api/v1/custody/labels": {"get": op("标签 PDF（含二维码）", [query("box"), query("record")])},
})
