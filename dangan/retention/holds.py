"""Legal holds (冻结): named, with reason and case reference; records added by 档号, location
prefix or saved search; released explicitly. A hold voids the approval of a batch that
holds one of its records, and sets the object store's legal hold."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from dangan.archive import codes as codes_mod
from dangan.archive import shred
from dangan.archive.models import Record, utcnow
from dangan.archive.permissions import Actor
from dangan.archive.records import reindex_later
from dangan.errors import Conflict, InvalidInput, NotFound
from dangan.retention.base import (
    ServiceBase,
    _chunks,
    _iso,
)
from dangan.retention.models import (
    DestructionBatch,
    DestructionItem,
    Hold,
    HoldItem,
)


class Holds(ServiceBase):
    @staticmethod
    def held_ids() -> Select:
        """The records search shows as 冻结 (on_hold): under at least one hold not released."""
        return select(HoldItem.record_id).join(Hold, Hold.id == HoldItem.hold_id).where(Hold.released_at.is_(None))

    def holds_of(self, record_ids: Collection[str]) -> dict[str, list[str]]:
        """Active holds per record id (the hook the record pages use to show the hold)."""
        if not record_ids:
            return {}
        with self.db.read() as s:
            return self._held_map(s, record_ids)

    def _hold(self, s: Session, name: str) -> Hold:
        hold = s.execute(select(Hold).where(Hold.name == name)).scalar_one_or_none()
        if hold is None:
            raise NotFound(f"冻结 {name!r} 不存在。")
        return hold

    def create_hold(self, actor: Actor, name: str, reason: str, case_ref: str | None = None) -> dict:
        self._require(actor, "hold.manage", name)
        name = (name or "").strip()
        if not name or len(name) > 100:
            raise InvalidInput("冻结名称不能为空，且不超过 100 个字符。")
        if not reason or not reason.strip():
            raise InvalidInput("冻结必须说明原因（--reason）。")
        with self.db.session() as s:
            if s.execute(select(Hold.id).where(Hold.name == name)).first():
                raise Conflict(f"冻结 {name!r} 已存在。")
            hold = Hold(name=name, reason=reason.strip(), case_ref=case_ref, created_by=actor.name,
                        created_at=utcnow())
            s.add(hold)
            s.flush()
            self.audit.append(s, actor.name, "hold.create", name, "ok",
                              {"reason": reason.strip(), "case_ref": case_ref})
            return self._describe_hold(hold, 0)

    def add_to_hold(self, actor: Actor, name: str, refs: list[str] | None = None,
                    location: str | None = None, query: str | None = None) -> dict:
        """Put records under the hold: by 档号, by location prefix, or by a search.
        Approvals of batches holding any of them are voided."""
        self._require(actor, "hold.manage", name)
        refs = list(refs or [])
        if query:
            result = self._search_refs(actor, query)
            refs.extend(result)
        if not refs and not location:
            raise InvalidInput("请给出档号、--location 位置前缀或 --query 检索式。")
        with self.db.session() as s:
            hold = self._hold(s, name)
            if hold.released_at is not None:
                raise Conflict(f"冻结 {name!r} 已解除，不能再加入档案；请新建一个冻结。")
            recs = [self.records.find(s, r) for r in dict.fromkeys(refs)]
            if location:
                prefix = str(codes_mod.parse_location(location, self.scheme.codes))
                recs.extend(s.execute(select(Record).where(
                    or_(Record.location == prefix, Record.location.like(prefix + "-%")),
                    Record.status != "destroyed")).scalars())
            destroyed = [r.archive_no or r.id for r in recs if r.status == "destroyed"]
            if destroyed:
                raise Conflict(f"档案已销毁，不能冻结：{'、'.join(destroyed)}。")
            if not recs:
                raise InvalidInput(f"位置 {location} 下没有可冻结的档案。")
            have = set(s.execute(select(HoldItem.record_id).where(HoldItem.hold_id == hold.id)).scalars())
            new = [r for r in {r.id: r for r in recs}.values() if r.id not in have]
            for rec in new:
                s.add(HoldItem(hold_id=hold.id, record_id=rec.id, added_by=actor.name, added_at=utcnow()))
                self.audit.append(s, actor.name, "hold.add", rec.archive_no or rec.provisional_no, "ok",
                                  {"hold": name})
            reindex_later(s, [r.id for r in new])  # search shows them 冻结 from now
            voided = self._void_approvals(s, actor, [r for r in new], name)
            s.flush()
            count = s.execute(select(func.count()).select_from(HoldItem).where(
                HoldItem.hold_id == hold.id)).scalar_one()
            out = self._describe_hold(hold, count)
        self._legal_hold([r.id for r in new], True)
        out["added"] = [r.archive_no or r.provisional_no for r in new]
        out["voided_batches"] = voided
        return out

    def _search_refs(self, actor: Actor, query: str) -> list[str]:
        if self.search is None:
            raise InvalidInput("检索不可用，请按档号或位置前缀冻结。")
        refs: list[str] = []
        while len(refs) < 1000:  # a saved search: its first 1,000 hits, a page of 200 at a time
            page = self.search(actor, query, len(refs), 200)
            refs.extend(no for no in page if no)
            if len(page) < 200:
                break
        if not refs:
            raise InvalidInput(f"检索式 {query!r} 没有命中任何档案。")
        return refs

    def _void_approvals(self, s: Session, actor: Actor, recs: list[Record], hold_name: str) -> list[str]:
        if not recs:
            return []
        by_id = {r.id: r for r in recs}
        voided: dict[str, list[str]] = defaultdict(list)
        for chunk in _chunks(list(by_id)):
            for batch, rid in s.execute(select(DestructionBatch, DestructionItem.record_id).join(
                    DestructionItem, DestructionItem.batch_id == DestructionBatch.id).where(
                    DestructionBatch.state == "approved", DestructionItem.record_id.in_(chunk))):
                voided[batch.id].append(by_id[rid].archive_no or rid)
        for batch_id, nos in voided.items():
            batch = s.get_one(DestructionBatch, batch_id)
            note = f"档案 {'、'.join(nos)} 于审批后被冻结（{hold_name}），原审批（{batch.approved_by}）作废，需重新审批"
            self.audit.append(s, actor.name, "destroy.approval_voided", batch_id, "ok",
                              {"hold": hold_name, "records": nos, "approved_by": batch.approved_by})
            batch.state, batch.approved_by, batch.approved_at, batch.voided = "draft", None, None, note
        return list(voided)

    def release_hold(self, actor: Actor, name: str, reason: str | None = None) -> dict:
        self._require(actor, "hold.manage", name)
        with self.db.session() as s:
            hold = self._hold(s, name)
            if hold.released_at is not None:
                raise Conflict(f"冻结 {name!r} 已于 {_iso(hold.released_at)} 解除。")
            hold.released_at, hold.released_by = utcnow(), actor.name
            hold.release_reason = (reason or "").strip() or None
            ids = list(s.execute(select(HoldItem.record_id).where(HoldItem.hold_id == hold.id)).scalars())
            s.flush()
            still = self._held_map(s, ids)
            reindex_later(s, [i for i in ids if i not in still])  # no longer 冻结 in search
            self.audit.append(s, actor.name, "hold.release", name, "ok",
                              {"records": len(ids), "reason": hold.release_reason})
            out = self._describe_hold(hold, len(ids))
        self._legal_hold([i for i in ids if i not in still], False)
        return out

    def _legal_hold(self, record_ids: list[str], on: bool) -> None:
        """Object-lock legal hold on the record's objects (no-op on the filesystem store)."""
        for rid in record_ids:
            for key in shred.object_keys(rid):
                if self.store.exists(key):
                    self.store.set_legal_hold(key, on)

    def list_holds(self, actor: Actor, include_released: bool = True) -> list[dict]:
        self._require(actor, "retention.read")
        with self.db.read() as s:
            counts = dict(s.execute(select(HoldItem.hold_id, func.count()).group_by(HoldItem.hold_id)).all())
            query = select(Hold).order_by(Hold.created_at.desc(), Hold.id.desc())
            if not include_released:
                query = query.where(Hold.released_at.is_(None))
            return [self._describe_hold(h, counts.get(h.id, 0)) for h in s.execute(query).scalars()]

    def show_hold(self, actor: Actor, name: str) -> dict:
        self._require(actor, "retention.read", name)
        with self.db.read() as s:
            hold = self._hold(s, name)
            rows = s.execute(select(Record, HoldItem).join(HoldItem, HoldItem.record_id == Record.id)
                             .where(HoldItem.hold_id == hold.id).order_by(Record.archive_no)).all()
            out = self._describe_hold(hold, len(rows))
            out["records"] = [{"archive_no": r.archive_no or r.provisional_no, "title": r.title
                               if actor.may_see(r.security, r.category) else "（密级不足，题名不显示）",
                               "status": r.status, "added_by": i.added_by, "added_at": _iso(i.added_at)}
                              for r, i in rows]
            return out

    @staticmethod
    def _describe_hold(h: Hold, count: int) -> dict:
        return {"name": h.name, "reason": h.reason, "case_ref": h.case_ref, "created_by": h.created_by,
                "created_at": _iso(h.created_at), "active": h.released_at is None,
                "released_by": h.released_by, "released_at": _iso(h.released_at),
                "release_reason": h.release_reason, "records": count}
