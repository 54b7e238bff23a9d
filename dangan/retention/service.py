"""The retention service: due list, appraisal, legal holds, destruction batches, execution,
the destruction register and its verification. The CLI, the API and the pages call this.

Rules it keeps:
- every state change writes its audit entry in the change's own transaction;
- a record is destroyed only from an approved batch, by an executor other than the
  supervisor, after every record of the batch passed the re-checks (due, appraised
  "destroy", not permanent, not on hold, not on loan, not already destroyed) — otherwise
  the whole batch is refused, naming the records;
- the maker of a batch never approves it; a hold added to a record of an approved batch
  voids the approval (the manager approved a set of facts that no longer holds);
- destruction is crypto-shredding: per record, in one transaction, the data key is
  forgotten, the row becomes a tombstone, the register row and the audit entry are
  written; objects and index entries are deleted after the commit. A crash leaves the
  batch "executing"; running execute again purges every record of the batch again
  (idempotent) and shreds the rest, so nothing is half-destroyed or skipped.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.orm import Session

from dangan.archive import codes as codes_mod
from dangan.archive import shred
from dangan.archive.audit import AuditLog
from dangan.archive.db import Database
from dangan.archive.models import AuditEntry, Record, RecordVersion, User, utcnow
from dangan.archive.permissions import LEVELS, RIGHT_NAMES, Actor
from dangan.archive.records import RecordsService
from dangan.archive.scheme import Scheme
from dangan.archive.sequences import next_value
from dangan.archive.storage import ObjectStore
from dangan.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from dangan.retention.models import (
    Appraisal,
    DestructionBatch,
    DestructionItem,
    Hold,
    HoldItem,
    RegisterEntry,
    RetentionState,
)
from dangan.retention.schedule import add_years, effective, schedule_rows

DECISIONS = ("destroy", "extend", "permanent")
DECISION_NAMES = {"destroy": "销毁", "extend": "延长保管", "permanent": "永久保管"}
STATES = {"draft": "待审批", "approved": "已审批", "executing": "执行中", "executed": "已销毁"}
SUPERVISOR_ROLES = frozenset({"manager", "archivist", "auditor"})
CHUNK = int(os.environ.get("DANGAN_DESTROY_CHUNK", "200"))
PURGE_THREADS = 8
IN_CHUNK = 500

OnLoan = Callable[[Collection[str]], dict[str, str]]
IndexGetter = Callable[[], Any]


def no_loans(record_ids: Collection[str]) -> dict[str, str]:
    return {}


def _chunks(items: list, size: int = IN_CHUNK) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _iso(value: dt.date | dt.datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="seconds")
    return value.isoformat()


class RetentionService:
    def __init__(self, db: Database, store: ObjectStore, audit: AuditLog, records: RecordsService,
                 scheme: Scheme, on_loan: OnLoan = no_loans, index: IndexGetter | None = None,
                 search: Callable[[Actor, str, int, int], list[str]] | None = None) -> None:
        self.db = db
        self.store = store
        self.audit = audit
        self.records = records
        self.scheme = scheme
        self.on_loan = on_loan
        self.index = index  # returns the search backend (or raises when it cannot be reached)
        self.search = search  # a saved search → 档号 (for holds by query)

    # -- rights ---------------------------------------------------------------------

    def _require(self, actor: Actor, right: str, target: str | None = None) -> None:
        if actor.can(right):
            return
        message = f"用户 {actor.name} 没有“{RIGHT_NAMES.get(right, right)}”的权限。"
        with self.db.session() as s:
            self.audit.append(s, actor.name, right, target, "denied", {"reason": message})
        raise PermissionDenied(message)

    def _refuse(self, actor: Actor, action: str, target: str | None, message: str,
                exc: type[Exception] = Conflict) -> None:
        with self.db.session() as s:
            self.audit.append(s, actor.name, action, target, "refused", {"reason": message})
        raise exc(message)

    # -- schedule and due list -----------------------------------------------------

    def schedule(self) -> list[dict]:
        return schedule_rows(self.scheme)

    def _visible(self, actor: Actor):  # type: ignore[no-untyped-def]
        levels = [name for name, level in LEVELS.items() if level <= actor.level]
        cond = Record.security.in_(levels)
        if actor.categories is not None:
            cond = and_(cond, Record.category.in_(sorted(actor.categories)))
        return cond

    def _filters(self, category: str | None, location: str | None, year: int | None) -> list:
        conds = []
        if category:
            conds.append(Record.category == self.scheme.category(category).key)
        if location:
            prefix = str(codes_mod.parse_location(location, self.scheme.codes))
            conds.append(or_(Record.location == prefix, Record.location.like(prefix + "-%")))
        if year:
            conds.append(Record.year == year)
        return conds

    def _row_filter(self, actor: Actor, category: str | None, location: str | None,
                    year: int | None) -> Callable[[Any], bool]:
        cat = self.scheme.category(category).key if category else None
        prefix = str(codes_mod.parse_location(location, self.scheme.codes)) if location else None

        def keep(r: Any) -> bool:
            return (r.status == "active" and actor.may_see(r.security, r.category)
                    and (cat is None or r.category == cat) and (year is None or r.year == year)
                    and (prefix is None or (r.location or "") == prefix
                         or (r.location or "").startswith(prefix + "-")))

        return keep

    _COLS = (Record.id, Record.archive_no, Record.title, Record.category, Record.location, Record.year,
             Record.doc_date, Record.retention_period, Record.retention_until, Record.custody)

    def _estate(self):  # type: ignore[no-untyped-def]
        """The project segment of the location code (the estate), in SQL."""
        if self.db.dialect == "postgresql":
            return func.split_part(Record.location, "-", 1)
        return func.substr(Record.location, 1, func.instr(Record.location + "-", "-") - 1)

    def due(self, actor: Actor, as_of: dt.date | None = None, category: str | None = None,
            location: str | None = None, year: int | None = None, offset: int = 0,
            limit: int | None = None, audit: bool = True) -> dict:
        """Records whose retention has run out by `as_of` (default today), with counts per
        category, estate and year, and how many records have no trigger date.

        The database counts the records the scheme made due (an index on status and
        due date); the few records appraisal or an event changed are adjusted in Python."""
        self._require(actor, "retention.read")
        as_of = as_of or dt.date.today()
        conds = [Record.status == "active", self._visible(actor), *self._filters(category, location, year)]
        plain = [Record.retention_until <= as_of, Record.doc_date.is_not(None)]
        counts: dict[str, Counter] = {"category": Counter(), "estate": Counter(), "year": Counter()}
        with self.db.read() as s:
            keep = self._row_filter(actor, category, location, year)
            # driven from retention_state (few rows), so the planner never walks all records
            state_ids = list(s.execute(select(RetentionState.record_id)).scalars())
            changed = []
            for chunk in _chunks(state_ids):  # filtered here: a status condition makes SQLite walk the index
                changed.extend(r for r in s.execute(select(
                    *self._COLS, RetentionState.event_date, RetentionState.until, RetentionState.permanent,
                    RetentionState.decision, Record.status, Record.security).join(
                    RetentionState, RetentionState.record_id == Record.id).where(Record.id.in_(chunk))) if keep(r))
            estate = self._estate()
            for cat, est, yr, n in s.execute(select(Record.category, estate, Record.year, func.count())
                                             .where(*conds, *plain).group_by(Record.category, estate, Record.year)):
                counts["category"][cat] += n
                counts["estate"][est] += n
                counts["year"][yr] += n
            # records without a date are few: read them through their partial index (any other
            # condition tempts the planner onto the covering index) and filter here; permanent
            # records (no due date) are not "without a trigger"
            no_trigger = sum(1 for r in s.execute(select(  # (id: not in the covering index)
                Record.id, Record.retention_until, Record.category, Record.location, Record.year, Record.security,
                Record.status).where(Record.status == "active", Record.doc_date.is_(None)))
                if r.retention_until is not None and keep(r))
            extra: list[tuple] = []
            for r in changed:
                eff = effective(self.scheme, r.category, r.doc_date, r.retention_until, r.event_date,
                                r.until, r.permanent)
                was = r.retention_until is not None and r.doc_date is not None and r.retention_until <= as_of
                now = eff.until is not None and eff.until <= as_of
                no_trigger -= int(r.doc_date is None and r.retention_until is not None and not eff.no_trigger)
                for sign, flag in ((-1, was), (1, now)):
                    if flag:
                        counts["category"][r.category] += sign
                        counts["estate"][(r.location or "").split("-", 1)[0]] += sign
                        counts["year"][r.year] += sign
                if now:
                    extra.append((*r[:8], eff.until, r.custody, r.decision))
            skip = {r.id for r in changed}
            # ordered by columns of the covering index only, so a page needs no sort of every due row
            query = select(*self._COLS).where(*conds, *plain).order_by(
                Record.retention_until, Record.doc_date, Record.category, Record.location, Record.year)
            if limit is not None:
                query = query.limit(offset + limit + len(skip))
            rows = [(*r, None) for r in s.execute(query) if r.id not in skip]
            held = self._held_map(s)
        if extra:
            rows = sorted(rows + extra, key=lambda r: (r[8], r[6] or dt.date.min, r[3] or "", r[4] or "", r[5] or 0))
        total = sum(counts["category"].values())
        page = rows[offset:offset + limit if limit is not None else None]
        loans = self.on_loan([r[0] for r in page]) if page else {}
        out = [{"archive_no": r[1], "title": r[2], "category": r[3], "location": r[4], "year": r[5],
                "date": _iso(r[6]), "period": r[7], "until": _iso(r[8]), "paper_box": r[9],
                "decision": r[10], "holds": held.get(r[0], []), "on_loan": loans.get(r[0])}
               for r in page]
        if audit:
            with self.db.session() as s:
                self.audit.append(s, actor.name, "retention.due", None, "ok",
                                  {"as_of": as_of, "category": category, "location": location,
                                   "year": year, "total": total})
        return {"as_of": as_of.isoformat(), "total": total, "no_trigger": no_trigger,
                "counts": {k: {str(key): n for key, n in sorted(v.items(), key=lambda kv: str(kv[0])) if n}
                           for k, v in counts.items()},
                "records": out}

    def report(self, actor: Actor, month: str) -> dict:
        """What falls due in one calendar month (YYYY-MM): the monthly due report."""
        try:
            first = dt.date.fromisoformat(month + "-01")
        except ValueError:
            raise InvalidInput(f"月份 {month!r} 无效：应为 YYYY-MM。") from None
        last = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
        data = self.due(actor, as_of=last, audit=False)
        data["records"] = [r for r in data["records"] if r["until"] >= first.isoformat()]
        data["month"] = month
        data["falling_due"] = len(data["records"])
        with self.db.session() as s:
            self.audit.append(s, actor.name, "retention.report", month, "ok",
                              {"falling_due": data["falling_due"], "total_due": data["total"]})
        return data

    # -- appraisal ------------------------------------------------------------------

    def _states(self, s: Session, ids: Collection[str]) -> dict[str, RetentionState]:
        out: dict[str, RetentionState] = {}
        for chunk in _chunks(list(ids)):
            out.update((st.record_id, st) for st in s.execute(
                select(RetentionState).where(RetentionState.record_id.in_(chunk))).scalars())
        return out

    def _effective(self, rec: Record, st: RetentionState | None):  # type: ignore[no-untyped-def]
        return effective(self.scheme, rec.category, rec.doc_date, rec.retention_until,
                         st.event_date if st else None, st.until if st else None,
                         bool(st and st.permanent))

    def appraise(self, actor: Actor, refs: list[str], decision: str, reason: str,
                 years: int | None = None, today: dt.date | None = None) -> list[dict]:
        """鉴定 one or many records, all or nothing: destroy (only a due record), extend by
        N years (from the later of its due date and today), or keep permanently."""
        self._require(actor, "retention.appraise")
        if decision not in DECISIONS:
            raise InvalidInput(f"鉴定结论 {decision!r} 无效：应为 destroy、extend 或 permanent。")
        if not reason or not reason.strip():
            raise InvalidInput("鉴定必须说明理由（--reason）。")
        if decision == "extend" and (years is None or not 1 <= years <= 100):
            raise InvalidInput("延长保管需要 1 到 100 之间的年数（--years N）。")
        if decision != "extend" and years is not None:
            raise InvalidInput("只有 extend（延长保管）需要 --years。")
        if not refs:
            raise InvalidInput("请给出要鉴定的档号。")
        today = today or dt.date.today()
        reason = reason.strip()
        results = []
        problems: dict[str, str] = {}
        with self.db.session() as s:
            recs = [self.records.find(s, r) for r in dict.fromkeys(refs)]
            states = self._states(s, [r.id for r in recs])
            held = self._held_map(s, [r.id for r in recs])
            for rec in recs:
                no = rec.archive_no or rec.provisional_no or rec.id
                st = states.get(rec.id)
                eff = self._effective(rec, st)
                if not actor.may_see(rec.security, rec.category):
                    problems[no] = "密级或类别权限不足"
                elif rec.status != "active":
                    problems[no] = "已销毁" if rec.status == "destroyed" else f"状态为 {rec.status}，不能鉴定"
                elif decision == "destroy":
                    if eff.permanent:
                        problems[no] = "永久保管，不能鉴定为销毁"
                    elif eff.no_trigger:
                        problems[no] = "没有保管期限起算日期，不能鉴定为销毁"
                    elif eff.until is not None and eff.until > today:
                        problems[no] = f"未到期（保管至 {eff.until.isoformat()}）"
                    elif rec.id in held:
                        problems[no] = f"已被冻结（{'、'.join(held[rec.id])}）"
            if problems:
                s.rollback()
            else:
                for rec in recs:
                    results.append(self._appraise_one(s, actor, rec, states.get(rec.id), decision, reason,
                                                      years, today))
        if problems:
            listed = "；".join(f"{k}：{v}" for k, v in problems.items())
            self._refuse(actor, "retention.appraise", None, f"鉴定被拒绝，未做任何修改：{listed}。",
                         InvalidInput)
        return results

    def _appraise_one(self, s: Session, actor: Actor, rec: Record, st: RetentionState | None, decision: str,
                      reason: str, years: int | None, today: dt.date) -> dict:
        eff = self._effective(rec, st)
        if st is None:
            st = RetentionState(record_id=rec.id, permanent=False)
            s.add(st)
        before = eff.until
        after = before
        if decision == "extend":
            after = add_years(max(before or today, today), years or 0)
            st.until = after
            st.permanent = False
        elif decision == "permanent":
            after = None
            st.permanent = True
            st.until = None
        st.decision = decision
        st.decided_by = actor.name
        st.decided_at = utcnow()
        st.reason = reason
        s.add(Appraisal(record_id=rec.id, decision=decision, years=years, reason=reason,
                        until_before=before, until_after=after, decided_by=actor.name))
        changes: dict[str, list] = {"appraisal": [None, decision]}
        if decision == "extend":
            changes["retention_until"] = [_iso(rec.retention_until), _iso(after)]
            rec.retention_until = after
        elif decision == "permanent":
            changes["retention_period"] = [rec.retention_period, "Y"]
            rec.retention_period, rec.retention_until = "Y", None
        rec.version += 1
        s.add(RecordVersion(record_id=rec.id, version=rec.version, changed_by=actor.name,
                            reason=f"鉴定：{DECISION_NAMES[decision]}。{reason}",
                            changes=json.dumps(changes, ensure_ascii=False)))
        self.audit.append(s, actor.name, "retention.appraise", rec.archive_no, "ok",
                          {"decision": decision, "years": years, "reason": reason,
                           "until_before": before, "until_after": after})
        return {"archive_no": rec.archive_no, "decision": decision, "until": _iso(after),
                "permanent": decision == "permanent"}

    def set_event(self, actor: Actor, ref: str, event_date: dt.date, reason: str) -> dict:
        """Record the event a retention period counts from (a contract's end, an owner
        moving out); the due date is recomputed from it."""
        self._require(actor, "retention.appraise", ref)
        if not reason or not reason.strip():
            raise InvalidInput("登记起算事件必须说明理由（--reason）。")
        with self.db.session() as s:
            rec = self.records.find(s, ref)
            st = s.get(RetentionState, rec.id)
            if st is None:
                st = RetentionState(record_id=rec.id, permanent=False)
                s.add(st)
            before = self._effective(rec, st).until
            st.event_date = event_date
            eff = self._effective(rec, st)
            rec.version += 1
            s.add(RecordVersion(record_id=rec.id, version=rec.version, changed_by=actor.name,
                                reason=f"登记保管期限起算事件。{reason.strip()}",
                                changes=json.dumps({"event_date": [None, event_date.isoformat()],
                                                    "due": [_iso(before), _iso(eff.until)]},
                                                   ensure_ascii=False)))
            self.audit.append(s, actor.name, "retention.event", rec.archive_no, "ok",
                              {"event_date": event_date, "until": eff.until, "reason": reason.strip()})
            return {"archive_no": rec.archive_no, "event_date": event_date.isoformat(),
                    "until": _iso(eff.until)}

    def recompute(self, actor: Actor, batch: int = 2000) -> dict:
        """After the schedule (scheme.toml) changed: recompute every active record's
        retention from its category and document date; appraisal results stay."""
        self._require(actor, "retention.appraise")
        changed = seen = 0
        last = ""
        while True:
            with self.db.session() as s:
                recs = list(s.execute(select(Record).where(Record.id > last, Record.status == "active")
                                      .order_by(Record.id).limit(batch)).scalars())
                if not recs:
                    break
                states = self._states(s, [r.id for r in recs])
                for rec in recs:
                    seen += 1
                    st = states.get(rec.id)
                    if rec.category is None or (st and (st.permanent or st.until)):
                        continue
                    cat = self.scheme.category(rec.category)
                    base = rec.doc_date or rec.ingested_at.date()
                    period = cat.retention_code
                    until = None if cat.permanent else self.scheme.retention_until(cat, base)
                    if (period, until) != (rec.retention_period, rec.retention_until):
                        rec.retention_period, rec.retention_until = period, until
                        changed += 1
                last = recs[-1].id
        with self.db.session() as s:
            self.audit.append(s, actor.name, "retention.recompute", None, "ok",
                              {"records": seen, "changed": changed, "scheme_version": self.scheme.version})
        return {"records": seen, "changed": changed}

    # -- holds ----------------------------------------------------------------------

    def _held_map(self, s: Session, ids: Collection[str] | None = None) -> dict[str, list[str]]:
        query = select(HoldItem.record_id, Hold.name).join(Hold, Hold.id == HoldItem.hold_id).where(
            Hold.released_at.is_(None))
        out: dict[str, list[str]] = defaultdict(list)
        if ids is None:
            for rid, name in s.execute(query):
                out[rid].append(name)
            return dict(out)
        for chunk in _chunks(list(ids)):
            for rid, name in s.execute(query.where(HoldItem.record_id.in_(chunk))):
                out[rid].append(name)
        return dict(out)

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
            destroyed = [r.archive_no for r in recs if r.status == "destroyed"]
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
                voided[batch.id].append(by_id[rid].archive_no)
        for batch_id, nos in voided.items():
            batch = s.get(DestructionBatch, batch_id)
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
                s.execute(DestructionItem.__table__.insert(), [
                    {"batch_id": batch_id, "record_id": r.id, "archive_no": r.archive_no, "state": "pending",
                     "paper": bool(r.custody), "box": r.custody} for r in recs])
                self.audit.append(s, actor.name, "destroy.create", batch_id, "ok",
                                  {"reason": reason.strip(), "records": [r.archive_no for r in recs[:1000]],
                                   "count": len(recs)})
        if problems:
            self._refuse(actor, "destroy.create", None,
                         f"不能编制销毁清册：{self._problem_text(problems)}。", Conflict)
        return self.show_batch(actor, batch_id, items=False, audit=False)

    def _batch(self, s: Session, batch_id: str) -> DestructionBatch:
        batch = s.get(DestructionBatch, batch_id)
        if batch is None:
            raise NotFound(f"销毁清册 {batch_id!r} 不存在。")
        return batch

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
                    s.execute(RegisterEntry.__table__.insert(), register)
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
        if state != "executed":
            workflow: bool | str = f"销毁清册尚未执行完毕（{STATES[state]}）。"
        elif None in order:
            workflow = "审计日志缺少销毁流程的某一步（编制、审批、开始执行或执行完毕）。"
        elif order != sorted(order):
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
