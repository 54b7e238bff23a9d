"""The loans service: request, approve or reject, check out, renew, return, cancel.

Every step is one transaction that appends a `loan_events` row, updates the loan's
current state in `loans` and writes the audit entry, together or not at all. The loan
row is locked first (`SELECT … FOR UPDATE` on PostgreSQL; SQLite's `BEGIN IMMEDIATE`
serialises writers), so two people acting on one loan queue instead of both winning.
A physical original is out once: checkout inserts its record id into
`loan_physical_out`, whose primary key lets only one such row exist.
"""

from __future__ import annotations

import builtins
import datetime as dt
import json
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from sqlalchemy import Select, and_, delete, func, or_, select
from sqlalchemy.exc import IntegrityError as DBIntegrityError
from sqlalchemy.orm import Session

from dangan.archive.audit import AuditLog
from dangan.archive.db import Database
from dangan.archive.models import Record, User, table_of, utcnow
from dangan.archive.permissions import RIGHT_NAMES, Actor
from dangan.archive.records import RecordsService, reindex_later
from dangan.archive.sequences import next_value
from dangan.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from dangan.loans.models import Incident, Loan, LoanEvent, LoanItem, PhysicalOut
from dangan.loans.notify import Notifier
from dangan.loans.rules import LoanRules

KINDS = {"view": "在线查阅", "copy": "复制件", "physical": "实体原件"}
STATES = {"requested": "待审批", "approved": "已批准", "rejected": "已驳回", "checked_out": "已借出",
          "returned": "已归还", "cancelled": "已撤销"}
CONDITIONS = {"intact": "完好", "damaged": "损坏", "lost": "遗失"}
EVENTS = {"request": "申请", "approve": "批准", "reject": "驳回", "checkout": "借出", "renew": "续借",
          "return": "归还", "cancel": "撤销", "remind": "催还", "incident.close": "处理完毕", "copy": "下载复制件"}
ELECTRONIC = ("view", "copy")
SENSITIVE = ("confidential", "secret")
OPEN = ("requested", "approved", "checked_out")
MANY_IDS = 2000  # records_out: above this many ids, read every open loan once instead of IN lists


@dataclass
class Step:
    """What a transition did: the event's detail for the ledger and the audit."""

    detail: dict


