"""The ingest pipeline: persisted jobs, a process pool for text and OCR, and the records
service for custody.

Each input file becomes one job row. Workers claim pending jobs through the database, so
several `dangan` processes can share a batch; the analysis (type, checks, text, OCR,
classification, coding, personal data) runs in a process pool sized to the cores; the
main process encrypts and stores, and commits the record together with the job's
final state. After a `kill -9`, running the same command again resets jobs whose worker
died, removes any object their unfinished record left behind, and carries on: every
file is finished exactly once.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import hashlib
import json
import multiprocessing
import os
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from dangan.archive.models import Record, utcnow
from dangan.archive.permissions import Actor
from dangan.archive.records import CreateResult, object_key
from dangan.errors import DanganError
from dangan.ingest import analyse as analysis_mod
from dangan.ingest.models import FINISHED, PENDING, RUNNING, IngestBatch, IngestJob
from dangan.ingest.sources import Item

STALE_AFTER = dt.timedelta(hours=2)
CLAIM_CHUNK = 8


_ACTIVE_RUNS: set[str] = set()  # run tokens of this process that are still working


def worker_id(token: str) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{token}"


def _alive(worker: str | None) -> bool:
    """Is the run that claimed a job still working? Decidable on this host only."""
    if not worker:
        return False
    host, pid, token = [*worker.split(":"), "", ""][:3]
    if host != socket.gethostname():
        return True  # another machine's worker: only the age rule applies
    if pid == str(os.getpid()):
        return token in _ACTIVE_RUNS
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError):
        return False
    except PermissionError:
        return True
    return True


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
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

    def line(self) -> str:
        rate = self.pages / self.seconds if self.seconds else 0.0
        return (f"入库 {self.ingested} 件（其中待分类 {self.queued} 件），重复 {self.duplicate} 件，"
                f"拒收 {self.rejected} 件；共 {self.pages} 页，用时 {self.seconds:.1f} 秒（{rate:.1f} 页/秒）")


class IngestPipeline:
    """Turns items into records; the CLI, the inbox and (later) the web upload call it."""

    def __init__(self, system, workers: int | None = None) -> None:  # type: ignore[no-untyped-def]
        self.system = system
        self.db = system.db
        configured = workers if workers is not None else system.settings.ingest_workers
        self.workers = configured or (os.cpu_count() or 1)
        self._token = uuid.uuid4().hex[:8]
        self._actor_name = "system"

    # -- batches --------------------------------------------------------------------

    def add_batch(self, actor: Actor, items: list[Item], source: str, key: str | None = None) -> int:
        """One transaction: the batch and all its jobs, or nothing. A known key resumes."""
        self.system.records.require(actor, "record.ingest")
        with self.db.session() as s:
            if key:
                existing = s.execute(select(IngestBatch).where(IngestBatch.key == key)).scalar_one_or_none()
                if existing is not None:
                    return existing.id
            batch = IngestBatch(source=source, key=key, created_by=actor.name)
            s.add(batch)
            s.flush()
            for seq, item in enumerate(items):
                job = IngestJob(batch_id=batch.id, seq=seq, path=str(item.path or ""), name=item.name,
                                explicit=json.dumps(item.explicit, ensure_ascii=False),
                                state=PENDING, attempts=0, pages=0)
                if item.error:
                    job.state = "rejected"
                    job.result = json.dumps(self._result(item.name, "rejected", error=item.error),
                                            ensure_ascii=False)
                s.add(job)
            self.system.audit.append(s, actor.name, "ingest.batch", str(batch.id), "ok",
                                     {"source": source, "files": len(items)})
            return batch.id

    def add_items(self, batch_id: int, items: list[Item]) -> list[int]:
        """Append jobs to an open batch (the inbox adds files as they arrive)."""
        with self.db.session() as s:
            start = s.execute(select(func.coalesce(func.max(IngestJob.seq), -1))
                              .where(IngestJob.batch_id == batch_id)).scalar_one() + 1
            jobs = [IngestJob(batch_id=batch_id, seq=start + n, path=str(i.path or ""), name=i.name,
                              explicit=json.dumps(i.explicit, ensure_ascii=False), state=PENDING,
                              attempts=0, pages=0) for n, i in enumerate(items)]
            s.add_all(jobs)
            s.flush()
            return [j.id for j in jobs]

    def recover(self) -> int:
        """Reset jobs whose worker died; remove objects of records that never committed."""
        now = utcnow()
        reset = 0
        with self.db.session() as s:
            rows = list(s.execute(select(IngestJob).where(IngestJob.state == RUNNING)).scalars())
            for job in rows:
                stale = job.claimed_at is None or now - job.claimed_at > STALE_AFTER
                if _alive(job.worker) and not stale:
                    continue
                if job.record_id and s.get(Record, job.record_id) is None:
                    for kind in ("original", "text"):
                        self.system.store.delete(object_key(job.record_id, kind))
                    job.record_id = None
                job.state = PENDING
                job.worker = None
                reset += 1
        return reset

    def _claim(self, batch_id: int, limit: int) -> list[IngestJob]:
        me = worker_id(self._token)
        with self.db.session() as s:
            query = (select(IngestJob).where(IngestJob.batch_id == batch_id, IngestJob.state == PENDING)
                     .order_by(IngestJob.seq).limit(limit))
            if self.db.dialect == "postgresql":
                query = query.with_for_update(skip_locked=True)
            jobs = list(s.execute(query).scalars())
            for job in jobs:
                job.state = RUNNING
                job.worker = me
                job.claimed_at = utcnow()
                job.attempts += 1
                job.record_id = job.record_id or uuid.uuid4().hex
            return jobs

    # -- running --------------------------------------------------------------------

    def run(self, actor: Actor, batch_id: int, progress: Callable[[dict, int], None] | None = None,
            on_finish: Callable[[IngestJob, dict], None] | None = None) -> Summary:
        """Process every pending job of the batch; returns the batch's results in order."""
        self.system.records.require(actor, "record.ingest")
        self._actor_name = actor.name
        started = time.monotonic()
        self.recover()
        _ACTIVE_RUNS.add(self._token)
        context = analysis_mod.WorkerContext.build(self.system)
        pool: cf.ProcessPoolExecutor | None = None
        with self.db.session() as s:
            pending = s.execute(select(func.count()).where(IngestJob.batch_id == batch_id,
                                                           IngestJob.state == PENDING)).scalar_one()
        if pending > 1 and self.workers >= 1:
            pool = cf.ProcessPoolExecutor(max_workers=self.workers,
                                          mp_context=multiprocessing.get_context("forkserver"),
                                          initializer=analysis_mod.init_worker, initargs=(context,))
        else:
            analysis_mod.init_worker(context)
        in_flight: dict[cf.Future, IngestJob] = {}
        try:
            while True:
                room = max(0, 2 * self.workers - len(in_flight))
                jobs = self._claim(batch_id, min(room, CLAIM_CHUNK)) if room else []
                for job in jobs:
                    early = self._before_analysis(actor, job)
                    if early is not None:
                        self._finish(job, early, on_finish, progress)
                        continue
                    explicit = json.loads(job.explicit or "{}")
                    if pool is None:
                        fut: cf.Future = cf.Future()
                        try:
                            fut.set_result(analysis_mod.analyse(job.path, explicit))
                        except BaseException as exc:  # handed to _after_analysis like a pool error
                            fut.set_exception(exc)
                    else:
                        fut = pool.submit(analysis_mod.analyse, job.path, explicit)
                    in_flight[fut] = job
                if not in_flight:
                    if not jobs:
                        break
                    continue
                done, _ = cf.wait(list(in_flight), return_when=cf.FIRST_COMPLETED)
                for fut in done:
                    job = in_flight.pop(fut)
                    self._after_analysis(actor, job, fut, on_finish, progress)
        finally:
            _ACTIVE_RUNS.discard(self._token)
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        summary = self.summary(batch_id)
        summary.seconds = time.monotonic() - started
        summary.index_error = self._sync_index()
        with self.db.session() as s:
            batch = s.get(IngestBatch, batch_id)
            if batch is not None and batch.source != "inbox":
                batch.finished_at = utcnow()
            self.system.audit.append(s, actor.name, "ingest.finish", str(batch_id), "ok",
                                     {"ingested": summary.ingested, "duplicate": summary.duplicate,
                                      "rejected": summary.rejected, "queued": summary.queued})
        return summary

    def _sync_index(self) -> str | None:
        """Best effort: new records become searchable now; if the index is down the outbox
        keeps the changes and `dangan search sync` (or the web app's drain) applies them."""
        try:
            self.system.search_service.sync()
        except Exception as exc:  # an index outage must not fail the ingest
            return f"检索索引暂未更新（{type(exc).__name__}），稍后运行 dangan search sync"
        return None

    def _before_analysis(self, actor: Actor, job: IngestJob) -> dict | None:
        """Cheap checks first: the file is there, and is not a duplicate (no OCR wasted)."""
        path = Path(job.path)
        try:
            size = path.stat().st_size
        except OSError:
            return self._result(job.name, "rejected", error="文件不存在或无法读取")
        if size == 0:
            return self._result(job.name, "rejected", error="文件为空（0 字节）")
        digest = sha256_file(path)
        with self.db.read() as s:
            rec = s.execute(select(Record).where(Record.sha256 == digest)).scalar_one_or_none()
            if rec is not None:
                return self._result(job.name, "duplicate", archive_no=rec.archive_no or rec.provisional_no,
                                    category=rec.category, location=rec.location, title=rec.title,
                                    pages=rec.pages)
        return None

    def _after_analysis(self, actor: Actor, job: IngestJob, fut: cf.Future,
                        on_finish: Callable | None, progress: Callable | None) -> None:
        try:
            found: analysis_mod.Analysis = fut.result()
        except DanganError as exc:
            self._finish(job, self._result(job.name, "rejected", error=str(exc)), on_finish, progress)
            return
        except cf.process.BrokenProcessPool:
            raise
        except Exception as exc:
            self._finish(job, self._result(job.name, "rejected",
                                           error=f"处理失败（{type(exc).__name__}），请检查文件"),
                         on_finish, progress)
            return
        explicit = json.loads(job.explicit or "{}")
        try:
            data, conflicts = analysis_mod.resolve(explicit, found, job.name, self.system.scheme,
                                                   self.system.settings.classify_threshold)
            holder: dict = {}

            def within(s: Session, created: CreateResult) -> None:
                result = self._result(
                    job.name, "ingested", archive_no=created.archive_no or created.provisional_no,
                    category=data.category, location=data.location, title=data.title,
                    pages=found.pages, queued=created.status == "queued",
                    provisional_no=created.provisional_no, conflicts=conflicts,
                    warnings=found.warnings, confidence=found.suggestion.get("confidence"),
                    low_confidence_pages=found.low_confidence_pages)
                holder["result"] = result
                self._mark(s, job, result)

            created = self.system.records.create(actor, Path(job.path), data, record_id=job.record_id,
                                                 within=within)
            if created.status == "duplicate":
                result = self._result(job.name, "duplicate", archive_no=created.archive_no or created.provisional_no,
                                      pages=found.pages, title=data.title)
                self._finish(job, result, on_finish, progress)
                return
            job.pages = found.pages
            if on_finish:
                on_finish(job, holder["result"])
            if progress:
                progress(holder["result"], found.pages)
        except DanganError as exc:
            self._finish(job, self._result(job.name, "rejected", error=str(exc)), on_finish, progress)

    def _mark(self, s: Session, job: IngestJob, result: dict) -> None:
        state = {"ingested": "queued" if result.get("queued") else "done"}.get(result["status"], result["status"])
        s.execute(update(IngestJob).where(IngestJob.id == job.id).values(
            state=state, result=json.dumps(result, ensure_ascii=False, default=str),
            pages=result.get("pages") or 0, updated_at=utcnow()))

    def _finish(self, job: IngestJob, result: dict, on_finish: Callable | None,
                progress: Callable | None) -> None:
        with self.db.session() as s:
            self._mark(s, job, result)
            if result["status"] == "rejected":
                self.system.audit.append(s, self._actor_name, "ingest.reject", job.name[:200],
                                         "failed", {"error": result.get("error")})
        if on_finish:
            on_finish(job, result)
        if progress:
            progress(result, result.get("pages") or 0)

    @staticmethod
    def _result(name: str, status: str, **fields: object) -> dict:
        base = {"file": name, "status": status, "archive_no": None, "category": None, "location": None,
                "title": None, "pages": 0, "error": None}
        base.update({k: v for k, v in fields.items() if v is not None or k in base})
        return base

    def summary(self, batch_id: int) -> Summary:
        out = Summary()
        with self.db.read() as s:
            for job in s.execute(select(IngestJob).where(IngestJob.batch_id == batch_id)
                                 .order_by(IngestJob.seq)).scalars():
                if job.state not in FINISHED:
                    continue
                result = json.loads(job.result or "{}")
                out.results.append(result)
                status = result.get("status")
                if status == "ingested":
                    out.ingested += 1
                    out.queued += bool(result.get("queued"))
                elif status == "duplicate":
                    out.duplicate += 1
                else:
                    out.rejected += 1
                out.pages += job.pages or 0
        return out

    # -- convenience used by the CLI ----------------------------------------------------

    def ingest(self, actor: Actor, items: Iterable[Item], source: str = "cli", key: str | None = None,
               progress: Callable[[dict, int], None] | None = None) -> Summary:
        batch_id = self.add_batch(actor, list(items), source, key)
        return self.run(actor, batch_id, progress=progress)


def workdir() -> Path:
    """A private scratch folder for unpacked ZIP members."""
    return Path(tempfile.mkdtemp(prefix="dangan-ingest-"))
