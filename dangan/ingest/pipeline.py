"""The ingest pipeline: persisted jobs, a process pool for text and OCR, and the records
service for custody.

Each input file becomes one job row. Runs claim pending jobs through the database, so
several `dangan` processes can share a batch. A job goes through three steps:

1. check (a thread): the file is still a regular file, not empty, and its SHA-256 is not
   already in the archive — a duplicate is reported with the existing 档号 before any
   OCR is spent on it;
2. analyse (a worker process, one file per process, as many processes as cores): type,
   checks, text and OCR, coding, classification and personal data;
3. store (a thread): encrypt and write the objects, then commit the record together
   with the job's final state (`records.create(..., record_id=, within=)`).

The main thread only hands work from one step to the next and calls the callbacks, so
the workers are never left waiting for it; checks and custody run on a few threads
because they mostly wait for disks (fsync) and the database. Jobs in flight are bounded
(about two per worker plus two per custody thread), so memory stays flat whatever the
batch's size.

After a `kill -9`, running the same command again resets jobs whose run died, removes
any object their unfinished record left behind, and carries on: every file is finished
exactly once. A file that crashes a worker process (a decoder bug, memory exhaustion) is
retried alone, and refused with a reason if it crashes it again; the batch goes on.
"""

from __future__ import annotations

import atexit
import collections
import concurrent.futures as cf
import contextlib
import datetime as dt
import hashlib
import json
import multiprocessing
import os
import shutil
import socket
import stat
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError as DBIntegrityError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from dangan.archive.models import Record, utcnow
from dangan.archive.permissions import Actor
from dangan.archive.records import CreateResult, object_key
from dangan.errors import DanganError, InvalidInput
from dangan.ingest import analyse as analysis_mod
from dangan.ingest import procinfo
from dangan.ingest.models import FINISHED, PENDING, RUNNING, IngestBatch, IngestJob
from dangan.ingest.sources import Item

if TYPE_CHECKING:
    from dangan.system import Dangan

#: A job claimed on another machine whose run has not been heard from for this long is
#: taken over (on this machine a dead run is recognised at once by its process).
STALE_AFTER = dt.timedelta(minutes=10)
#: How often a run tells the database its claimed jobs are still being worked on.
HEARTBEAT_SECONDS = 60.0
CLAIM_CHUNK = 16
#: A job claimed this many times without finishing (its run was killed each time) is
#: refused rather than retried for ever.
MAX_ATTEMPTS = 10

_ACTIVE_RUNS: set[str] = set()  # run tokens of this process that are still working

CRASH_MESSAGE = "处理该文件时识别进程异常退出（文件可能损坏或过大），单独重试后仍然失败，已拒收。"
#: An analysis still running after this long is stopped (its process is killed) and the
#: file retried alone, then refused: a pathological file must not stall the batch.
ANALYSIS_TIMEOUT = 3600.0


def _host_tag() -> str:
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


_start_ticks = procinfo.process_start


def worker_id(token: str) -> str:
    """`host:pid:start:token` — who claimed a job, enough to tell later whether it still runs."""
    pid = os.getpid()
    return f"{_host_tag()}:{pid}:{_start_ticks(pid)}:{token}"


