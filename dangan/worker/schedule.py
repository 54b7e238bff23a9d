"""Scheduled checks inside `dangan worker`: the periodic 四性 run, the monthly due report and
(when switched on) overdue loan reminders — what cron used to start.

Rules it keeps:
- a task calls the same service method as its command (dangan/worker/tasks.py), as the
  person the settings name, with that person's rights; a missing person or right is a
  clear error when the worker starts, not a failure every round;
- exactly one worker runs each due occurrence, wherever the workers run: the task's row
  is claimed in a transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, ``BEGIN
  IMMEDIATE`` on SQLite) and carries the claimant and a lease its heartbeat renews; a
  claim whose lease ran out (its worker was killed) is taken over;
- the outcome, the next occurrence and the audit entry are written in one transaction;
  a task that raised keeps its occurrence and is retried after a back-off (a minute,
  doubling, at most its interval), and never stops the worker's ingest.

Times are naive UTC like every timestamp in the database; `now` is injectable, so a test
can move the clock while the services and the database stay real.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from dangan.archive.models import Meta, utcnow
from dangan.archive.permissions import RIGHT_NAMES, Actor
from dangan.errors import Conflict, DanganError, InvalidInput
from dangan.loans.notify import Notifier, notifier_for
from dangan.worker.models import ScheduledTask
from dangan.worker.plans import plans
from dangan.worker.tasks import TASKS, Outcome

if TYPE_CHECKING:
    from dangan.system import Dangan

RETRY = dt.timedelta(minutes=1)  # first retry after an error; doubles each time, at most the interval


_ACTOR_SETTINGS = {"verify": ("worker_run_as", "run_as"),
                   "retention-report": ("worker_retention_report_as", "retention_report_as"),
                   "remind": ("worker_remind_as", "remind_as")}


@dataclass
class Claim:
    name: str
    next_due: dt.datetime | None
    manual: bool
    took_over: str | None  # the worker whose expired claim this one replaced


class Scheduler:
    """The scheduled tasks of one worker process (or of one `dangan worker run-task`)."""

    def __init__(self, system: Dangan, worker: str | None = None,
                 now: Callable[[], dt.datetime] = utcnow, lease: float = 600.0,
                 notifier: Notifier | None = None, echo: Callable[[str], None] | None = None) -> None:
        self.system = system
        self.worker = worker or f"{socket.gethostname()}:{id(self):x}"
        self.now = now
        self.lease = dt.timedelta(seconds=lease)
        self.plans = plans(system.settings)
        self.notifier: Notifier = notifier or notifier_for(system.loans.rules)
        self.echo = echo or (lambda _m: None)
        self.stopping: Callable[[], bool] = lambda: False

    @property
    def reports(self) -> Path:
        return self.system.settings.reports_path

    # -- who runs it ----------------------------------------------------------------

    def actor_for(self, name: str) -> Actor:
        """The person a task runs as; a clear sentence naming the setting when wrong."""
        field, key = _ACTOR_SETTINGS[name]
        settings = self.system.settings
        who = getattr(settings, field) or settings.worker_run_as
        where = f"[worker] {key}" + ("" if key == "run_as" else " 或 run_as")
        if not who:
            who = self._auditor()
            where += "（未设置时为初始化时的安全审计员）"
        try:
            actor = self.system.actor(who)
        except DanganError:
            raise InvalidInput(f"定时任务 {name} 的执行人 {who!r} 不存在或已停用：请检查 {where}。") from None
        task = TASKS[name]
        if not actor.can(task.right):
            raise InvalidInput(f"定时任务 {name} 的执行人 {who} 没有“{RIGHT_NAMES.get(task.right, task.right)}”"
                               f"的权限：请在 {where} 指定有此权限的用户。")
        return actor

    def _auditor(self) -> str:
        with self.system.db.read() as s:
            row = s.get(Meta, "three_officers")
        officers = dict(part.split("=", 1) for part in row.value.split(",")) if row else {}
        return officers.get("auditor", "")

    def check(self) -> list[str]:
        """At worker start: every enabled task's person exists and holds the right (raises
        InvalidInput otherwise); returns warnings worth printing."""
        warnings = []
        for name, plan in self.plans.items():
            if plan.off:
                continue
            actor = self.actor_for(name)
            if name == "retention-report" and actor.clearance != "secret":
                warnings.append(f"月度到期报告以 {actor.name} 的身份编制，只含其密级可见的档案；"
                                "要完整报告，请在 [worker] retention_report_as 指定有机密权限的档案管理员。")
        return warnings

    # -- the rows -------------------------------------------------------------------

    def ensure(self) -> None:
        """One row per task, following the settings: a new task gets its first occurrence,
        a changed plan counts again from the last run (or from now)."""
        now = self.now()
        with self.system.db.read() as s:
            rows = {r.name: (r.plan, r.last_started) for r in s.execute(select(ScheduledTask)).scalars()}
        missing = [n for n in self.plans if n not in rows]
        changed = [n for n in self.plans if n in rows and rows[n][0] != self.plans[n].text]
        if not missing and not changed:
            return
        with self.system.db.session() as s:
            if missing:
                insert = pg_insert if self.system.db.dialect == "postgresql" else sqlite_insert
                s.execute(insert(ScheduledTask).values([
                    {"name": n, "plan": self.plans[n].text, "next_due": self.plans[n].first(now),
                     "runs": 0, "failures": 0} for n in missing]).on_conflict_do_nothing())
            for n in changed:
                plan = self.plans[n]
                last = rows[n][1]
                due = None if plan.off else (
                    last + plan.every if plan.every and last else plan.first(now))
                s.execute(update(ScheduledTask).where(ScheduledTask.name == n, ScheduledTask.plan != plan.text)
                          .values(plan=plan.text, next_due=due, retry_at=None))

    def _due(self) -> list[str]:
        now = self.now()
        with self.system.db.read() as s:
            rows = {r.name: r for r in s.execute(select(ScheduledTask)).scalars()}
        return [n for n in TASKS if n in rows and _is_due(rows[n], now)]

    def _claim(self, name: str, manual: bool) -> Claim | None:
        now = self.now()
        with self.system.db.session() as s:
            query = select(ScheduledTask).where(ScheduledTask.name == name)
            if self.system.db.dialect == "postgresql":
                query = query.with_for_update(skip_locked=not manual)
            row = s.execute(query).scalar_one_or_none()
            if row is None:  # another worker holds the row's lock this instant: it is theirs
                return None
            held = row.claimed_by is not None and row.lease_until is not None and row.lease_until > now
            if held:
                if manual:
                    raise Conflict(f"定时任务 {name} 正在由工作进程 {row.claimed_by} 运行，请稍后再试。")
                return None
            if not manual and not _is_due(row, now):
                return None
            took_over = row.claimed_by
            row.claimed_by, row.claimed_at, row.lease_until = self.worker, now, now + self.lease
            if took_over:
                self.system.audit.append(s, "system", "worker.task.takeover", name, "ok",
                                         {"from": took_over, "worker": self.worker})
            return Claim(name, row.next_due, manual, took_over)

    def _beat(self, name: str) -> None:
        with self.system.db.session() as s:
            s.execute(update(ScheduledTask).where(ScheduledTask.name == name,
                                                  ScheduledTask.claimed_by == self.worker)
                      .values(lease_until=self.now() + self.lease))

    # -- running --------------------------------------------------------------------

    def tick(self) -> list[dict]:
        """Run every task that is due and not running elsewhere; one result per run."""
        self.ensure()
        done = []
        for name in self._due():
            if self.stopping():
                break
            claim = self._claim(name, manual=False)
            if claim is not None:
                done.append(self._run(claim))
        return done

    def run_now(self, name: str) -> dict:
        """`dangan worker run-task NAME`: run it now, under the same claim as the workers."""
        if name not in TASKS:
            raise InvalidInput(f"没有名为 {name!r} 的定时任务：可选 {'、'.join(TASKS)}。")
        self.actor_for(name)
        self.ensure()
        claim = self._claim(name, manual=True)
        assert claim is not None
        return self._run(claim)

    def _run(self, claim: Claim) -> dict:
        name, task, plan = claim.name, TASKS[claim.name], self.plans[claim.name]
        started = self.now()
        occurrence = started if claim.manual or claim.next_due is None else plan.latest(claim.next_due, started)
        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(name, stop), daemon=True)
        beat.start()
        actor_name = "system"
        try:
            actor = self.actor_for(name)
            actor_name = actor.name
            self.echo(f"定时任务 {name}（{task.title}）开始，执行人 {actor.name}")
            result = task.run(self, actor, occurrence)
        except Exception as exc:  # any failure is the task's outcome, never the worker's end
            result = Outcome("error", _sentence(exc))
        finally:
            stop.set()
            beat.join()
        notified = self._notify(name, result, actor_name)
        out = self._finish(claim, result, actor_name, started, occurrence, notified)
        self.echo(f"定时任务 {name}：{_OUTCOME_NAMES[result.outcome]}，{result.detail}")
        return out

    def _heartbeat(self, name: str, stop: threading.Event) -> None:
        while not stop.wait(max(0.5, self.lease.total_seconds() / 4)):
            # the database away: the lease may lapse and another worker take the task over
            with contextlib.suppress(SQLAlchemyError, DanganError):
                self._beat(name)

    def _notify(self, name: str, result: Outcome, actor_name: str) -> list[str]:
        notice = result.notice
        if result.outcome == "error":
            with self.system.db.read() as s:
                row = s.get(ScheduledTask, name)
                first = row is None or row.failures == 0  # once per run of errors, not every retry
            if first:
                notice = (f"【定时任务】{TASKS[name].title}运行失败",
                          f"定时任务 {name}（{TASKS[name].title}）运行失败：{result.detail}\n"
                          "工作进程会稍后重试；请检查 dangan worker status。\n—— Dangan 档案管理系统")
        if notice is None:
            return []
        wanted = [p.strip() for p in self.system.settings.worker_notify.split(",") if p.strip()]
        sent = []
        for to in wanted or ([actor_name] if actor_name != "system" else []):
            try:
                sent.append(self.notifier.send(to, *notice))
            except Exception as exc:  # the mail server away: the outcome stands, the audit says so
                result.data.setdefault("notify_errors", []).append(f"{to}: {type(exc).__name__}")
        return sent

    def _finish(self, claim: Claim, result: Outcome, actor_name: str, started: dt.datetime,
                occurrence: dt.datetime, notified: list[str]) -> dict:
        now = self.now()
        plan = self.plans[claim.name]
        detail = {"worker": self.worker, "occurrence": occurrence, "detail": result.detail,
                  "files": result.files, "notified": notified, "manual": claim.manual, **result.data}
        with self.system.db.session() as s:
            query = select(ScheduledTask).where(ScheduledTask.name == claim.name)
            if self.system.db.dialect == "postgresql":
                query = query.with_for_update()
            row = s.execute(query).scalar_one()
            if row.claimed_by != self.worker:  # our lease lapsed and another worker took the task over
                detail["lease_lost_to"] = row.claimed_by
            else:
                row.claimed_by = row.claimed_at = row.lease_until = None
                row.last_started, row.last_finished, row.last_actor = started, now, actor_name
                row.last_outcome, row.last_detail, row.last_worker = result.outcome, result.detail, self.worker
                row.runs = (row.runs or 0) + 1
                if result.outcome == "error":
                    row.failures = (row.failures or 0) + 1
                    if not plan.off and row.next_due is not None and row.next_due <= now:
                        cap = plan.every or dt.timedelta(days=1)
                        row.retry_at = now + min(cap, RETRY * 2 ** min(row.failures - 1, 16))
                else:
                    row.failures, row.retry_at = 0, None
                    if plan.off:
                        row.next_due = None
                    elif claim.manual and plan.every:
                        row.next_due = started + plan.every  # a run by hand restarts the count
                    elif row.next_due is None or row.next_due <= now:
                        row.next_due = plan.after(row.next_due or now, now)
            self.system.audit.append(s, actor_name, "worker.task", claim.name, result.outcome, detail)
            next_due, retry_at = row.next_due, row.retry_at
        return {"task": claim.name, "outcome": result.outcome, "detail": result.detail, "files": result.files,
                "notified": notified, "started": _iso(started), "next_due": _iso(next_due),
                "retry_at": _iso(retry_at), "took_over": claim.took_over}


_OUTCOME_NAMES = {"ok": "完成", "failed": "发现问题", "error": "出错"}


def _is_due(row: ScheduledTask, now: dt.datetime) -> bool:
    if row.plan == "off" or row.next_due is None or row.next_due > now:
        return False
    if row.retry_at is not None and row.retry_at > now:
        return False
    return not (row.claimed_by and row.lease_until and row.lease_until > now)


def _sentence(exc: BaseException) -> str:
    """One readable sentence; never a connection string or a secret from a driver message."""
    if isinstance(exc, DanganError):
        return str(exc)
    if isinstance(exc, SQLAlchemyError):
        return f"数据库暂不可用（{type(exc).__name__}）。"
    if isinstance(exc, OSError) and exc.strerror:
        return f"文件或网络错误：{exc.strerror}。"
    return f"内部错误：{type(exc).__name__}。"


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") + "Z" if value is not None else None


def schedule_status(system: Dangan, now: dt.datetime | None = None) -> list[dict]:
    """Each task: its plan, last run and outcome, next due, who runs it now. Read only."""
    now = now or utcnow()
    wanted = plans(system.settings)
    with system.db.read() as s:
        rows = {r.name: r for r in s.execute(select(ScheduledTask)).scalars()}
    out = []
    for name, task in TASKS.items():
        plan, row = wanted[name], rows.get(name)
        running = (row is not None and row.claimed_by is not None and row.lease_until is not None
                   and row.lease_until > now)
        out.append({
            "task": name, "title": task.title, "plan": plan.text, "schedule": plan.describe(),
            "last_started": _iso(row.last_started) if row else None,
            "last_finished": _iso(row.last_finished) if row else None,
            "last_outcome": row.last_outcome if row else None, "last_detail": row.last_detail if row else None,
            "last_actor": row.last_actor if row else None,
            "runs": row.runs if row else 0, "failures": row.failures if row else 0,
            "next_due": _iso(row.next_due) if row and row.plan == plan.text and not plan.off else None,
            "retry_at": _iso(row.retry_at) if row else None,
            "running_on": row.claimed_by if running and row else None})
    return out
