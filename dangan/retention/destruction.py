"""Destruction batches (销毁清册): made, approved by someone else, executed with a supervisor
and place after re-checking every record; crypto-shredding per record, objects and index
entries deleted after the commit; an interrupted batch resumes."""

from __future__ import annotations

import datetime as dt
import os
import signal
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from dangan.archive import shred
from dangan.archive.models import Record, User, table_of, utcnow
from dangan.archive.permissions import Actor
from dangan.archive.sequences import next_value
from dangan.errors import Conflict, InvalidInput, PermissionDenied
from dangan.retention.base import (
    CHUNK,
    PURGE_THREADS,
    STATES,
    SUPERVISOR_ROLES,
    ServiceBase,
    _chunks,
    _iso,
)
from dangan.retention.models import (
    DestructionBatch,
    DestructionItem,
    RegisterEntry,
    RetentionState,
)


class Destruction(ServiceBase):
    # -- destruction: checks --------------------------------------------------------

    def _problems(self, s: Session, recs: list[Record], today: dt.date,
                  batch_id: str | None = None) -> dict[str, str]:
        """Why each record may not be destroyed now (empty: all may)."""
        ids = [r.id for r in recs]
        states = self._states(s, ids)
        held = self._held_map(s, ids)
        loans = self.on_loan([r.id for r in recs if r.status == "active"]) if recs else {}
        other: dict[str, str] = {}
        for chunk in _chunks(ids):
            other.update(s.execute(select(DestructionItem.record_id, DestructionItem.batch_id).join(
                DestructionBatch, DestructionBatch.id == DestructionItem.batch_id).where(
                DestructionItem.record_id.in_(chunk), DestructionBatch.state != "executed",
                DestructionBatch.id != (batch_id or ""))).all())
        problems: dict[str, str] = {}
        for rec in recs:
            no = rec.archive_no or rec.provisional_no or rec.id
            st = states.get(rec.id)
            eff = self._effective(rec, st)
            why = None
            if rec.status == "destroyed":
                why = "已销毁"
            elif rec.status != "active":
                why = f"状态为 {rec.status}"
            elif eff.permanent:
                why = "永久保管"
            elif eff.no_trigger:
                why = "没有保管期限起算日期"
            elif eff.until is not None and eff.until > today:
                why = f"未到期（保管至 {eff.until.isoformat()}）"
            elif st is None or st.decision != "destroy":
                why = "未经鉴定为销毁"
            elif rec.id in held:
                why = f"已被冻结（{'、'.join(held[rec.id])}）"
            elif rec.id in loans:
                why = f"借出中（借阅单 {loans[rec.id]}）"
            elif rec.id in other:
                why = f"已在销毁清册 {other[rec.id]} 中"
            if why:
                problems[no] = why
        return problems

    @staticmethod
    def _problem_text(problems: dict[str, str], limit: int = 20) -> str:
        items = list(problems.items())
        text = "；".join(f"{k}：{v}" for k, v in items[:limit])
        if len(items) > limit:
            text += f"；另有 {len(items) - limit} 件"
        return text

    # -- destruction: batches -------------------------------------------------------

    def create_batch(self, actor: Actor, refs: list[str], reason: str, today: dt.date | None = None) -> dict:
        """A 销毁清册 from records appraised "destroy"; prints the batch id."""
        self._require(actor, "destroy.create")
        if not refs:
            raise InvalidInput("销毁清册至少要有一件档案。")
        if not reason or not reason.strip():
            raise InvalidInput("编制销毁清册必须说明理由（--reason）。")
        today = today or dt.date.today()
        with self.db.read() as s:  # checks (and the loans hook) outside the write transaction
            recs = [self.records.find(s, r) for r in dict.fromkeys(refs)]
            recs = list({r.id: r for r in recs}.values())
            problems = self._problems(s, recs, today)
        if not problems:
            with self.db.session() as s:
                year = today.year
                batch_id = f"XH-{year}-{next_value(s, f'destroy|{year}'):04d}"
                batch = DestructionBatch(id=batch_id, reason=reason.strip(), state="draft",
                                         created_by=actor.name, created_at=utcnow())
                s.add(batch)
                s.flush()
                s.execute(table_of(DestructionItem).insert(), [
                    {"batch_id": batch_id, "record_id": r.id, "archive_no": r.archive_no, "state": "pending",
                     "paper": bool(r.custody), "box": r.custody} for r in recs])
                self.audit.append(s, actor.name, "destroy.create", batch_id, "ok",
                                  {"reason": reason.strip(), "records": [r.archive_no for r in recs[:1000]],
                                   "count": len(recs)})
        if problems:
            self._refuse(actor, "destroy.create", None,
                         f"不能编制销毁清册：{self._problem_text(problems)}。", Conflict)
        return self.show_batch(actor, batch_id, items=False, audit=False)

    def approve(self, actor: Actor, batch_id: str, today: dt.date | None = None) -> dict:
        """A manager who did not make the batch approves it, after the same re-checks."""
        self._require(actor, "destroy.approve", batch_id)
        today = today or dt.date.today()
        with self.db.read() as s:
            batch = self._batch(s, batch_id)
            state, maker = batch.state, batch.created_by
            recs = self._batch_records(s, batch_id)
            problems = self._problems(s, recs, today, batch_id) if state == "draft" else {}
        if maker == actor.name:
            self._refuse(actor, "destroy.approve", batch_id,
                         f"销毁清册 {batch_id} 由 {actor.name} 编制，编制人不能审批自己的清册。", PermissionDenied)
        if state != "draft":
            self._refuse(actor, "destroy.approve", batch_id,
                         f"销毁清册 {batch_id} 当前状态为“{STATES[state]}”，无需再审批。")
        if problems:
            self._refuse(actor, "destroy.approve", batch_id,
                         f"不能审批销毁清册 {batch_id}：{self._problem_text(problems)}。")
        with self.db.session() as s:
            batch = self._batch(s, batch_id)
            if batch.state != "draft":  # someone else was quicker
                raise Conflict(f"销毁清册 {batch_id} 当前状态为“{STATES[batch.state]}”。")
            batch.state, batch.approved_by, batch.approved_at, batch.voided = "approved", actor.name, utcnow(), None
            self.audit.append(s, actor.name, "destroy.approve", batch_id, "ok", {"records": len(recs)})
        return self.show_batch(actor, batch_id, items=False, audit=False)

    @staticmethod
    def _batch_records(s: Session, batch_id: str) -> list[Record]:
        return list(s.execute(select(Record).join(DestructionItem, DestructionItem.record_id == Record.id)
                              .where(DestructionItem.batch_id == batch_id).order_by(Record.archive_no)).scalars())

    def _check_supervisor(self, actor: Actor, name: str | None) -> str:
        if not name or not name.strip():
            raise InvalidInput("执行销毁需要监销人（--supervisor，系统中的用户）。")
        name = name.strip()
        if name == actor.name:
            raise InvalidInput(f"执行人 {actor.name} 不能同时担任监销人。")
        with self.db.read() as s:
            user = s.execute(select(User).where(User.name == name)).scalar_one_or_none()
        if user is None:
            raise InvalidInput(f"监销人 {name!r} 不是系统中的用户。")
        if not user.active or not (set(user.roles.split(",")) & SUPERVISOR_ROLES):
            raise InvalidInput(f"用户 {name} 不能担任监销人：监销人须为在职的负责人、档案管理员或审计员。")
        return name

    def execute(self, actor: Actor, batch_id: str, supervisor: str | None = None, place: str | None = None,
                paper_confirmed: Collection[str] | None = None, all_paper: bool = False,
                today: dt.date | None = None) -> dict:
        """Destroy every record of an approved batch, or none; resume an interrupted one."""
        self._require(actor, "destroy.execute", batch_id)
        today = today or dt.date.today()
        with self.db.read() as s:
            batch = self._batch(s, batch_id)
            state = batch.state
            recs = self._batch_records(s, batch_id)
            items = {i.record_id: i for i in s.execute(select(DestructionItem).where(
                DestructionItem.batch_id == batch_id)).scalars()}
            pending = [r for r in recs if items[r.id].state == "pending"]
            problems = self._problems(s, pending, today, batch_id) if state in ("draft", "approved", "executing") else {}
            voided = batch.voided
            stored = (batch.executed_by, batch.supervisor, batch.place)
        if state == "executed":
            self._refuse(actor, "destroy.execute", batch_id,
                         f"销毁清册 {batch_id} 已于 {_iso(batch.executed_at)} 执行完毕，本次未做任何改动。")
        if state == "draft":
            why = f"（{voided}）" if voided else ""
            extra = f"；{self._problem_text(problems)}" if problems else ""
            self._refuse(actor, "destroy.execute", batch_id,
                         f"销毁清册 {batch_id} 尚未经负责人审批，不能执行{why}{extra}。")
        if problems:
            self._refuse(actor, "destroy.execute", batch_id,
                         f"拒绝执行销毁清册 {batch_id}，未销毁任何档案：{self._problem_text(problems)}。")
        if state == "approved":
            try:
                supervisor = self._check_supervisor(actor, supervisor)
                if not place or not place.strip():
                    raise InvalidInput("执行销毁需要注明地点（--place）。")
            except InvalidInput as exc:
                self._refuse(actor, "destroy.execute", batch_id, str(exc), InvalidInput)
            place = place.strip()
            paper = {items[r.id].archive_no for r in recs if items[r.id].paper}
            missing = sorted(paper - set(paper_confirmed or ())) if not all_paper else []
            if missing:
                boxes = "、".join(f"{no}（{items_box}）" for no, items_box in
                                 ((i.archive_no, i.box) for i in items.values() if i.archive_no in missing))
                self._refuse(actor, "destroy.execute", batch_id,
                             f"清册中的纸质原件须逐件确认已粉碎（--confirm-paper 档号）：{boxes}。", InvalidInput)
            with self.db.session() as s:
                batch = self._batch(s, batch_id)
                if batch.state != "approved":
                    raise Conflict(f"销毁清册 {batch_id} 当前状态为“{STATES[batch.state]}”。")
                batch.state, batch.executed_by, batch.supervisor, batch.place = "executing", actor.name, supervisor, place
                batch.started_at = utcnow()
                self.audit.append(s, actor.name, "destroy.execute.start", batch_id, "ok",
                                  {"supervisor": supervisor, "place": place, "records": len(recs),
                                   "paper_confirmed": sorted(paper)})
        else:  # executing: resume after a crash with what was recorded at the start
            with self.db.session() as s:
                self.audit.append(s, actor.name, "destroy.execute.resume", batch_id, "ok",
                                  {"pending": len(pending), "records": len(recs),
                                   "started_by": stored[0], "supervisor": stored[1], "place": stored[2]})
        self._run(actor, batch_id, [r.id for r in recs], [r.id for r in pending])
        return self.show_batch(actor, batch_id, items=False, audit=False)

    def _run(self, actor: Actor, batch_id: str, all_ids: list[str], pending: list[str]) -> None:
        crash_after = int(os.environ.get("DANGAN_TEST_CRASH_AFTER", "0") or 0)  # tests: kill -9 here
        done = 0
        # records shredded before a crash: purge again (idempotent)
        waiting = set(pending)
        self._purge([i for i in all_ids if i not in waiting])
        for chunk in _chunks(pending, CHUNK):
            with self.db.session() as s:
                batch = self._batch(s, batch_id)
                query = select(Record).where(Record.id.in_(chunk))
                if self.db.dialect == "postgresql":
                    query = query.with_for_update()
                recs = sorted(s.execute(query).scalars(), key=lambda r: r.archive_no or "")
                held = self._held_map(s, chunk)  # a hold that arrived after the checks still wins
                if held:
                    names = "；".join(f"{r.archive_no}：已被冻结（{'、'.join(held[r.id])}）" for r in recs if r.id in held)
                    raise Conflict(f"销毁清册 {batch_id} 执行中止，其余档案未销毁：{names}。解除冻结后再次执行即可继续。")
                items = {i.record_id: i for i in s.execute(select(DestructionItem).where(
                    DestructionItem.batch_id == batch_id, DestructionItem.record_id.in_(chunk))).scalars()}
                now = utcnow()
                register = []
                for rec in recs:
                    item = items[rec.id]
                    if item.state != "pending":
                        continue
                    register.append({
                        "batch_id": batch_id, "record_id": rec.id, "archive_no": rec.archive_no,
                        "title": rec.title, "category": rec.category, "location": rec.location,
                        "doc_date": rec.doc_date, "retention_period": rec.retention_period,
                        "retention_until": rec.retention_until, "sha256": rec.sha256, "paper": item.paper,
                        "box": item.box, "reason": batch.reason, "maker": batch.created_by,
                        "approver": batch.approved_by, "executor": batch.executed_by or actor.name,
                        "supervisor": batch.supervisor, "place": batch.place, "destroyed_at": now})
                    shred.forget_key(s, rec)
                    item.state = "shredded"
                    self.audit.append(s, actor.name, "record.destroy", rec.archive_no, "ok",
                                      {"batch": batch_id, "record_id": rec.id, "sha256": rec.sha256,
                                       "supervisor": batch.supervisor, "place": batch.place,
                                       "paper": item.paper})
                if register:
                    s.execute(table_of(RegisterEntry).insert(), register)
                    # the decision lives on in appraisals and the register; retention_state
                    # keeps only live records, so the due list reads few rows from it
                    s.execute(delete(RetentionState).where(RetentionState.record_id.in_(
                        [row["record_id"] for row in register])))
            done += len(chunk)
            if crash_after and done >= crash_after:
                os.kill(os.getpid(), signal.SIGKILL)  # the test's kill -9: after commit, before purge
            self._purge(chunk)
        self._drop_from_index(all_ids)
        with self.db.session() as s:
            batch = self._batch(s, batch_id)
            batch.state, batch.executed_at = "executed", utcnow()
            self.audit.append(s, actor.name, "destroy.execute", batch_id, "ok",
                              {"records": len(all_ids), "supervisor": batch.supervisor, "place": batch.place})

    def _purge(self, record_ids: list[str]) -> None:
        """Delete the objects of these records (already shredded: idempotent). Threads, as
        the filesystem store syncs its directory after every delete and that waits on disk."""
        if len(record_ids) < 8:
            for rid in record_ids:
                shred.purge_objects(self.store, rid)
            return
        with ThreadPoolExecutor(PURGE_THREADS) as pool:
            for _ in pool.map(lambda rid: shred.purge_objects(self.store, rid), record_ids):
                pass

    def _drop_from_index(self, ids: list[str]) -> None:
        """Remove index entries now (the outbox rows written by forget_key do it too)."""
        if self.index is None:
            return
        try:
            backend = self.index()
            for chunk in _chunks(ids, 1000):
                backend.delete(chunk)
        except Exception:  # the outbox catches up; verify reports what remains
            return

    # -- reading batches and the register ------------------------------------------

    def list_batches(self, actor: Actor, state: str | None = None) -> list[dict]:
        self._require(actor, "destroy.register")
        with self.db.read() as s:
            counts = dict(s.execute(select(DestructionItem.batch_id, func.count())
                                    .group_by(DestructionItem.batch_id)).all())
            query = select(DestructionBatch).order_by(DestructionBatch.created_at.desc())
            if state:
                query = query.where(DestructionBatch.state == state)
            return [self._describe_batch(b, counts.get(b.id, 0)) for b in s.execute(query).scalars()]

    def show_batch(self, actor: Actor, batch_id: str, items: bool = True, audit: bool = True) -> dict:
        if not (actor.can("destroy.register") or actor.can("destroy.create")):
            self._require(actor, "destroy.register", batch_id)
        with self.db.read() as s:
            batch = self._batch(s, batch_id)
            rows = s.execute(select(DestructionItem, Record).join(Record, Record.id == DestructionItem.record_id)
                             .where(DestructionItem.batch_id == batch_id)
                             .order_by(DestructionItem.archive_no)).all()
            out = self._describe_batch(batch, len(rows))
            if items:
                held = self._held_map(s, [r.id for _, r in rows])
                out["records"] = [{"archive_no": i.archive_no, "title": r.title, "category": r.category,
                                   "date": _iso(r.doc_date), "until": _iso(r.retention_until),
                                   "state": i.state, "paper": i.paper, "box": i.box,
                                   "holds": held.get(r.id, [])} for i, r in rows]
        return out

    @staticmethod
    def _describe_batch(b: DestructionBatch, count: int) -> dict:
        return {"batch_id": b.id, "state": b.state, "state_name": STATES[b.state], "reason": b.reason,
                "records_count": count, "created_by": b.created_by, "created_at": _iso(b.created_at),
                "approved_by": b.approved_by, "approved_at": _iso(b.approved_at), "voided": b.voided,
                "executed_by": b.executed_by, "supervisor": b.supervisor, "place": b.place,
                "started_at": _iso(b.started_at), "executed_at": _iso(b.executed_at)}