def _alive(worker: str | None) -> bool:
    """Is the run that claimed a job still working? Decidable on this host only; for
    another host's run the caller falls back on the heartbeat's age."""
    if not worker:
        return False
    parts = worker.split(":")
    if len(parts) == 4:
        host, pid, start, token = parts
        same_host = host == _host_tag()
    else:  # older `hostname:pid:token`
        host, pid, token = [*parts, "", ""][:3]
        start = ""
        same_host = host == socket.gethostname()
    if not same_host:
        return True
    if pid == str(os.getpid()) and (not start or start == _start_ticks(os.getpid())):
        return token in _ACTIVE_RUNS
    try:
        return procinfo.process_alive(int(pid), start)
    except ValueError:
        return False


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    with open(fd, "rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Summary:
    ingested: int = 0
    duplicate: int = 0
    rejected: int = 0
    queued: int = 0
    pages: int = 0
    seconds: float = 0.0
    results: list[dict] = field(default_factory=list)
    index_error: str | None = None
    done_now: int = 0  # files finished by this run
    pages_now: int = 0
    done_before: int = 0  # files an earlier (interrupted or finished) run already did

    def counts(self) -> str:
        return (f"入库 {self.ingested} 件（其中待分类 {self.queued} 件），重复 {self.duplicate} 件，"
                f"拒收 {self.rejected} 件；共 {self.pages} 页")

    def line(self) -> str:
        if self.done_before and not self.done_now:
            return f"{self.counts()}（此前均已处理完毕，本次未重做）"
        rate = self.pages_now / self.seconds if self.seconds else 0.0
        earlier = f"本次处理 {self.done_now} 件，另有 {self.done_before} 件此前已完成，" if self.done_before else ""
        return f"{self.counts()}；{earlier}用时 {self.seconds:.1f} 秒（{rate:.1f} 页/秒）"


class IngestPipeline:
    """Turns items into records; the CLI, the inbox and (later) the web upload call it."""

    def __init__(self, system: Dangan, workers: int | None = None, threads: int | None = None,
                 analyse: Callable[[str, dict], analysis_mod.Analysis] | None = None) -> None:
        """`workers`: analysis processes (default: the setting, 0 meaning one per core);
        `threads`: custody threads; `analyse`: the per-file analysis, a picklable
        module-level function (another stage chain, or a test's stand-in)."""
        self.system = system
        self.analyse = analyse or analysis_mod.analyse
        self.analysis_timeout = ANALYSIS_TIMEOUT
        self.db = system.db
        configured = workers if workers is not None else system.settings.ingest_workers
        self.workers = max(1, configured or (os.cpu_count() or 1))
        self.threads = threads or 4  # custody mostly waits on fsync and the database
        self._token = uuid.uuid4().hex[:8]
        self._actor_name = "system"
        self._created: set[int] = set()  # batches this pipeline created (nothing done before)

    # -- batches --------------------------------------------------------------------

    def add_batch(self, actor: Actor, items: list[Item], source: str, key: str | None = None) -> int:
        """One transaction: the batch and all its jobs, or nothing. A known key resumes.

        Items refused up front (an unsafe name, explicit values the scheme does not know)
        become finished, rejected jobs, so they are reported in order with the rest."""
        self.system.records.require(actor, "record.ingest")
        if key:
            known = self._batch_by_key(key)
            if known is not None:
                return known
        rows = [self._job_row(seq, item) for seq, item in enumerate(items)]
        try:
            with self.db.session() as s:
                batch = IngestBatch(source=source, key=key, created_by=actor.name)
                s.add(batch)
                s.flush()
                for row in rows:
                    row["batch_id"] = batch.id
                for start in range(0, len(rows), 1000):
                    s.execute(insert(IngestJob), rows[start:start + 1000])
                self.system.audit.append(s, actor.name, "ingest.batch", str(batch.id), "ok",
                                         {"source": source, "files": len(items)})
                for row in rows:
                    if row["state"] == "rejected":
                        self.system.audit.append(s, actor.name, "ingest.reject", row["name"][:200], "failed",
                                                 {"error": json.loads(row["result"])["error"]})
                self._created.add(batch.id)
                return batch.id
        except DBIntegrityError:
            known = self._batch_by_key(key) if key else None
            if known is None:
                raise
            return known  # another process created the same batch a moment ago

    def _batch_by_key(self, key: str) -> int | None:
        with self.db.read() as s:
            return s.execute(select(IngestBatch.id).where(IngestBatch.key == key)).scalar_one_or_none()

    def _job_row(self, seq: int, item: Item) -> dict:
        error = item.error or self._explicit_problem(item.explicit)
        now = utcnow()
        row = {"seq": seq, "path": str(item.path or ""), "name": item.name,
               "explicit": json.dumps(item.explicit, ensure_ascii=False), "state": PENDING,
               "record_id": None, "worker": None, "claimed_at": None, "attempts": 0, "pages": 0,
               "result": None, "updated_at": now}
        if error:
            row["state"] = "rejected"
            row["result"] = json.dumps(self._result(item.name, "rejected", error=error), ensure_ascii=False)
        return row

    def _explicit_problem(self, explicit: dict) -> str | None:
        """Why values given by the user cannot be used (checked before any file is read)."""
        from dangan.archive.codes import parse_location

        scheme = self.system.scheme
        try:
            if explicit.get("category"):
                scheme.category(explicit["category"])
            if explicit.get("location"):
                parse_location(explicit["location"], scheme.codes)
            if explicit.get("security"):
                scheme.security(explicit["security"])
            if explicit.get("date"):
                try:
                    dt.date.fromisoformat(str(explicit["date"]))
                except ValueError:
                    return f"日期 {explicit['date']!r} 无效：应为 YYYY-MM-DD"
        except DanganError as exc:
            return str(exc)
        return None

    def add_items(self, batch_id: int, items: list[Item]) -> list[int]:
        """Append jobs to an open batch (the inbox adds files as they arrive)."""
        with self.db.session() as s:
            start = s.execute(select(func.coalesce(func.max(IngestJob.seq), -1))
                              .where(IngestJob.batch_id == batch_id)).scalar_one() + 1
            jobs = []
            for n, item in enumerate(items):
                row = self._job_row(start + n, item)
                jobs.append(IngestJob(batch_id=batch_id, **row))
            s.add_all(jobs)
            s.flush()
            return [j.id for j in jobs]

    # -- abandoned batches -------------------------------------------------------------

    def abandoned(self) -> list[dict]:
        """Batches (not the inbox's) left with unfinished jobs and nobody working on them:
        what `dangan ingest --resume` finishes or `--cancel` ends."""
        self.recover()
        with self.db.read() as s:
            rows = s.execute(
                select(IngestBatch.id, IngestBatch.source, IngestBatch.created_by, IngestBatch.created_at,
                       func.count(IngestJob.id))
                .join(IngestJob, IngestJob.batch_id == IngestBatch.id)
                .where(IngestBatch.source != "inbox", IngestJob.state == PENDING)
                .group_by(IngestBatch.id, IngestBatch.source, IngestBatch.created_by, IngestBatch.created_at)
                .order_by(IngestBatch.id)).all()
            out = []
            for bid, source, by, at, pending in rows:
                if s.execute(select(func.count()).where(IngestJob.batch_id == bid,
                                                        IngestJob.state == RUNNING)).scalar_one():
                    continue  # a live process is on it (recover() reset the dead ones)
                total = s.execute(select(func.count()).where(IngestJob.batch_id == bid)).scalar_one()
                out.append({"batch": bid, "source": source, "created_by": by,
                            "created_at": at.isoformat(timespec="seconds"), "pending": pending, "total": total})
            return out

    def repoint(self, batch_id: int, items: list[Item]) -> None:
        """A rerun resuming its batch: unfinished jobs read the files of this run (ZIP
        members are unpacked afresh into a new scratch folder each run)."""
        with self.db.session() as s:
            for job in s.execute(select(IngestJob).where(IngestJob.batch_id == batch_id,
                                                         IngestJob.state == PENDING)).scalars():
                if job.seq < len(items) and items[job.seq].name == job.name and items[job.seq].path is not None:
                    job.path = str(items[job.seq].path)

    def pending_count(self, batch_id: int) -> int:
        return self._count(batch_id, PENDING)

    def cancel(self, actor: Actor, batch_id: int) -> int:
        """End an abandoned batch: its pending jobs become rejected ("已取消"); records
        already made stay. Refused while another process is working on the batch."""
        self.system.records.require(actor, "record.ingest")
        self.recover()
        if not any(b["batch"] == batch_id for b in self.abandoned()):
            raise InvalidInput(f"入库批次 {batch_id} 不存在、已完成或仍在运行：只能取消中断后未完成的批次。")
        with self.db.session() as s:
            jobs = list(s.execute(select(IngestJob).where(IngestJob.batch_id == batch_id,
                                                          IngestJob.state == PENDING)).scalars())
            for job in jobs:
                job.state = "rejected"
                job.result = json.dumps(self._result(job.name, "rejected", error="已取消（批次中断后由用户取消）"),
                                        ensure_ascii=False)
            batch = s.get(IngestBatch, batch_id)
            if batch is not None:
                batch.finished_at = utcnow()
            self.system.audit.append(s, actor.name, "ingest.cancel", str(batch_id), "ok", {"cancelled": len(jobs)})
        return len(jobs)

    # -- recovery -------------------------------------------------------------------

    def recover(self) -> int:
        """Reset jobs whose run died; remove objects of records that never committed."""
        now = utcnow()
        reset = 0
        with self.db.session() as s:
            rows = list(s.execute(select(IngestJob).where(IngestJob.state == RUNNING)).scalars())
            for job in rows:
                seen = job.updated_at or job.claimed_at
                stale = seen is None or now - seen > STALE_AFTER
                if _alive(job.worker) and not stale:
                    continue
                rec = s.get(Record, job.record_id) if job.record_id else None
                if rec is not None:
                    # Cannot happen (the record and the job's state commit together), but
                    # if it did, the file is in the archive: finish the job, do not redo it.
                    self._mark(s, job, self._result(job.name, "ingested", archive_no=rec.archive_no
                                                    or rec.provisional_no, category=rec.category,
                                                    location=rec.location, title=rec.title, pages=rec.pages,
                                                    queued=rec.archive_no is None))
                    continue
                if job.record_id:
                    for kind in ("original", "text"):
                        self.system.store.delete(object_key(job.record_id, kind))
                job.record_id = None
                job.state = PENDING
                job.worker = None
                reset += 1
        if reset:
            sweep = getattr(self.system.store, "sweep_temp", None)
            if sweep is not None:
                with contextlib.suppress(OSError):
                    sweep()  # temp files of puts cut short (older than an hour: never a live put)
        return reset

    def _claim(self, batch_id: int, limit: int, after_seq: int | None = None) -> list[IngestJob]:
        me = worker_id(self._token)
        with self.db.session() as s:
            query = select(IngestJob).where(IngestJob.batch_id == batch_id, IngestJob.state == PENDING)
            if after_seq is not None:
                query = query.where(IngestJob.seq > after_seq)
            query = query.order_by(IngestJob.seq).limit(limit)
            if self.db.dialect == "postgresql":
                query = query.with_for_update(skip_locked=True)
            jobs = list(s.execute(query).scalars())
            now = utcnow()
            for job in jobs:
                job.state = RUNNING
                job.worker = me
                job.claimed_at = now
                job.updated_at = now
                job.attempts += 1
                job.record_id = job.record_id or uuid.uuid4().hex
            return jobs

    def _heartbeat(self) -> None:
        with self.db.session() as s:
            s.execute(update(IngestJob).where(IngestJob.worker == worker_id(self._token),
                                              IngestJob.state == RUNNING).values(updated_at=utcnow()))

    # -- running --------------------------------------------------------------------

    def run(self, actor: Actor, batch_id: int, progress: Callable[[dict, int], None] | None = None,
            on_finish: Callable[[IngestJob, dict], None] | None = None) -> Summary:
        """Process every pending job of the batch; returns the batch's results in order.

        `on_finish(job, result)` and `progress(result, pages)` are called on this thread
        once per job finished by this run, after its outcome is committed."""
        self.system.records.require(actor, "record.ingest")
        self._actor_name = actor.name
        self._token = uuid.uuid4().hex[:8]
        started = time.monotonic()
        self.recover()
        with self.db.read() as s:
            batch = s.get(IngestBatch, batch_id)
            source = batch.source if batch is not None else ""
            pending = s.execute(select(func.count()).where(IngestJob.batch_id == batch_id,
                                                           IngestJob.state == PENDING)).scalar_one()
            finished_before = 0
            if source != "inbox" and batch_id not in self._created:
                finished_before = s.execute(select(func.count()).where(
                    IngestJob.batch_id == batch_id, IngestJob.state.in_(FINISHED))).scalar_one()
        done: list[int] = []
        pages_now = 0
        _ACTIVE_RUNS.add(self._token)
        try:
            while True:
                if pending:
                    runner = _Run(self, actor, batch_id, pending, progress, on_finish)
                    runner.execute()
                    done += runner.finished
                    pages_now += runner.pages
                # Another process sharing the batch may still be on some of its files: the
                # batch is finished (and its summary complete) only when they are too.
                if source == "inbox" or not self._running_elsewhere(batch_id):
                    break
                time.sleep(0.5)
                self.recover()
                pending = self._count(batch_id, PENDING)
        finally:
            _ACTIVE_RUNS.discard(self._token)
        # The inbox's batch lives for ever: report what this run did, not its whole history.
        summary = self.summary(batch_id, job_ids=done if source == "inbox" else None)
        summary.seconds = time.monotonic() - started
        summary.done_now = len(done)
        summary.pages_now = pages_now
        summary.done_before = finished_before
        if done:
            summary.index_error = self._sync_index()
        with self.db.session() as s:
            batch = s.get(IngestBatch, batch_id)
            if batch is not None and batch.source != "inbox" and batch.finished_at is None:
                batch.finished_at = utcnow()
            if done or source != "inbox":
                self.system.audit.append(s, actor.name, "ingest.finish", str(batch_id), "ok",
                                         {"ingested": summary.ingested, "duplicate": summary.duplicate,
                                          "rejected": summary.rejected, "queued": summary.queued,
                                          "this_run": len(done)})
        return summary

    def _count(self, batch_id: int, state: str) -> int:
        with self.db.read() as s:
            return s.execute(select(func.count()).where(IngestJob.batch_id == batch_id,
                                                        IngestJob.state == state)).scalar_one()

    def _running_elsewhere(self, batch_id: int) -> bool:
        return self._count(batch_id, RUNNING) > 0

    def _sync_index(self) -> str | None:
        """Best effort: new records become searchable now; if the index is down the outbox
        keeps the changes and `dangan search sync` (or the web app's drain) applies them."""
        try:
            self.system.search_service.sync()
        except DanganError as exc:  # down, or refusing Dangan's login: say which
            return f"检索索引暂未更新，稍后（或改正设置后）运行 dangan search sync：{exc}"
        except Exception as exc:  # an index outage must not fail the ingest
            return f"检索索引暂未更新（{type(exc).__name__}），稍后运行 dangan search sync"
        return None

    # -- the three steps (check and store run on custody threads) --------------------

    def _check(self, job: IngestJob) -> tuple[str, Any]:
        """("done", result) if the job is finished already (refused, duplicate), else
        ("analyse", sha256)."""
        if job.attempts > MAX_ATTEMPTS:
            return "done", self._finish(job, self._result(
                job.name, "rejected", error=f"该文件已尝试处理 {job.attempts - 1} 次均未完成（处理进程多次中止），"
                "已停止重试；请检查文件后重新提交。"))
        path = Path(job.path)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return "done", self._finish(job, self._result(job.name, "rejected",
                                                          error="文件不存在（可能已被移走或删除）"))
        except OSError as exc:
            return "done", self._finish(job, self._result(job.name, "rejected",
                                                          error=f"文件无法读取：{exc.strerror}"))
        problem = None
        if stat.S_ISLNK(st.st_mode):
            problem = "是符号链接，出于安全原因不予处理"
        elif not stat.S_ISREG(st.st_mode):
            problem = "不是普通文件"
        elif st.st_size == 0:
            problem = "文件为空（0 字节），没有可归档的内容"
        if problem is None:
            try:
                digest = sha256_file(path)
            except OSError as exc:
                problem = f"文件无法读取：{exc.strerror}"
        if problem is not None:
            return "done", self._finish(job, self._result(job.name, "rejected", error=problem))
        with self.db.read() as s:
            rec = s.execute(select(Record).where(Record.sha256 == digest)).scalar_one_or_none()
            if rec is not None:
                return "done", self._finish(job, self._duplicate(job, rec))
        return "analyse", digest

    def _duplicate(self, job: IngestJob, rec: Record, pages: int | None = None) -> dict:
        return self._result(job.name, "duplicate", archive_no=rec.archive_no or rec.provisional_no,
                            category=rec.category, location=rec.location, title=rec.title,
                            pages=rec.pages if pages is None else pages)

    def _store(self, actor: Actor, job: IngestJob, found: analysis_mod.Analysis, digest: str) -> dict:
        """Encrypt, store and commit the record with the job's final state; the result."""
        explicit = json.loads(job.explicit or "{}")
        try:
            data, conflicts = analysis_mod.resolve(explicit, found, job.name, self.system.scheme,
                                                   self.system.settings.classify_threshold)
            data.sha256 = digest  # the bytes stored must be the bytes checked and analysed
            holder: dict = {}

            def within(s: Session, created: CreateResult) -> None:
                result = self._result(
                    job.name, "ingested", archive_no=created.archive_no or created.provisional_no,
                    category=data.category, location=data.location, title=data.title,
                    pages=found.pages, queued=created.status == "queued",
                    reasons=(data.suggestion or {}).get("reasons") if created.status == "queued" else None,
                    provisional_no=created.provisional_no, conflicts=conflicts,
                    warnings=found.warnings, confidence=found.suggestion.get("confidence"),
                    low_confidence_pages=found.low_confidence_pages, sha256=digest)
                holder["result"] = result
                self._mark(s, job, result)

            created = self.system.records.create(actor, Path(job.path), data, record_id=job.record_id,
                                                 within=within)
        except DanganError as exc:
            if exc.http_status == 503:  # the object store is away or full: the job waits for a retry, not refused
                self._not_an_attempt(job)
                raise
            return self._finish(job, self._result(job.name, "rejected", error=str(exc)))
        if "result" in holder:
            return holder["result"]
        # Another file with the same bytes committed first (or since the check).
        with self.db.read() as s:
            rec = s.get(Record, created.record_id)
            if rec is not None:
                return self._finish(job, self._duplicate(job, rec, found.pages))
        return self._finish(job, self._result(job.name, "duplicate", archive_no=created.archive_no
                                              or created.provisional_no, pages=found.pages, title=data.title))

    def _not_an_attempt(self, job: IngestJob) -> None:
        """Give back the claim's attempt: MAX_ATTEMPTS counts runs that died on the file, and a
        store that is away or full for an hour of rounds must not get a good file refused."""
        with contextlib.suppress(DanganError, SQLAlchemyError), self.db.session() as s:
            s.execute(update(IngestJob).where(IngestJob.id == job.id, IngestJob.attempts > 0)
                      .values(attempts=IngestJob.attempts - 1))

    def _mark(self, s: Session, job: IngestJob, result: dict) -> None:
        state = {"ingested": "queued" if result.get("queued") else "done"}.get(result["status"], result["status"])
        s.execute(update(IngestJob).where(IngestJob.id == job.id).values(
            state=state, result=json.dumps(result, ensure_ascii=False, default=str),
            pages=result.get("pages") or 0, updated_at=utcnow()))

    def _finish(self, job: IngestJob, result: dict) -> dict:
        """Commit a job's outcome when no record is created (refused, duplicate)."""
        with self.db.session() as s:
            self._mark(s, job, result)
            if result["status"] == "rejected":
                self.system.audit.append(s, self._actor_name, "ingest.reject", job.name[:200],
                                         "failed", {"error": result.get("error")})
        return result

    @staticmethod
    def _result(name: str, status: str, **fields: object) -> dict:
        base: dict[str, object] = {"file": name, "status": status, "archive_no": None, "category": None, "location": None,
                "title": None, "pages": 0, "error": None}
        base.update({k: v for k, v in fields.items() if v is not None or k in base})
        return base

    def summary(self, batch_id: int, job_ids: Iterable[int] | None = None) -> Summary:
        """The batch's finished jobs in order (or only `job_ids`), counted."""
        out = Summary()
        wanted = set(job_ids) if job_ids is not None else None
        if wanted is not None and not wanted:
            return out
        with self.db.read() as s:
            rows = s.execute(select(IngestJob.id, IngestJob.state, IngestJob.result, IngestJob.pages)
                             .where(IngestJob.batch_id == batch_id).order_by(IngestJob.seq))
            for job_id, state, result_text, pages in rows:
                if state not in FINISHED or (wanted is not None and job_id not in wanted):
                    continue
                result = json.loads(result_text or "{}")
                out.results.append(result)
                status = result.get("status")
                if status == "ingested":
                    out.ingested += 1
                    out.queued += bool(result.get("queued"))
                    out.pages += pages or 0
                elif status == "duplicate":
                    out.duplicate += 1
                else:
                    out.rejected += 1
        return out

    # -- convenience used by the CLI ----------------------------------------------------

    def ingest(self, actor: Actor, items: Iterable[Item], source: str = "cli", key: str | None = None,
               progress: Callable[[dict, int], None] | None = None) -> Summary:
        batch_id = self.add_batch(actor, list(items), source, key)
        return self.run(actor, batch_id, progress=progress)


def _preloaded_forkserver() -> multiprocessing.context.BaseContext:
    """Workers fork from a server that has already imported the analysis code (~1.5 s of
    imports per worker otherwise, paid again for every pool the inbox starts)."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["__main__", "dangan.ingest.analyse"])
    # One thread per worker for every native pool nobody else limits: the forkserver imports
    # numpy (classifier, OCR pre-processing) and OpenBLAS otherwise starts a thread per core
    # in every worker — measured: 2 threads in each analysis process on 2 cores, 1 with the
    # limit — so two workers ran four compute threads on two cores (busy-waiting BLAS
    # threads cost CPU per page). The forkserver is a fresh interpreter: it reads these.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_THREAD_LIMIT"):
        os.environ.setdefault(var, "1")
    return ctx


def _start_forkserver() -> None:
    import multiprocessing.forkserver

    _preloaded_forkserver()
    with contextlib.suppress(Exception):  # the pool starts it anyway, and reports the error
        multiprocessing.forkserver.ensure_running()


class _Run:
    """One run over a batch: claims jobs and moves each through check → analyse → store."""

    def __init__(self, pipeline: IngestPipeline, actor: Actor, batch_id: int, pending: int,
                 progress: Callable | None, on_finish: Callable | None) -> None:
        self.p = pipeline
        self.actor = actor
        self.batch_id = batch_id
        self.progress = progress
        self.on_finish = on_finish
        self.workers = pipeline.workers
        # One file alone is analysed here (no pool to start); a retry always gets a pool,
        # so a file that crashes its process cannot take this one down again.
        self.use_pool = pending > 1 or self._any_retry()
        if self.use_pool:  # start the forkserver (and its imports) while the model loads
            threading.Thread(target=_start_forkserver, name="dangan-forkserver", daemon=True).start()
        self.context = analysis_mod.WorkerContext.build(pipeline.system)
        self.pool: cf.ProcessPoolExecutor | None = None
        if not self.use_pool:
            analysis_mod.init_worker(self.context)
        self.threads = cf.ThreadPoolExecutor(pipeline.threads, thread_name_prefix="dangan-ingest")
        self.futures: dict[cf.Future, tuple[str, IngestJob, str | None]] = {}
        self.queue: collections.deque[IngestJob] = collections.deque()
        self.retry: collections.deque[tuple[IngestJob, str]] = collections.deque()  # crashed: run alone
        self.suspects: set[int] = set()
        self.timed_out: set[int] = set()
        self.started_at: dict[cf.Future, float] = {}  # analyses seen running, since when
        self.analysing = 0
        self.busy_digests: set[str] = set()
        self.parked: dict[str, list[IngestJob]] = {}  # same bytes as a file in flight: wait for it
        self.check_order: collections.deque[int] = collections.deque()
        self.checked: dict[int, tuple[IngestJob, tuple[str, Any]]] = {}
        self.last_seq: int | None = -1
        self.exhausted = False
        self.finished: list[int] = []
        self.pages = 0
        self.beat = time.monotonic()

    def _any_retry(self) -> bool:
        with self.p.db.read() as s:
            return bool(s.execute(select(func.count()).where(IngestJob.batch_id == self.batch_id,
                                                             IngestJob.state == PENDING,
                                                             IngestJob.attempts > 0)).scalar_one())

    # -- the loop ----------------------------------------------------------------------

    def execute(self) -> None:
        try:
            while True:
                self._fill()
                if not self.futures:
                    if self.queue or self.retry or not self.exhausted:
                        continue
                    break
                done, _ = cf.wait(list(self.futures), timeout=self._wait_time(),
                                  return_when=cf.FIRST_COMPLETED)
                self._stop_overdue()
                if time.monotonic() - self.beat >= HEARTBEAT_SECONDS:
                    self.p._heartbeat()
                    self.beat = time.monotonic()
                for fut in done:
                    self._handle(fut)
        finally:
            self.threads.shutdown(wait=True, cancel_futures=True)
            if self.pool is not None:
                self.pool.shutdown(wait=True, cancel_futures=True)

    def _wait_time(self) -> float:
        if not self.analysing or self.pool is None:
            return HEARTBEAT_SECONDS
        return max(0.05, min(1.0, self.p.analysis_timeout / 4))

    def _stop_overdue(self) -> None:
        """Kill the pool's processes if an analysis has been running too long; the files in
        flight then fail like a crash: retried alone, refused if they fail alone."""
        if self.pool is None or not self.analysing:
            return
        now = time.monotonic()
        overdue = []
        for fut, (kind, job, _) in self.futures.items():
            if kind != "analyse" or fut.done() or not fut.running():
                continue
            started = self.started_at.setdefault(fut, now)
            if now - started > self.p.analysis_timeout:
                overdue.append(job)
        if not overdue:
            return
        self.timed_out.update(job.id for job in overdue)
        for process in list(getattr(self.pool, "_processes", {}).values()):
            with contextlib.suppress(Exception):
                process.kill()

    def _fill(self) -> None:
        """Start work up to the limits: analyses ≤ 2 per worker, jobs in flight ≤ that plus
        two per custody thread. Crashed files are retried alone before anything new."""
        if self.retry or self._suspect_running():
            if self.retry and self.analysing == 0:
                crashed, digest = self.retry.popleft()
                self._submit_analysis(crashed, digest)
            return
        limit = 2 * self.workers + 2 * self.p.threads
        while len(self.futures) < limit and self.analysing + self._checking() < 2 * self.workers:
            job = self._next_job()
            if job is None:
                return
            self._submit_check(job)

    def _submit_check(self, job: IngestJob) -> None:
        self.futures[self.threads.submit(self.p._check, job)] = ("check", job, None)
        self.check_order.append(job.id)

    def _suspect_running(self) -> bool:
        return any(kind == "analyse" and job.id in self.suspects for kind, job, _ in self.futures.values())

    def _checking(self) -> int:
        return sum(1 for kind, _, _ in self.futures.values() if kind == "check")

    def _next_job(self) -> IngestJob | None:
        if not self.queue and not self.exhausted:
            jobs = self.p._claim(self.batch_id, CLAIM_CHUNK, self.last_seq)
            if not jobs and self.last_seq is not None:
                self.last_seq = None  # once more from the start: jobs reset since we passed them
                jobs = self.p._claim(self.batch_id, CLAIM_CHUNK, None)
            if not jobs:
                self.exhausted = True
            else:
                if self.last_seq is not None:
                    self.last_seq = jobs[-1].seq
                self.queue.extend(jobs)
        return self.queue.popleft() if self.queue else None

    def _submit_analysis(self, job: IngestJob, digest: str) -> None:
        explicit = json.loads(job.explicit or "{}")
        if self.use_pool:
            if self.pool is None or getattr(self.pool, "_broken", False):
                if self.pool is not None:
                    self.pool.shutdown(wait=False, cancel_futures=True)
                self.pool = cf.ProcessPoolExecutor(max_workers=self.workers, mp_context=_preloaded_forkserver(),
                                                   initializer=analysis_mod.init_worker,
                                                   initargs=(self.context, (os.getpid(), _start_ticks(os.getpid()))))
            fut = self.pool.submit(self.p.analyse, job.path, explicit)
        else:
            fut = self.threads.submit(self.p.analyse, job.path, explicit)
        self.futures[fut] = ("analyse", job, digest)
        self.analysing += 1

    # -- outcomes ----------------------------------------------------------------------

    def _handle(self, fut: cf.Future) -> None:
        kind, job, digest = self.futures.pop(fut)
        if kind == "check":
            # Checks finish in any order but are acted on in the order they were started,
            # so of two files with the same bytes the earlier one is analysed and the later
            # one reported as its duplicate, whatever the threads' timing.
            self.checked[job.id] = (job, fut.result())  # errors other than the file's are the system's
            while self.check_order and self.check_order[0] in self.checked:
                ready, (what, value) = self.checked.pop(self.check_order.popleft())
                if what == "done":
                    self._done(ready, value)
                elif value in self.busy_digests:
                    self.parked.setdefault(value, []).append(ready)
                else:
                    self.busy_digests.add(value)
                    self._submit_analysis(ready, value)
        elif kind == "analyse":
            self.analysing -= 1
            self._analysed(fut, job, digest or "")
        else:
            self._done(job, fut.result())
            self._release(digest or "")

    def _analysed(self, fut: cf.Future, job: IngestJob, digest: str) -> None:
        p = self.p
        self.started_at.pop(fut, None)
        try:
            found = fut.result()
        except BrokenProcessPool:
            if job.id in self.suspects:
                error = CRASH_MESSAGE if job.id not in self.timed_out else (
                    f"处理该文件超过 {self.p.analysis_timeout:.0f} 秒仍未完成，单独重试后仍然超时，已拒收。")
                self._after_thread(job, digest, p._finish, job, p._result(job.name, "rejected", error=error))
            else:
                self.suspects.add(job.id)
                self.retry.append((job, digest))
            return
        except DanganError as exc:
            self._after_thread(job, digest, p._finish, job, p._result(job.name, "rejected", error=str(exc)))
            return
        except Exception as exc:  # a decoder's own error on a hostile file: refuse the file, go on
            self._after_thread(job, digest, p._finish, job, p._result(
                job.name, "rejected", error=f"处理失败（{type(exc).__name__}），请检查文件是否完好"))
            return
        self.suspects.discard(job.id)
        self._after_thread(job, digest, p._store, self.actor, job, found, digest)

    def _after_thread(self, job: IngestJob, digest: str, fn: Callable, *args: Any) -> None:
        self.futures[self.threads.submit(fn, *args)] = ("store", job, digest)

    def _release(self, digest: str) -> None:
        """A file's bytes are settled: files with the same bytes waiting for it go on (and
        are found to be duplicates, or analysed if the first was refused)."""
        self.busy_digests.discard(digest)
        for job in self.parked.pop(digest, []):
            self._submit_check(job)

    def _done(self, job: IngestJob, result: dict) -> None:
        self.finished.append(job.id)
        pages = int(result.get("pages") or 0) if result.get("status") == "ingested" else 0
        self.pages += pages
        if self.on_finish:
            self.on_finish(job, result)
        if self.progress:
            self.progress(result, pages)


def workdir() -> Path:
    """A private scratch folder for unpacked ZIP members, removed when the process exits."""
    path = Path(tempfile.mkdtemp(prefix="dangan-ingest-"))
    atexit.register(shutil.rmtree, path, True)
    return path
