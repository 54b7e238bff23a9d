"""业主查询: an owner account sees the owner-visible records of the flats bound to it,
and nothing else.

Isolation is by construction: an owner holds no read right of the archive (no search,
no list, no dossier); every owner read goes through `OwnerService`, which looks a record
up only among the owner-visible records of the owner's own flats and answers "not found"
for anything else, so a neighbour's 档号 is indistinguishable from a made-up one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Select, delete, select

from dangan.archive import codes as codes_mod
from dangan.archive.models import Record
from dangan.archive.permissions import Actor
from dangan.archive.users import find_user
from dangan.errors import InvalidInput, NotFound, PermissionDenied
from dangan.web.models import OwnerFlat, OwnerVisible

if TYPE_CHECKING:
    from dangan.system import Dangan


class OwnerService:
    def __init__(self, system: Dangan) -> None:
        self.system = system
        self.db = system.db
        self.audit = system.audit

    # -- binding (security officer) ---------------------------------------------------

    def _require_manage(self, actor: Actor, action: str, target: str) -> None:
        if not actor.can("user.manage"):
            with self.db.session() as s:
                self.audit.append(s, actor.name, action, target, "denied")
            raise PermissionDenied(f"用户 {actor.name} 不是安全保密员，不能绑定业主房屋。")

    def bind(self, actor: Actor, user: str, location: str) -> dict:
        self._require_manage(actor, "owner.bind", user)
        loc = codes_mod.parse_location(location, self.system.scheme.codes)
        if str(loc).count("-") < 3:
            raise InvalidInput(f"位置 {loc} 不是具体房间：业主只能绑定到房间级编码，如 A-01-001-0101。")
        with self.db.session() as s:
            account = find_user(s, user)
            if "owner" not in account.roles.split(","):
                raise InvalidInput(f"用户 {user} 不是业主账户（角色应为 owner）。")
            if s.get(OwnerFlat, (user, str(loc))) is None:
                s.add(OwnerFlat(user_name=user, location=str(loc), bound_by=actor.name))
            self.audit.append(s, actor.name, "owner.bind", user, "ok", {"location": str(loc)})
        return {"user": user, "location": str(loc)}

    def unbind(self, actor: Actor, user: str, location: str) -> None:
        self._require_manage(actor, "owner.unbind", user)
        with self.db.session() as s:
            s.execute(delete(OwnerFlat).where(OwnerFlat.user_name == user, OwnerFlat.location == location))
            self.audit.append(s, actor.name, "owner.unbind", user, "ok", {"location": location})

    def flats(self, user: str) -> list[str]:
        with self.db.read() as s:
            return list(s.execute(select(OwnerFlat.location).where(OwnerFlat.user_name == user)
                                  .order_by(OwnerFlat.location)).scalars())

    def bindings(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        with self.db.read() as s:
            for name, loc in s.execute(select(OwnerFlat.user_name, OwnerFlat.location)
                                       .order_by(OwnerFlat.user_name, OwnerFlat.location)):
                out.setdefault(name, []).append(loc)
        return out

    # -- marking (archivist) ----------------------------------------------------------

    def set_visible(self, actor: Actor, ref: str, visible: bool, reason: str = "") -> bool:
        records = self.system.records
        records.require(actor, "record.edit", ref)
        with self.db.session() as s:
            rec = records.find(s, ref)
            if not actor.may_see(rec.security, rec.category):
                raise PermissionDenied(f"用户 {actor.name} 的密级或类别权限不足，无权修改该档案。")
            if visible and (rec.location is None or rec.location.count("-") < 3):
                raise InvalidInput("只有编到具体房间的档案才能对业主开放。")
            current = s.get(OwnerVisible, rec.id)
            if visible and current is None:
                s.add(OwnerVisible(record_id=rec.id, marked_by=actor.name))
            elif not visible and current is not None:
                s.delete(current)
            self.audit.append(s, actor.name, "record.owner_visible", rec.archive_no or rec.provisional_no,
                              "ok", {"visible": visible, "reason": reason or None})
        return visible

    def is_visible(self, ref: str) -> bool:
        with self.db.read() as s:
            rec = self.system.records.find(s, ref)
            return s.get(OwnerVisible, rec.id) is not None

    # -- reading (owner) --------------------------------------------------------------

    def _require_owner(self, actor: Actor) -> None:
        if not actor.can("owner.portal"):
            raise PermissionDenied(f"用户 {actor.name} 不是业主账户。")

    def _query(self, user: str) -> Select:
        flats = select(OwnerFlat.location).where(OwnerFlat.user_name == user)
        return (select(Record).join(OwnerVisible, OwnerVisible.record_id == Record.id)
                .where(Record.location.in_(flats), Record.status == "active"))

    def records(self, actor: Actor) -> list[dict]:
        self._require_owner(actor)
        with self.db.read() as s:
            rows = s.execute(self._query(actor.name).order_by(Record.location, Record.doc_date.desc(),
                                                               Record.archive_no)).scalars()
            out = [self._public(r) for r in rows]
        with self.db.session() as s:
            self.audit.append(s, actor.name, "owner.list", None, "ok", {"records": len(out)})
        return out

    def record(self, actor: Actor, archive_no: str, action: str = "owner.view") -> Record:
        """One of the owner's own records by its current 档号, else NotFound."""
        self._require_owner(actor)
        with self.db.read() as s:
            rec = s.execute(self._query(actor.name).where(Record.archive_no == archive_no)).scalar_one_or_none()
            if rec is not None:
                s.expunge(rec)
        if rec is None:
            with self.db.session() as s:
                self.audit.append(s, actor.name, action, archive_no[:200], "denied")
            raise NotFound(f"档号 {archive_no!r} 不存在。")
        with self.db.session() as s:
            self.audit.append(s, actor.name, action, archive_no, "ok")
        return rec

    def show(self, actor: Actor, archive_no: str) -> dict:
        return self._public(self.record(actor, archive_no))

    def _public(self, rec: Record) -> dict:
        cat = self.system.scheme.category(rec.category) if rec.category else None
        return {"archive_no": rec.archive_no, "title": rec.title, "category": rec.category,
                "category_name": cat.name if cat else None, "location": rec.location,
                "date": rec.doc_date.isoformat() if rec.doc_date else None, "pages": rec.pages,
                "media_type": rec.media_type, "has_original": rec.sha256 is not None}
