"""Appraisal (鉴定): destroy, extend N years, keep permanently — with a reason, in the
record's history; event dates; recomputing after a schedule change."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from dangan.archive.models import Record, RecordVersion, utcnow
from dangan.archive.permissions import Actor
from dangan.errors import InvalidInput
from dangan.retention.base import (
    DECISION_NAMES,
    DECISIONS,
    ServiceBase,
    _iso,
)
from dangan.retention.models import (
    Appraisal,
    RetentionState,
)
from dangan.retention.schedule import add_years


class Appraisals(ServiceBase):
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
