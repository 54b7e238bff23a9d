"""The destruction register (销毁登记簿), the certificate and verification: what auditors read."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING

from sqlalchemy import select

from dangan.archive import shred
from dangan.archive.models import AuditEntry, Record
from dangan.archive.permissions import Actor
from dangan.errors import Conflict, InvalidInput
from dangan.retention.base import (
    STATES,
    ServiceBase,
    _chunks,
    _iso,
)
from dangan.retention.models import (
    DestructionItem,
    RegisterEntry,
)


class RegisterBook(ServiceBase):
    if TYPE_CHECKING:  # provided by Destruction, beside this mixin in RetentionService
        def show_batch(self, actor: Actor, batch_id: str, items: bool = True, audit: bool = True) -> dict: ...

    def register(self, actor: Actor, batch_id: str | None = None, audit: bool = True) -> list[dict]:
        """The destruction register: every destroyed record, oldest first."""
        self._require(actor, "destroy.register")
        with self.db.read() as s:
            query = select(RegisterEntry).order_by(RegisterEntry.destroyed_at, RegisterEntry.archive_no)
            if batch_id:
                self._batch(s, batch_id)
                query = query.where(RegisterEntry.batch_id == batch_id)
            rows = [self._describe_entry(e) for e in s.execute(query).scalars()]
        if audit:
            with self.db.session() as s:
                self.audit.append(s, actor.name, "destroy.register", batch_id, "ok", {"rows": len(rows)})
        return rows

    def _describe_entry(self, e: RegisterEntry) -> dict:
        try:
            cat_name = self.scheme.category(e.category).name if e.category else None
        except InvalidInput:
            cat_name = e.category
        return {"archive_no": e.archive_no, "title": e.title, "category": e.category, "category_name": cat_name,
                "location": e.location, "date": _iso(e.doc_date), "retention_period": e.retention_period,
                "retention_until": _iso(e.retention_until), "sha256": e.sha256, "paper": e.paper, "box": e.box,
                "batch_id": e.batch_id, "reason": e.reason, "maker": e.maker, "approver": e.approver,
                "executor": e.executor, "supervisor": e.supervisor, "place": e.place,
                "destroyed_at": _iso(e.destroyed_at)}

    def certificate(self, actor: Actor, batch_id: str) -> bytes:
        """The 销毁证明 of an executed batch, as PDF bytes."""
        from dangan.retention.certificate import render_certificate

        self._require(actor, "destroy.register", batch_id)
        batch = self.show_batch(actor, batch_id, items=False, audit=False)
        if batch["state"] != "executed":
            raise Conflict(f"销毁清册 {batch_id} 尚未执行完毕（{batch['state_name']}），还没有销毁证明。")
        rows = self.register(actor, batch_id, audit=False)
        pdf = render_certificate(batch, rows)
        with self.db.session() as s:
            self.audit.append(s, actor.name, "destroy.certificate", batch_id, "ok", {"records": len(rows)})
        return pdf

    # -- verification ---------------------------------------------------------------

    def verify(self, actor: Actor, batch_id: str) -> dict:
        """Prove per record: key gone, no object left, no index entry, a register row and a
        record.destroy audit entry; and that the audit chain holds the workflow in order.
        Reads no content: auditors run it."""
        self._require(actor, "destroy.verify", batch_id)
        with self.db.read() as s:
            batch = self._batch(s, batch_id)
            state = batch.state
            rows = s.execute(select(DestructionItem, Record).join(Record, Record.id == DestructionItem.record_id)
                             .where(DestructionItem.batch_id == batch_id)
                             .order_by(DestructionItem.archive_no)).all()
            registered = set(s.execute(select(RegisterEntry.record_id).where(
                RegisterEntry.batch_id == batch_id)).scalars())
            nos = [i.archive_no for i, _ in rows]
            destroy_entries: dict[str, int] = {}
            for chunk in _chunks(nos):
                for e in s.execute(select(AuditEntry.id, AuditEntry.target, AuditEntry.detail).where(
                        AuditEntry.action == "record.destroy", AuditEntry.target.in_(chunk),
                        AuditEntry.outcome == "ok")):
                    if json.loads(e.detail).get("batch") == batch_id:
                        destroy_entries[e.target] = e.id
            flow = {a: i for i, a in s.execute(select(AuditEntry.id, AuditEntry.action).where(
                AuditEntry.target == batch_id, AuditEntry.outcome == "ok",
                AuditEntry.action.in_(["destroy.create", "destroy.approve", "destroy.execute.start",
                                       "destroy.execute"])).order_by(AuditEntry.id))}
            chain = self.audit.verify(s)
        index_ids: set[str] | None
        index_error = None
        try:
            index_ids = set(self.index().get_ids()) if self.index is not None else set()
        except Exception as exc:
            index_ids, index_error = None, f"无法读取检索索引（{type(exc).__name__}），不能证明索引中已无条目。"
        results = []
        for item, rec in rows:
            checks: dict[str, bool | str] = {}
            checks["key"] = True if rec.wrapped_dek is None and rec.kek_id is None else "数据密钥仍然存在。"
            left = shred.remaining_objects(self.store, rec.id)
            checks["objects"] = True if not left else f"存储中仍有对象：{'、'.join(left)}。"
            if index_ids is None:
                checks["index"] = index_error or "无法读取检索索引。"
            else:
                checks["index"] = True if rec.id not in index_ids else "检索索引中仍有该档案的条目。"
            checks["register"] = True if rec.id in registered else "销毁登记簿中没有该档案。"
            entry = destroy_entries.get(item.archive_no)
            start, end = flow.get("destroy.execute.start"), flow.get("destroy.execute")
            if entry is None:
                checks["audit"] = "审计日志中没有该档案的销毁记录。"
            elif start is None or entry < start or (end is not None and entry > end):
                checks["audit"] = "该档案的销毁记录不在本清册执行过程之内。"
            else:
                checks["audit"] = True
            results.append({"archive_no": item.archive_no, "title": rec.title,
                            "ok": all(v is True for v in checks.values()), "checks": checks})
        order = [flow.get(a) for a in ("destroy.create", "destroy.approve", "destroy.execute.start",
                                       "destroy.execute")]
        steps = [when for when in order if when is not None]
        if state != "executed":
            workflow: bool | str = f"销毁清册尚未执行完毕（{STATES[state]}）。"
        elif len(steps) < len(order):
            workflow = "审计日志缺少销毁流程的某一步（编制、审批、开始执行或执行完毕）。"
        elif steps != sorted(steps):
            workflow = "审计日志中销毁流程的顺序不对（应为编制→审批→执行）。"
        else:
            workflow = True
        chain_ok: bool | str = True if chain.ok else f"审计日志链校验失败：{chain.reason}"
        ok = workflow is True and chain_ok is True and all(r["ok"] for r in results)
        with self.db.session() as s:
            self.audit.append(s, actor.name, "destroy.verify", batch_id, "ok" if ok else "failed",
                              {"records": len(results), "failed": [r["archive_no"] for r in results if not r["ok"]][:50]})
        return {"batch_id": batch_id, "ok": ok, "state": state, "workflow": workflow, "audit_chain": chain_ok,
                "records": results}

    # -- for other slices -----------------------------------------------------------

    def destroyed_record_ids(self, since: dt.datetime | None = None) -> list[str]:
        """Record ids in the register (e.g. for restore to re-apply destructions)."""
        with self.db.read() as s:
            query = select(RegisterEntry.record_id)
            if since is not None:
                query = query.where(RegisterEntry.destroyed_at >= since)
            return list(s.execute(query).scalars())
