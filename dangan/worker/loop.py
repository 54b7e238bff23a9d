"""One worker process: ingest jobs from the database's queue, then the search outbox.

Several workers, on one machine or many, share the queue through the database alone:

- a job is claimed in a transaction (``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL, a
  ``BEGIN IMMEDIATE`` write lock on SQLite), so two workers never take the same job;
- a claimed job carries its worker's identity (host, pid, process start) and a lease the
  worker renews (the heartbeat); a job whose worker is gone — a dead process on this host
  at once, a silent worker elsewhere once its lease has run out — goes back to the queue,
  and its half-written objects are removed first;
- a job is marked finished in the transaction that commits its record, so however often it
  was taken over, it completes once.

Each round: recover dead workers' jobs, run every batch that has pending jobs (as the
person who submitted it, with that person's rights), scan the scanner inbox if this worker
was given one (`--inbox DIR`, as the `--as` user; several workers may watch one folder —
a file is claimed by an atomic move), drain the search outbox, then sleep until the next
poll. A worker given a scheduler (`dangan worker` does unless `--no-schedule`) then runs
the scheduled checks that are due (dangan/worker/schedule.py); exactly one worker runs
each occurrence, and a check that fails never stops the ingest. The inbox's batches are run by the inbox watch (it moves the files), not as queue
batches. SIGTERM stops the worker after the current round; a
`kill -9` is what the leases are for.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from dangan.archive.models import Outbox
from dangan.archive.permissions import Actor
from dangan.errors import DanganError
from dangan.ingest import pipeline as pipeline_mod
from dangan.ingest.inbox import watch
from dangan.ingest.models import PENDING, RUNNING, IngestBatch, IngestJob
from dangan.ingest.pipeline import IngestPipeline
from dangan.worker.queue import sweep_spool
from dangan.worker.schedule import Scheduler

if TYPE_CHECKING:
    from dangan.system import Dangan


@dataclass
class WorkerStats:
    name: str
    rounds: int = 0
    batches: int = 0
    jobs: int = 0
    recovered: int = 0
    indexed: int = 0
    tasks: list[dict] = field(default_factory=list)  # scheduled checks run: task and outcome
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def set_lease(seconds: float) -> None:
    """How long a silent worker on another host keeps its jobs; heartbeats at a quarter."""
    pipeline_mod.STALE_AFTER = dt.timedelta(seconds=seconds)
    pipeline_mod.HEARTBEAT_SECONDS = max(1.0, seconds / 4)


def queue_status(system: Dangan) -> dict:
    """Jobs by state, batches with work left, and who holds running jobs."""
    with system.db.read() as s:
        states = dict(s.execute(select(IngestJob.state, func.count()).group_by(IngestJob.state)).all())
        open_batches = list(s.execute(select(IngestJob.batch_id).where(IngestJob.state.in_([PENDING, RUNNING]))
                                      .distinct().order_by(IngestJob.batch_id)).scalars())
        holders = dict(s.execute(select(IngestJob.worker, func.count()).where(IngestJob.state == RUNNING)
                                 .group_by(IngestJob.worker)).all())
        outbox = s.execute(select(func.count()).select_from(Outbox)).scalar_one()
    return {"jobs": states, "open_batches": open_batches, "running_by_worker": holders, "outbox": outbox}


class Worker:
    def __init__(self, system: Dangan, processes: int | None = None, poll: float = 2.0,
                 outbox: bool = True, echo: Callable[[str], None] | None = None,
                 inbox: Path | None = None, inbox_actor: Actor | None = None,
                 schedule: Scheduler | None = None) -> None:
        self.system = system
        self.pipeline = IngestPipeline(system, workers=processes)
        self.poll = poll
        self.outbox = outbox
        self.echo = echo or (lambda _m: None)
        self.stats = WorkerStats(name=f"{socket.gethostname()}:{os.getpid()}")
        self.inbox = inbox
        self.inbox_actor = inbox_actor
        self.processes = processes
        self.schedule = schedule
        if schedule is not None:
            schedule.stopping = lambda: self._stop
        self._stop = False
        self.failures = 0  # rounds in a row cut short by an outage

    def stop(self, *_args: object) -> None:
        self._stop = True

    def _batches(self) -> list[int]:
        with self.system.db.read() as s:
            return list(s.execute(
                select(IngestJob.batch_id).join(IngestBatch, IngestBatch.id == IngestJob.batch_id)
                .where(IngestJob.state == PENDING, IngestBatch.source != "inbox")
                .distinct().order_by(IngestJob.batch_id)).scalars())

    def round(self) -> int:
        """One pass over the queue; returns the number of jobs this worker finished. The
        database or the object store being away (a restart) costs the round, not the
        worker: it backs off and tries again, reconnecting then."""
        self.stats.rounds += 1
        try:
            return self._round()
        except (DanganError, SQLAlchemyError) as exc:
            what = str(exc) if isinstance(exc, DanganError) else f"数据库暂不可用（{type(exc).__name__}）"
            self.stats.errors.append(what)
            self.echo(f"本轮中断：{what}（稍后重试）")
            self.failures += 1
            return 0

    def _round(self) -> int:
        done = 0
        try:
            self.stats.recovered += self.pipeline.recover()
        except DanganError as exc:
            self.stats.errors.append(str(exc))
        for batch_id in self._batches():
            if self._stop:
                break
            with self.system.db.read() as s:
                batch = s.get(IngestBatch, batch_id)
                owner = batch.created_by if batch is not None else None
            if owner is None:  # the batch is gone since it was listed: nothing to run
                continue
            try:
                actor = self.system.actor(owner)
            except DanganError as exc:
                self.echo(f"批次 {batch_id} 暂不处理：提交人 {owner} 不可用（{exc}）")
                continue
            try:
                summary = self.pipeline.run(actor, batch_id)
            except DanganError as exc:  # the store or database away: the jobs wait for the next round
                self.stats.errors.append(str(exc))
                self.echo(f"批次 {batch_id} 中断：{exc}（稍后重试）")
                self.failures += 1
                break
            self.failures = 0
            self.stats.batches += 1
            self.stats.jobs += summary.done_now
            done += summary.done_now
            if summary.done_now:
                self.echo(f"批次 {batch_id}：本进程完成 {summary.done_now} 件（{summary.line()}）")
        if self.inbox is not None and self.inbox_actor is not None and not self._stop:
            # the scanner folder: one scan per round (files move to done/ or rejected/)
            found = watch(self.system, self.inbox_actor, self.inbox, once=True, settle=min(2.0, self.poll),
                          workers=self.processes, echo=self.echo)
            self.stats.jobs += len(found)
            done += len(found)
        try:
            sweep_spool(self.system)
        except OSError as exc:
            self.stats.errors.append(f"清理上传暂存失败：{exc.strerror}")
        if self.outbox:
            try:
                self.stats.indexed += self.system.search_service.sync() or 0
            except Exception as exc:  # an index outage: the outbox keeps the changes
                # a refusal (wrong credentials, untrusted certificate) says which setting to fix
                self.stats.errors.append(str(exc) if isinstance(exc, DanganError)
                                         else f"检索索引暂不可用（{type(exc).__name__}）")
        if self.schedule is not None and not self._stop:
            # last, so a long check waits for this round's ingest; its failures are its outcome
            for result in self.schedule.tick():
                self.stats.tasks.append({"task": result["task"], "outcome": result["outcome"]})
                if result["outcome"] == "error":
                    self.stats.errors.append(f"定时任务 {result['task']}：{result['detail']}")
        return done

    def run(self, once: bool = False, max_rounds: int | None = None) -> WorkerStats:
        previous = signal.signal(signal.SIGTERM, self.stop) if _main_thread() else None
        try:
            while not self._stop:
                self.round()
                if once or (max_rounds is not None and self.stats.rounds >= max_rounds):
                    break
                # after an outage, wait longer each time (up to a minute) before trying again
                pause = min(60.0, self.poll * 2 ** min(self.failures, 6)) if self.failures else self.poll
                deadline = time.monotonic() + pause
                while not self._stop and time.monotonic() < deadline:
                    time.sleep(min(0.2, self.poll))
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        return self.stats


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()