class LoansService:
    def __init__(self, db: Database, audit: AuditLog, records: RecordsService, rules: LoanRules,
                 clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.db = db
        self.audit = audit
        self.records = records
        self.rules = rules
        self.clock = clock

    def today(self) -> dt.date:
        return self.clock().date()

    # -- rights ---------------------------------------------------------------------

    def _refuse(self, actor: Actor, action: str, target: str | None, message: str) -> PermissionDenied:
        with self.db.session() as s:
            self.audit.append(s, actor.name, action, target, "denied", {"reason": message})
        return PermissionDenied(message)

    def _require(self, actor: Actor, right: str, action: str, target: str | None = None) -> None:
        if not actor.can(right):
            raise self._refuse(actor, action, target,
                               f"用户 {actor.name} 没有“{RIGHT_NAMES.get(right, right)}”的权限。")

    def may_read_all(self, actor: Actor) -> bool:
        return actor.can("loan.ledger") or actor.can("loan.desk") or actor.can("loan.approve")

    # -- request --------------------------------------------------------------------

    def request(self, actor: Actor, refs: Iterable[str], purpose: str, kind: str = "view",
                days: int | None = None, until: dt.date | None = None) -> dict:
        """A new loan in state `requested` (借阅申请)."""
        self._require(actor, "loan.request", "loan.request")
        refs = list(dict.fromkeys(r.strip() for r in refs if r and r.strip()))
        if not refs:
            raise InvalidInput("请至少给出一个档号。")
        if kind not in KINDS:
            raise InvalidInput(f"借阅方式 {kind!r} 无效：可选 view（在线查阅）、copy（复制件）、physical（实体原件）。")
        purpose = (purpose or "").strip()
        if not purpose:
            raise InvalidInput("请说明借阅用途（--purpose）。")
        days = self._days(days, until)
        with self.db.session() as s:
            open_count = s.execute(select(func.count()).select_from(Loan).where(
                Loan.borrower == actor.name, Loan.state.in_(OPEN))).scalar_one()
            if open_count >= self.rules.max_open:
                raise Conflict(f"用户 {actor.name} 已有 {open_count} 笔未结借阅，达到上限 {self.rules.max_open} 笔；"
                               "请先归还或撤销。")
            recs = [find_record(s, ref) for ref in refs]
            if len({r.id for r in recs}) != len(recs):
                raise InvalidInput("同一件档案在申请中出现了两次。")
            for rec in recs:
                self._check_lendable(rec, kind)
            loan_id = f"JY-{self.today().year}-{next_value(s, f'loan|{self.today().year}'):06d}"
            loan = Loan(id=loan_id, borrower=actor.name, department=actor.department, kind=kind,
                        purpose=purpose[:2000], days=days, state="requested", requested_at=self.clock(),
                        sensitive=any(r.security in SENSITIVE for r in recs), version=0)
            s.add(loan)
            s.flush()
            s.add_all([LoanItem(loan_id=loan_id, record_id=r.id, archive_no=_no(r)) for r in recs])
            self._event(s, loan, "request", actor, {"kind": kind, "days": days, "purpose": loan.purpose,
                                                    "records": [_no(r) for r in recs]})
            return self._describe(s, loan, actor)

    def _days(self, days: int | None, until: dt.date | None) -> int:
        if until is not None:
            if until <= self.today():
                raise InvalidInput(f"归还日期 {until.isoformat()} 不在今天之后。")
            days = (until - self.today()).days
        days = self.rules.default_days if days is None else days
        if days < 1:
            raise InvalidInput("借阅天数应至少为 1 天。")
        if days > self.rules.max_days:
            raise InvalidInput(f"借阅期限最长 {self.rules.max_days} 天（含续借），申请了 {days} 天。")
        return days

    @staticmethod
    def _check_lendable(rec: Record, kind: str) -> None:
        if rec.status == "destroyed":
            raise Conflict(f"档案 {_no(rec)} 已销毁，不能借阅。")
        if kind in ELECTRONIC and rec.sha256 is None:
            raise InvalidInput(f"档案 {_no(rec)} 只有纸质原件，请申请实体借阅（--kind physical）。")
        if kind == "copy" and rec.media_type != "application/pdf":
            raise InvalidInput(f"档案 {_no(rec)} 不是 PDF，不能提供带水印的复制件；请申请在线查阅。")

    # -- transitions ----------------------------------------------------------------

    def _step(self, actor: Actor, loan_id: str, event: str,
              change: Callable[[Session, Loan], dict]) -> dict:
        """Lock the loan, apply `change` (which raises to refuse), append the event."""
        try:
            with self.db.session() as s:
                loan = self._lock(s, loan_id)
                detail = change(s, loan)
                self._event(s, loan, event, actor, detail)
                return self._describe(s, loan, actor)
        except PermissionDenied as exc:
            raise self._refuse(actor, f"loan.{event}", loan_id, str(exc)) from None

    def approve(self, actor: Actor, loan_id: str, note: str | None = None) -> dict:
        self._require(actor, "loan.approve", "loan.approve", loan_id)

        def change(s: Session, loan: Loan) -> dict:
            self._decide(s, actor, loan, "批准")
            loan.state = "approved"
            loan.decided_by, loan.decided_at = actor.name, self.clock()
            if loan.kind in ELECTRONIC:  # access starts now and ends by itself
                loan.started_on = self.today()
                loan.due = self.today() + dt.timedelta(days=loan.days)
            return {"note": note} if note else {}

        return self._step(actor, loan_id, "approve", change)

    def reject(self, actor: Actor, loan_id: str, reason: str) -> dict:
        self._require(actor, "loan.approve", "loan.reject", loan_id)
        reason = (reason or "").strip()
        if not reason:
            raise InvalidInput("驳回借阅必须说明原因（--reason）。")

        def change(s: Session, loan: Loan) -> dict:
            self._decide(s, actor, loan, "驳回")
            loan.state = "rejected"
            loan.decided_by, loan.decided_at, loan.reason = actor.name, self.clock(), reason
            loan.ended_at = self.clock()
            return {"reason": reason}

        return self._step(actor, loan_id, "reject", change)

    def _decide(self, s: Session, actor: Actor, loan: Loan, verb: str) -> None:
        if loan.state != "requested":
            raise Conflict(f"借阅单 {loan.id} 当前为“{STATES[loan.state]}”，不能{verb}。")
        if loan.borrower == actor.name:
            raise PermissionDenied(f"不能{verb}自己的借阅申请（{loan.id}）。")
        if loan.sensitive and not actor.can("loan.approve.sensitive"):
            raise PermissionDenied(f"借阅单 {loan.id} 含秘密或机密档案，须由负责人审批。")
        for rec in self._records(s, loan):
            if not actor.may_see(rec.security, rec.category):
                raise PermissionDenied(f"用户 {actor.name} 的密级不足以审批档案 {_no(rec)} 的借阅。")
            if verb == "批准":
                self._check_lendable(rec, loan.kind)

    def checkout(self, actor: Actor, loan_id: str) -> dict:
        """Hand a physical original out (借出); the database refuses a second one."""
        self._require(actor, "loan.desk", "loan.checkout", loan_id)

        def change(s: Session, loan: Loan) -> dict:
            if loan.kind != "physical":
                raise Conflict(f"借阅单 {loan.id} 是电子借阅，批准后即可查阅，无需借出。")
            if loan.state != "approved":
                raise Conflict(f"借阅单 {loan.id} 当前为“{STATES[loan.state]}”，只有已批准的借阅可以借出。")
            recs = self._records(s, loan)
            out = dict(s.execute(select(PhysicalOut.record_id, PhysicalOut.loan_id).where(
                PhysicalOut.record_id.in_([r.id for r in recs]))).all())
            for rec in recs:
                self._check_lendable(rec, loan.kind)
                if rec.id in out:
                    raise Conflict(f"档案 {_no(rec)} 的原件已借出（借阅单 {out[rec.id]}），不能重复借出。")
            now = self.clock()
            try:  # the primary key is the real guard: a checkout racing this one fails here
                with s.begin_nested():
                    s.execute(table_of(PhysicalOut).insert(),
                              [{"record_id": r.id, "loan_id": loan.id, "since": now} for r in recs])
            except DBIntegrityError:
                raise Conflict(f"借阅单 {loan.id} 中的原件刚被另一笔借阅借出，不能重复借出。") from None
            reindex_later(s, [r.id for r in recs])  # search shows them 借出 from now
            loan.state = "checked_out"
            due = now.date() + dt.timedelta(days=loan.days)
            loan.started_on, loan.due = now.date(), due
            return {"due": due.isoformat()}

        return self._step(actor, loan_id, "checkout", change)

    def renew(self, actor: Actor, loan_id: str, days: int) -> dict:
        """Extend the due date; the whole loan stays within the maximum (30 days)."""
        def change(s: Session, loan: Loan) -> dict:
            self._own_or(actor, loan, "loan.desk", "续借")
            if days is None or days < 1:
                raise InvalidInput("续借天数应至少为 1 天。")
            if not self._is_out(loan):
                raise Conflict(f"借阅单 {loan.id} 当前为“{self._state_name(loan)}”，只有借出中的借阅可以续借。")
            if loan.days + days > self.rules.max_days:
                raise Conflict(f"续借后借阅共 {loan.days + days} 天，超过上限 {self.rules.max_days} 天；"
                               f"最多还能续借 {self.rules.max_days - loan.days} 天。")
            assert loan.due is not None  # a checked-out loan always has its due date
            due = loan.due + dt.timedelta(days=days)
            loan.days += days
            loan.due = due
            return {"days": days, "due": due.isoformat(), "total_days": loan.days}

        return self._step(actor, loan_id, "renew", change)

    def return_(self, actor: Actor, loan_id: str, condition: str = "intact", note: str | None = None) -> dict:
        """Take a physical original back (归还) with its condition, or end an electronic loan
        early; damaged or lost opens an incident."""
        if condition not in CONDITIONS:
            raise InvalidInput(f"归还状况 {condition!r} 无效：可选 intact（完好）、damaged（损坏）、lost（遗失）。")

        def change(s: Session, loan: Loan) -> dict:
            if loan.kind == "physical":
                if not actor.can("loan.desk"):
                    raise PermissionDenied(f"用户 {actor.name} 没有“办理借出与归还”的权限。")
                if loan.state != "checked_out":
                    raise Conflict(f"借阅单 {loan.id} 当前为“{STATES[loan.state]}”，没有借出，不能归还。")
                if condition != "intact" and not (note or "").strip():
                    raise InvalidInput("原件损坏或遗失时请填写说明（--note）。")
                s.execute(delete(PhysicalOut).where(PhysicalOut.loan_id == loan.id))
                reindex_later(s, [item.record_id for item in self._items(s, loan)])
                if condition != "intact":
                    for item in self._items(s, loan):
                        s.add(Incident(loan_id=loan.id, record_id=item.record_id, kind=condition,
                                       note=(note or "").strip(), opened_by=actor.name, opened_at=self.clock()))
            else:
                self._own_or(actor, loan, "loan.desk", "归还")
                if not self._is_out(loan):
                    raise Conflict(f"借阅单 {loan.id} 当前为“{self._state_name(loan)}”，不在借阅中，不能归还。")
            loan.state = "returned"
            loan.condition = condition if loan.kind == "physical" else None
            loan.ended_at = self.clock()
            return {"condition": loan.condition, "note": (note or "").strip() or None}

        return self._step(actor, loan_id, "return", change)

    def cancel(self, actor: Actor, loan_id: str, reason: str | None = None) -> dict:
        def change(s: Session, loan: Loan) -> dict:
            self._own_or(actor, loan, "loan.desk", "撤销")
            if loan.state not in ("requested", "approved"):
                raise Conflict(f"借阅单 {loan.id} 当前为“{STATES[loan.state]}”，不能撤销。")
            loan.state = "cancelled"
            loan.reason = (reason or "").strip() or None
            loan.ended_at = self.clock()
            return {"reason": loan.reason}

        return self._step(actor, loan_id, "cancel", change)

    def close_incident(self, actor: Actor, incident_id: int, resolution: str) -> dict:
        self._require(actor, "loan.desk", "loan.incident.close", str(incident_id))
        resolution = (resolution or "").strip()
        if not resolution:
            raise InvalidInput("请说明处理结果（--resolution）。")
        with self.db.session() as s:
            inc = s.get(Incident, incident_id, with_for_update=True)
            if inc is None:
                raise NotFound(f"损坏/遗失登记 {incident_id} 不存在。")
            if inc.closed_at is not None:
                raise Conflict(f"损坏/遗失登记 {incident_id} 已处理完毕。")
            inc.closed_by, inc.closed_at, inc.resolution = actor.name, self.clock(), resolution
            loan = self._lock(s, inc.loan_id)
            self._event(s, loan, "incident.close", actor, {"incident": incident_id, "resolution": resolution})
            return self._incident(s, inc)

    # -- helpers --------------------------------------------------------------------

    def _lock(self, s: Session, loan_id: str) -> Loan:
        loan = s.execute(select(Loan).where(Loan.id == (loan_id or "").strip().upper())
                         .with_for_update()).scalar_one_or_none()
        if loan is None:
            raise NotFound(f"借阅单 {loan_id!r} 不存在。")
        return loan

    def _event(self, s: Session, loan: Loan, event: str, actor: Actor, detail: dict) -> None:
        loan.version = (loan.version or 0) + 1
        payload = json.dumps(detail, ensure_ascii=False, default=str)
        s.add(LoanEvent(loan_id=loan.id, seq=loan.version, event=event, actor=actor.name, at=self.clock(),
                        detail=payload))
        s.flush()
        self.audit.append(s, actor.name, f"loan.{event}", loan.id, "ok",
                          {**detail, "state": loan.state, "borrower": loan.borrower})

    def _own_or(self, actor: Actor, loan: Loan, right: str, verb: str) -> None:
        if loan.borrower != actor.name and not actor.can(right):
            raise PermissionDenied(f"只有借阅人本人或档案管理员可以{verb}借阅单 {loan.id}。")

    def _is_out(self, loan: Loan) -> bool:
        """Physical: checked out. Electronic: approved and not past its due date."""
        if loan.kind == "physical":
            return loan.state == "checked_out"
        return loan.state == "approved" and loan.due is not None and loan.due >= self.today()

    def _state_name(self, loan: Loan) -> str:
        if loan.kind in ELECTRONIC and loan.state == "approved" and loan.due and loan.due < self.today():
            return "已到期"
        return STATES[loan.state]

    @staticmethod
    def _items(s: Session, loan: Loan) -> list[LoanItem]:
        return list(s.execute(select(LoanItem).where(LoanItem.loan_id == loan.id)
                              .order_by(LoanItem.archive_no)).scalars())

    def _records(self, s: Session, loan: Loan) -> list[Record]:
        return list(s.execute(select(Record).join(LoanItem, LoanItem.record_id == Record.id)
                              .where(LoanItem.loan_id == loan.id).order_by(LoanItem.archive_no)).scalars())

    def _describe(self, s: Session, loan: Loan, actor: Actor | None = None,
                  items: list[dict] | None = None) -> dict:
        if items is None:
            items = [{"archive_no": no, "record_id": rid, "title": title if actor and actor.may_see(sec, cat)
                      and not actor.can("audit.read") else None}
                     for no, rid, title, sec, cat in s.execute(
                         select(LoanItem.archive_no, Record.id, Record.title, Record.security, Record.category)
                         .join(Record, Record.id == LoanItem.record_id)
                         .where(LoanItem.loan_id == loan.id).order_by(LoanItem.archive_no)).all()]
        return self.describe(loan, items)

    def describe(self, loan: Loan, items: list[dict]) -> dict:
        today = self.today()
        overdue = loan.kind == "physical" and loan.state == "checked_out" and loan.due is not None \
            and loan.due < today
        expired = loan.kind in ELECTRONIC and loan.state == "approved" and loan.due is not None \
            and loan.due < today
        return {
            "loan_id": loan.id, "state": loan.state, "state_name": "已到期" if expired else STATES[loan.state],
            "due": loan.due.isoformat() if loan.due else None, "borrower": loan.borrower,
            "department": loan.department, "kind": loan.kind, "kind_name": KINDS[loan.kind],
            "purpose": loan.purpose, "days": loan.days, "sensitive": loan.sensitive,
            "requested_at": _iso(loan.requested_at), "decided_by": loan.decided_by,
            "decided_at": _iso(loan.decided_at), "reason": loan.reason,
            "started_on": loan.started_on.isoformat() if loan.started_on else None,
            "ended_at": _iso(loan.ended_at), "condition": loan.condition,
            "overdue": overdue, "days_overdue": (today - loan.due).days if overdue and loan.due else 0,
            "active": self._is_out(loan), "records": [i["archive_no"] for i in items], "items": items,
        }

    # -- reads ----------------------------------------------------------------------

    def show(self, actor: Actor, loan_id: str) -> dict:
        with self.db.read() as s:
            loan = s.get(Loan, (loan_id or "").strip().upper())
            if loan is None:
                raise NotFound(f"借阅单 {loan_id!r} 不存在。")
            if loan.borrower != actor.name and not self.may_read_all(actor):
                raise PermissionDenied(f"用户 {actor.name} 无权查看他人的借阅单。")
            view = self._describe(s, loan, actor)
            view["events"] = [
                {"seq": e.seq, "event": e.event, "event_name": EVENTS.get(e.event, e.event), "actor": e.actor,
                 "at": _iso(e.at), "detail": json.loads(e.detail)}
                for e in s.execute(select(LoanEvent).where(LoanEvent.loan_id == loan.id)
                                   .order_by(LoanEvent.seq)).scalars()]
            view["incidents"] = [self._incident(s, i) for i in s.execute(
                select(Incident).where(Incident.loan_id == loan.id).order_by(Incident.id)).scalars()]
        return view

    def list(self, actor: Actor, borrower: str | None = None, overdue: bool = False,
             as_of: dt.date | None = None, state: str | None = None, kind: str | None = None,
             department: str | None = None, record: str | None = None,
             offset: int = 0, limit: int = 100) -> list[dict]:
        """Loans, newest first; `overdue` lists physical loans out past their due date as of
        `as_of` (default today), most overdue first. Without the ledger right a user sees
        only their own loans."""
        if not self.may_read_all(actor):
            if borrower not in (None, actor.name):
                raise self._refuse(actor, "loan.list", borrower, f"用户 {actor.name} 无权查看他人的借阅。")
            borrower = actor.name
        if state is not None and state not in STATES:
            raise InvalidInput(f"借阅状态 {state!r} 无效：可选 {'、'.join(STATES)}。")
        if limit < 1 or limit > 10_000 or offset < 0:
            raise InvalidInput("limit 应在 1 到 10000 之间，offset 不能为负。")
        query = select(Loan)
        if overdue:
            as_of = as_of or self.today()
            query = query.where(Loan.state == "checked_out", Loan.due < as_of) \
                .order_by(Loan.due, Loan.id)
        else:
            query = query.order_by(Loan.requested_at.desc(), Loan.id.desc())
        if borrower:
            query = query.where(Loan.borrower == borrower)
        if state:
            query = query.where(Loan.state == state)
        if kind:
            query = query.where(Loan.kind == kind)
        if department:
            query = query.where(Loan.department == department)
        with self.db.read() as s:
            if record:
                rec = find_record(s, record)
                # a join, so the planner starts from loan_items(record_id), not from every loan
                query = query.join(LoanItem, LoanItem.loan_id == Loan.id).where(LoanItem.record_id == rec.id)
            loans = list(s.execute(query.offset(offset).limit(limit)).scalars())
            items = self._items_of(s, [loan.id for loan in loans], actor)
            rows = [self.describe(loan, items.get(loan.id, [])) for loan in loans]
        if overdue and as_of is not None:
            for row in rows:
                due = dt.date.fromisoformat(row["due"])
                row["overdue"], row["days_overdue"] = True, (as_of - due).days
        return rows

    def _items_of(self, s: Session, loan_ids: builtins.list[str], actor: Actor) -> dict[str, builtins.list[dict]]:
        out: dict[str, builtins.list[dict]] = {}
        if not loan_ids:
            return out
        hide = actor.can("audit.read")
        for lid, no, rid, title, sec, cat in s.execute(
                select(LoanItem.loan_id, LoanItem.archive_no, Record.id, Record.title, Record.security,
                       Record.category).join(Record, Record.id == LoanItem.record_id)
                .where(LoanItem.loan_id.in_(loan_ids)).order_by(LoanItem.archive_no)).all():
            out.setdefault(lid, []).append({"archive_no": no, "record_id": rid,
                                            "title": title if actor.may_see(sec, cat) and not hide else None})
        return out

    def queue(self, actor: Actor) -> builtins.list[dict]:
        """待审批: requests this actor may decide (not their own; sensitive ones for managers)."""
        self._require(actor, "loan.approve", "loan.queue")
        with self.db.read() as s:
            query = select(Loan).where(Loan.state == "requested", Loan.borrower != actor.name) \
                .order_by(Loan.requested_at)
            if not actor.can("loan.approve.sensitive"):
                query = query.where(Loan.sensitive.is_(False))
            loans = list(s.execute(query.limit(500)).scalars())
            items = self._items_of(s, [loan.id for loan in loans], actor)
            return [self.describe(loan, items.get(loan.id, [])) for loan in loans]

    def desk(self, actor: Actor) -> dict:
        """借还台: approved physical loans waiting to go out, and what is out now."""
        self._require(actor, "loan.desk", "loan.desk")
        with self.db.read() as s:
            waiting = list(s.execute(select(Loan).where(Loan.state == "approved", Loan.kind == "physical")
                                     .order_by(Loan.decided_at).limit(500)).scalars())
            out = list(s.execute(select(Loan).where(Loan.state == "checked_out")
                                 .order_by(Loan.due).limit(500)).scalars())
            items = self._items_of(s, [loan.id for loan in waiting + out], actor)
            return {"waiting": [self.describe(x, items.get(x.id, [])) for x in waiting],
                    "out": [self.describe(x, items.get(x.id, [])) for x in out]}

    def find_by_code(self, actor: Actor, code: str) -> dict:
        """What a scanned label or typed code names: a loan id or a record (档号); for a
        record, its loan waiting at the desk or out now."""
        self._require(actor, "loan.desk", "loan.scan", code)
        code = _scanned(code)
        if not code:
            raise InvalidInput("请扫描或输入借阅单号或档号。")
        with self.db.read() as s:
            loan = s.get(Loan, code.upper())
            if loan is not None:
                return {"loan": self._describe(s, loan, actor), "archive_no": None}
            try:
                rec = find_record(s, code)
            except NotFound:
                raise NotFound(f"扫描的编码 {code!r} 既不是借阅单号，也不是任何档案的档号。") from None
            loan = s.execute(select(Loan).join(LoanItem, LoanItem.loan_id == Loan.id).where(
                LoanItem.record_id == rec.id, Loan.kind == "physical",
                or_(Loan.state == "checked_out", Loan.state == "approved"))
                .order_by(Loan.state.desc(), Loan.decided_at)).scalars().first()
            return {"loan": self._describe(s, loan, actor) if loan else None, "archive_no": _no(rec)}

    def incidents(self, actor: Actor, open_only: bool = True) -> builtins.list[dict]:
        if not self.may_read_all(actor):
            raise self._refuse(actor, "loan.incidents", None, f"用户 {actor.name} 无权查看损坏/遗失登记。")
        with self.db.read() as s:
            query = select(Incident).order_by(Incident.id.desc())
            if open_only:
                query = query.where(Incident.closed_at.is_(None))
            return [self._incident(s, i) for i in s.execute(query.limit(1000)).scalars()]

    @staticmethod
    def _incident(s: Session, inc: Incident) -> dict:
        no = s.execute(select(LoanItem.archive_no).where(LoanItem.loan_id == inc.loan_id,
                                                         LoanItem.record_id == inc.record_id)).scalar_one()
        return {"id": inc.id, "loan_id": inc.loan_id, "archive_no": no, "kind": inc.kind,
                "kind_name": CONDITIONS[inc.kind], "note": inc.note, "opened_by": inc.opened_by,
                "opened_at": _iso(inc.opened_at), "closed_by": inc.closed_by, "closed_at": _iso(inc.closed_at),
                "resolution": inc.resolution, "open": inc.closed_at is None}

    # -- the ledger (借阅登记簿) ------------------------------------------------------

    def ledger(self, actor: Actor, since: dt.date | None = None, until: dt.date | None = None,
               limit: int = 100_000) -> builtins.list[dict]:
        """Every event in [since, until], oldest first, with the loan's borrower and records."""
        self._require(actor, "loan.ledger", "loan.ledger")
        if since and until and since > until:
            raise InvalidInput("起始日期晚于截止日期。")
        query = select(LoanEvent, Loan).join(Loan, Loan.id == LoanEvent.loan_id).order_by(LoanEvent.id)
        if since:
            query = query.where(LoanEvent.at >= dt.datetime.combine(since, dt.time()))
        if until:
            query = query.where(LoanEvent.at < dt.datetime.combine(until + dt.timedelta(days=1), dt.time()))
        with self.db.read() as s:
            pairs = list(s.execute(query.limit(limit)).all())
            nos: dict[str, builtins.list[str]] = {}
            ids = list({loan.id for _e, loan in pairs})
            for start in range(0, len(ids), 500):
                for lid, no in s.execute(select(LoanItem.loan_id, LoanItem.archive_no)
                                         .where(LoanItem.loan_id.in_(ids[start:start + 500]))).all():
                    nos.setdefault(lid, []).append(no)
            rows = [{"at": _iso(e.at), "loan_id": loan.id, "event": e.event,
                     "event_name": EVENTS.get(e.event, e.event), "actor": e.actor, "borrower": loan.borrower,
                     "department": loan.department, "kind": loan.kind, "records": sorted(nos.get(loan.id, [])),
                     "purpose": loan.purpose, "detail": json.loads(e.detail)} for e, loan in pairs]
        with self.db.session() as s:
            self.audit.append(s, actor.name, "loan.ledger", None, "ok",
                              {"since": since, "until": until, "rows": len(rows)})
        return rows

    def overdue_report(self, actor: Actor, as_of: dt.date | None = None) -> builtins.list[dict]:
        """Overdue physical loans per department: count and the oldest due date."""
        self._require(actor, "loan.ledger", "loan.overdue_report")
        as_of = as_of or self.today()
        with self.db.read() as s:
            rows = s.execute(select(Loan.department, func.count(), func.min(Loan.due))
                             .where(Loan.state == "checked_out", Loan.due < as_of)
                             .group_by(Loan.department).order_by(func.count().desc())).all()
        return [{"department": d or "（未登记部门）", "overdue": n, "oldest_due": due.isoformat() if due else None,
                 "max_days_overdue": (as_of - due).days if due else 0} for d, n, due in rows]

    def remind(self, actor: Actor, notifier: Notifier, as_of: dt.date | None = None) -> builtins.list[dict]:
        """Send one reminder per overdue physical loan; each is a `remind` event."""
        self._require(actor, "loan.desk", "loan.remind")
        sent = []
        for row in self.list(actor, overdue=True, as_of=as_of, limit=10_000):
            subject = f"【档案借阅催还】借阅单 {row['loan_id']} 已逾期 {row['days_overdue']} 天"
            body = (f"{row['borrower']}：\n\n您借阅的档案 {'、'.join(row['records'])}（借阅单 {row['loan_id']}）"
                    f"应于 {row['due']} 归还，已逾期 {row['days_overdue']} 天。请尽快归还档案室，"
                    "或联系档案管理员办理续借。\n\n—— Dangan 档案管理系统")
            to = notifier.send(row["borrower"], subject, body)
            self._step(actor, row["loan_id"], "remind", _fixed({"to": to, "days_overdue": row["days_overdue"]}))
            sent.append({"loan_id": row["loan_id"], "borrower": row["borrower"], "to": to,
                         "days_overdue": row["days_overdue"]})
        return sent

    def copy(self, actor: Actor, loan_id: str, ref: str) -> tuple[bytes, str]:
        """The borrower's copy (复制件) of one record of an approved, current copy loan: the
        PDF with borrower, loan number and time on every page; the original never changes."""
        from dangan.loans.watermark import watermark_pdf

        with self.db.read() as s:
            loan = s.get(Loan, (loan_id or "").strip().upper())
            if loan is None:
                raise NotFound(f"借阅单 {loan_id!r} 不存在。")
            rec = find_record(s, ref)
            on_loan = s.get(LoanItem, (loan.id, rec.id)) is not None
        if loan.borrower != actor.name:
            raise self._refuse(actor, "loan.copy", loan.id, "复制件只提供给借阅人本人。")
        if loan.kind != "copy":
            raise Conflict(f"借阅单 {loan.id} 不是复制件借阅。")
        if not on_loan:
            raise NotFound(f"档案 {ref} 不在借阅单 {loan.id} 中。")
        if loan.state != "approved" or loan.due is None or loan.due < self.today():
            raise self._refuse(actor, "loan.copy", loan.id, f"借阅单 {loan.id} 未批准或已到期，不能下载复制件。")
        if rec.media_type != "application/pdf" or rec.sha256 is None:
            raise InvalidInput(f"档案 {ref} 不是 PDF，不能生成复制件。")
        original = b"".join(self.records.iter_original(rec))
        lines = [f"借阅人 {actor.name}", f"借阅单 {loan.id}", self.clock().strftime("%Y-%m-%d %H:%M UTC")]
        data = watermark_pdf(original, lines)
        with self.db.session() as s:
            self._event(s, self._lock(s, loan.id), "copy", actor, {"archive_no": _no(rec), "bytes": len(data)})
        return data, f"{_no(rec)}-复制件.pdf"

    # -- interfaces for other services ----------------------------------------------

    def records_out(self, record_ids: Collection[str]) -> dict[str, str]:
        """Record id → loan id for records on an open loan: a physical original out, or an
        approved view/copy loan whose period has not ended. Retention refuses to destroy them."""
        ids = list(dict.fromkeys(record_ids))
        out: dict[str, str] = {}
        physical = select(PhysicalOut.record_id, PhysicalOut.loan_id)
        electronic = (select(LoanItem.record_id, Loan.id).join(Loan, Loan.id == LoanItem.loan_id)
                      .where(Loan.kind.in_(ELECTRONIC), Loan.state == "approved", Loan.due >= self.today()))
        with self.db.read() as s:
            if len(ids) > MANY_IDS:  # a whole due list: open loans are far fewer, read them once
                wanted = set(ids)
                out.update((rid, lid) for rid, lid in s.execute(physical) if rid in wanted)
                for rid, lid in s.execute(electronic):
                    if rid in wanted:
                        out.setdefault(rid, lid)
                return out
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                out.update(s.execute(physical.where(PhysicalOut.record_id.in_(chunk))).all())
                for rid, lid in s.execute(electronic.where(LoanItem.record_id.in_(chunk))).all():
                    out.setdefault(rid, lid)
        return out

    @staticmethod
    def out_ids() -> Select:
        """The records search shows as 借出 (on_loan): a paper original out of the archive
        on a physical loan. An electronic view or copy loan takes nothing out (several
        readers may hold one at once) and ends by itself with no event to mark it, so it
        does not change the record's status."""
        return select(PhysicalOut.record_id)

    def grants(self, actor: Actor, rec: Record, action: str) -> bool:
        """The RecordsService hook: an approved view or copy loan lets its borrower read
        (not download, not edit) exactly its records until the due date."""
        if action != "record.view":
            return False
        today = self.today()
        with self.db.read() as s:
            return s.execute(select(Loan.id).join(LoanItem, LoanItem.loan_id == Loan.id).where(and_(
                LoanItem.record_id == rec.id, Loan.borrower == actor.name, Loan.kind.in_(ELECTRONIC),
                Loan.state == "approved", Loan.started_on <= today, Loan.due >= today)).limit(1)).first() \
                is not None

    def active_loan_for(self, actor: Actor, rec_id: str, kinds: tuple[str, ...] = ELECTRONIC) -> str | None:
        today = self.today()
        with self.db.read() as s:
            return s.execute(select(Loan.id).join(LoanItem, LoanItem.loan_id == Loan.id).where(
                LoanItem.record_id == rec_id, Loan.borrower == actor.name, Loan.kind.in_(kinds),
                Loan.state == "approved", Loan.due >= today).limit(1)).scalar_one_or_none()

    def borrower_names(self) -> builtins.list[str]:
        with self.db.read() as s:
            return list(s.execute(select(User.name).order_by(User.name)).scalars())


def find_record(s: Session, ref: str) -> Record:
    """A record by 档号, provisional number, earlier 档号 or id (a scanned code may carry spaces)."""
    return RecordsService.find(s, (ref or "").strip())


def _no(rec: Record) -> str:
    return rec.archive_no or rec.provisional_no or rec.id


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def _scanned(code: str) -> str:
    """A code as a USB scanner types it: strip whitespace and an optional `dangan:` prefix
    our QR labels carry."""
    code = (code or "").strip()
    for prefix in ("dangan:loan:", "dangan:record:", "dangan:box:", "dangan:"):
        if code.lower().startswith(prefix):
            return code[len(prefix):].strip()
    return code


def _fixed(event: dict) -> Callable[[Session, Loan], dict]:
    """A ledger step that changes nothing and records `event` (a reminder sent)."""
    return lambda _s, _loan: event
