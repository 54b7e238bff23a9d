"""Physical custody (实体保管): 库房 / 柜 / 架 / 盒 as places, where each paper original is,
its moves, and inventory checks (盘点) of a box.

A record's place is the current-state row `custody_record_places`; each placement or move
is also a `custody_moves` row and an audit entry, all in one transaction. A stocktake
compares what a box should hold with the codes scanned in it and keeps the report.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError as DBIntegrityError
from sqlalchemy.orm import Session

from dangan.archive.audit import AuditLog
from dangan.archive.db import Database
from dangan.archive.models import Record, utcnow
from dangan.archive.permissions import RIGHT_NAMES, Actor
from dangan.archive.records import RecordsService
from dangan.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from dangan.loans.models import CustodyMove, PhysicalOut, Place, RecordPlace, Stocktake
from dangan.loans.service import find_record

KINDS = {"room": "库房", "cabinet": "柜", "shelf": "架", "box": "盒"}
ORDER = list(KINDS)
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")


def scanned(code: str) -> str:
    """A code as a USB scanner types it from our QR labels (`dangan:record:…`, `dangan:box:…`)."""
    code = (code or "").strip()
    for prefix in ("dangan:record:", "dangan:box:", "dangan:loan:", "dangan:"):
        if code.lower().startswith(prefix):
            return code[len(prefix):].strip()
    return code


class CustodyService:
    def __init__(self, db: Database, audit: AuditLog, records: RecordsService,
                 clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.db = db
        self.audit = audit
        self.records = records
        self.clock = clock

    def _require(self, actor: Actor, right: str, action: str, target: str | None = None) -> None:
        if not actor.can(right):
            message = f"用户 {actor.name} 没有“{RIGHT_NAMES.get(right, right)}”的权限。"
            with self.db.session() as s:
                self.audit.append(s, actor.name, action, target, "denied", {"reason": message})
            raise PermissionDenied(message)

    def _readable(self, actor: Actor) -> None:
        if not (actor.can("custody.manage") or actor.can("loan.desk") or actor.can("loan.ledger")):
            self._require(actor, "custody.manage", "custody.read")

    # -- places ---------------------------------------------------------------------

    def add_place(self, actor: Actor, code: str, kind: str, name: str, parent: str | None = None) -> dict:
        self._require(actor, "custody.manage", "custody.place.add", code)
        code = (code or "").strip()
        if not _CODE.match(code):
            raise InvalidInput(f"存放位置编码 {code!r} 无效：只能用字母、数字和 - _ .，不超过 80 个字符。")
        if kind not in KINDS:
            raise InvalidInput(f"位置类型 {kind!r} 无效：可选 room（库房）、cabinet（柜）、shelf（架）、box（盒）。")
        name = (name or "").strip() or f"{KINDS[kind]} {code}"
        try:
            with self.db.session() as s:
                parent_row = None
                if parent:
                    parent_row = self._place(s, parent)
                    if ORDER.index(parent_row.kind) >= ORDER.index(kind):
                        raise InvalidInput(f"{KINDS[kind]}不能放在{KINDS[parent_row.kind]} {parent_row.code} 之下。")
                elif kind != "room":
                    raise InvalidInput(f"{KINDS[kind]}须指明所在位置（--parent）。")
                place = Place(code=code, kind=kind, name=name[:200], parent_id=parent_row.id if parent_row else None,
                              created_at=self.clock())
                s.add(place)
                s.flush()
                self.audit.append(s, actor.name, "custody.place.add", code, "ok",
                                  {"kind": kind, "name": place.name, "parent": parent})
                return self._describe_place(s, place)
        except DBIntegrityError:
            raise Conflict(f"存放位置 {code} 已存在。") from None

    @staticmethod
    def _place(s: Session, code: str) -> Place:
        place = s.execute(select(Place).where(Place.code == scanned(code))).scalar_one_or_none()
        if place is None:
            raise NotFound(f"存放位置 {code!r} 不存在。")
        return place

    def _path(self, s: Session, place: Place) -> list[str]:
        path: list[str] = []
        cur: Place | None = place
        while cur is not None:
            path.append(cur.code)
            cur = s.get(Place, cur.parent_id) if cur.parent_id else None
        return list(reversed(path))

    def _describe_place(self, s: Session, place: Place) -> dict:
        count = s.execute(select(func.count()).select_from(RecordPlace)
                          .where(RecordPlace.place_id == place.id)).scalar_one()
        return {"code": place.code, "kind": place.kind, "kind_name": KINDS[place.kind], "name": place.name,
                "path": self._path(s, place), "records": count}

    def places(self, actor: Actor) -> list[dict]:
        """Every place, in tree order (each followed by what is inside it)."""
        self._readable(actor)
        with self.db.read() as s:
            rows = list(s.execute(select(Place).order_by(Place.code)).scalars())
            counts = dict(s.execute(select(RecordPlace.place_id, func.count()).group_by(RecordPlace.place_id)).all())
            children: dict[int | None, list[Place]] = {}
            for p in rows:
                children.setdefault(p.parent_id, []).append(p)
            out: list[dict] = []

            def walk(parent: int | None, depth: int) -> None:
                for p in children.get(parent, []):
                    out.append({"code": p.code, "kind": p.kind, "kind_name": KINDS[p.kind], "name": p.name,
                                "depth": depth, "records": counts.get(p.id, 0)})
                    walk(p.id, depth + 1)

            walk(None, 0)
            return out

    def contents(self, actor: Actor, code: str) -> dict:
        """A place and the originals it should hold (titles only where the reader may see them)."""
        self._readable(actor)
        with self.db.read() as s:
            place = self._place(s, code)
            view = self._describe_place(s, place)
            rows = s.execute(select(Record, PhysicalOut.loan_id).join(RecordPlace, RecordPlace.record_id == Record.id)
                             .outerjoin(PhysicalOut, PhysicalOut.record_id == Record.id)
                             .where(RecordPlace.place_id == place.id).order_by(Record.archive_no)).all()
            view["items"] = [{"archive_no": r.archive_no or r.provisional_no, "year": r.year,
                              "title": r.title if actor.may_see(r.security, r.category) else None,
                              "retention": r.retention_period, "out_on": loan} for r, loan in rows]
            view["children"] = [self._describe_place(s, p) for p in s.execute(
                select(Place).where(Place.parent_id == place.id).order_by(Place.code)).scalars()]
        return view

    # -- moves ----------------------------------------------------------------------

    def move(self, actor: Actor, refs: Iterable[str], to: str, reason: str | None = None) -> list[dict]:
        """Place or move paper originals into a box (or any place)."""
        self._require(actor, "custody.manage", "custody.move", to)
        refs = list(dict.fromkeys(scanned(r) for r in refs if r and r.strip()))
        if not refs:
            raise InvalidInput("请至少给出一个档号。")
        now = self.clock()
        with self.db.session() as s:
            dest = self._place(s, to)
            out = []
            for ref in refs:
                rec = self._record(s, ref)
                current = s.get(RecordPlace, rec.id, with_for_update=True)
                if current is not None and current.place_id == dest.id:
                    raise Conflict(f"档案 {_no(rec)} 已在 {dest.code}。")
                before_id = current.place_id if current else None
                before_place = s.get(Place, before_id) if before_id else None  # a foreign key: it exists
                before = before_place.code if before_place else None
                if current is None:
                    s.add(RecordPlace(record_id=rec.id, place_id=dest.id))
                else:
                    current.place_id = dest.id
                s.add(CustodyMove(record_id=rec.id, from_place=before_id, to_place=dest.id, actor=actor.name,
                                  at=now, reason=(reason or "").strip() or None))
                self.audit.append(s, actor.name, "custody.move", _no(rec), "ok",
                                  {"from": before, "to": dest.code, "reason": reason})
                out.append({"archive_no": _no(rec), "from": before, "to": dest.code})
            return out

    def _record(self, s: Session, ref: str) -> Record:
        try:
            rec = find_record(s, ref)
        except NotFound:
            raise NotFound(f"编码 {ref!r} 不是任何档案的档号。") from None
        if rec.status == "destroyed":
            raise Conflict(f"档案 {_no(rec)} 已销毁。")
        return rec

    def history(self, actor: Actor, ref: str) -> list[dict]:
        self._readable(actor)
        with self.db.read() as s:
            rec = self._record(s, scanned(ref))
            codes: dict[int | None, str] = dict(s.execute(select(Place.id, Place.code)).all())
            return [{"at": m.at.isoformat(timespec="seconds"), "from": codes.get(m.from_place),
                     "to": codes.get(m.to_place), "actor": m.actor, "reason": m.reason}
                    for m in s.execute(select(CustodyMove).where(CustodyMove.record_id == rec.id)
                                       .order_by(CustodyMove.id)).scalars()]

    # -- labels ---------------------------------------------------------------------

    def item_labels(self, actor: Actor, refs: Iterable[str]) -> bytes:
        from dangan.loans.labels import item_labels

        self._require(actor, "custody.manage", "custody.labels")
        refs = [scanned(r) for r in refs if r and r.strip()]
        if not refs:
            raise InvalidInput("请至少给出一个档号。")
        with self.db.read() as s:
            recs = [self._record(s, r) for r in refs]
            items = [{"archive_no": _no(r), "year": r.year, "retention": r.retention_period,
                      "title": r.title if actor.may_see(r.security, r.category) else None} for r in recs]
        return item_labels(items)

    def box_labels(self, actor: Actor, codes: Iterable[str]) -> bytes:
        from dangan.loans.labels import box_labels

        self._require(actor, "custody.manage", "custody.labels")
        codes = [c for c in codes if c and c.strip()]
        if not codes:
            raise InvalidInput("请至少给出一个盒的编码。")
        boxes = [self.contents(actor, c) for c in codes]
        return box_labels(boxes)

    # -- 盘点 ------------------------------------------------------------------------

    def stocktake(self, actor: Actor, box: str, found: Iterable[str]) -> dict:
        """Compare what `box` should hold with the codes found in it; keep the report.

        missing: should be there, not found and not out on a loan; out: on a physical loan;
        misplaced: found here but placed elsewhere (or nowhere). A code that names no
        record refuses the whole check, so a mistyped code is fixed rather than recorded."""
        self._require(actor, "custody.manage", "custody.stocktake", box)
        codes = list(dict.fromkeys(scanned(c) for c in found if c and c.strip()))
        with self.db.session() as s:
            place = self._place(s, box)
            found_recs = {}
            for code in codes:
                rec = self._record(s, code)
                found_recs[rec.id] = rec
            expected = {r.id: r for r in s.execute(select(Record).join(RecordPlace, RecordPlace.record_id == Record.id)
                                                     .where(RecordPlace.place_id == place.id)).scalars()}
            out = dict(s.execute(select(PhysicalOut.record_id, PhysicalOut.loan_id)
                                 .where(PhysicalOut.record_id.in_(list(expected)))).all()) if expected else {}
            homes = dict(s.execute(select(RecordPlace.record_id, Place.code).join(Place, Place.id == RecordPlace.place_id)
                                   .where(RecordPlace.record_id.in_(list(found_recs)))).all()) if found_recs else {}
            report: dict[str, Any] = {
                "box": place.code, "at": self.clock().isoformat(timespec="seconds"), "by": actor.name,
                "expected": len(expected), "found": len(found_recs),
                "present": sorted(_no(r) for rid, r in expected.items() if rid in found_recs),
                "missing": sorted(_no(r) for rid, r in expected.items() if rid not in found_recs and rid not in out),
                "out": sorted(({"archive_no": _no(r), "loan_id": out[rid]} for rid, r in expected.items()
                               if rid not in found_recs and rid in out), key=lambda x: x["archive_no"]),
                "misplaced": sorted(({"archive_no": _no(r), "belongs_in": homes.get(rid)}
                                     for rid, r in found_recs.items() if rid not in expected),
                                    key=lambda x: str(x["archive_no"])),
            }
            report["ok"] = not report["missing"] and not report["misplaced"]
            row = Stocktake(place_id=place.id, actor=actor.name, at=self.clock(),
                            report=json.dumps(report, ensure_ascii=False))
            s.add(row)
            s.flush()
            report["id"] = row.id
            self.audit.append(s, actor.name, "custody.stocktake", place.code, "ok" if report["ok"] else "differences",
                              {"id": row.id, "expected": report["expected"], "missing": len(report["missing"]),
                               "misplaced": len(report["misplaced"]), "out": len(report["out"])})
            return report

    def stocktakes(self, actor: Actor, box: str | None = None, limit: int = 50) -> list[dict]:
        self._readable(actor)
        with self.db.read() as s:
            query = select(Stocktake).order_by(Stocktake.id.desc()).limit(limit)
            if box:
                query = query.where(Stocktake.place_id == self._place(s, box).id)
            return [{**json.loads(t.report), "id": t.id} for t in s.execute(query).scalars()]


def _no(rec: Record) -> str:
    return rec.archive_no or rec.provisional_no or rec.id

