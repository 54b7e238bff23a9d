"""采集 from the browser: uploaded files become an ingest batch like `dangan ingest`'s.

The files are spooled and the batch committed by `dangan.worker.queue.queue_uploads`
(the one way uploads become a batch, shared with the workers' queue); `hand_off` then
runs it in a background thread of the web process or leaves it to `dangan worker`
processes, as `[web] hand_off` says.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING

from sqlalchemy import func, select

from dangan.archive.models import utcnow
from dangan.archive.permissions import Actor
from dangan.errors import NotFound
from dangan.ingest.models import FINISHED, IngestBatch, IngestJob
from dangan.ingest.pipeline import IngestPipeline, Summary
from dangan.worker.queue import EXPLICIT_KEYS, MAX_FILES, explicit_from, queue_uploads, validate_explicit

if TYPE_CHECKING:
    from dangan.system import Dangan

__all__ = ["EXPLICIT_KEYS", "MAX_FILES", "batches", "explicit_from", "hand_off", "ingest_now", "status",
           "upload", "validate_explicit"]


def upload(system: Dangan, actor: Actor, files: Iterable[tuple[str, IO[bytes]]], explicit: dict) -> int:
    """Spool the files as a batch (refused whole if the options are wrong), hand it off."""
    queued = queue_uploads(system, actor, files, explicit, source="web")
    hand_off(system, actor, queued["batch_id"], queued["folder"])
    return queued["batch_id"]


def ingest_now(system: Dangan, actor: Actor, files: Iterable[tuple[str, IO[bytes]]], explicit: dict) -> tuple[int, Summary]:
    """The same, run to the end before answering (the API's single-record upload)."""
    queued = queue_uploads(system, actor, files, explicit, source="web")
    try:
        return queued["batch_id"], IngestPipeline(system, workers=1).run(actor, queued["batch_id"])
    finally:
        shutil.rmtree(queued["folder"], ignore_errors=True)


def hand_off(system: Dangan, actor: Actor, batch_id: int, folder: Path | None = None) -> threading.Thread | None:
    """Who works the batch, by `[web] hand_off` (DANGAN_WEB_HAND_OFF): "queue" leaves it to
    the `dangan worker` processes (they remove the spooled files as jobs finish); "thread"
    (the default, so the web app works with no worker) runs it in a background thread and
    removes the files when it is done. Either way the jobs are in the database, so a
    worker also finishes a threaded batch the web process did not live to end."""
    if system.settings.web_hand_off == "queue":
        return None

    def work() -> None:
        try:
            IngestPipeline(system).run(actor, batch_id)
        finally:
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)

    thread = threading.Thread(target=work, name=f"dangan-upload-{batch_id}", daemon=True)
    thread.start()
    return thread


def status(system: Dangan, actor: Actor, batch_id: int) -> dict:
    """The batch's jobs and progress; only its creator may see it (others get 'not found')."""
    system.records.require(actor, "record.ingest")
    with system.db.read() as s:
        batch = s.get(IngestBatch, batch_id)
        if batch is None or batch.created_by != actor.name:
            raise NotFound(f"采集批次 {batch_id} 不存在。")
        jobs = list(s.execute(select(IngestJob).where(IngestJob.batch_id == batch_id)
                              .order_by(IngestJob.seq)).scalars())
        last = s.execute(select(func.max(IngestJob.updated_at)).where(IngestJob.batch_id == batch_id)).scalar()
    out_jobs = []
    counts = {"pending": 0, "running": 0, "ingested": 0, "queued": 0, "duplicate": 0, "rejected": 0}
    pages = 0
    for j in jobs:
        result = json.loads(j.result) if j.result else None
        if j.state in FINISHED:
            status_ = (result or {}).get("status", j.state)
            if status_ == "ingested" and (result or {}).get("queued"):
                status_ = "queued"
            pages += j.pages or 0
        else:
            status_ = j.state
        counts[status_] = counts.get(status_, 0) + 1
        out_jobs.append({"id": j.id, "file": j.name, "state": j.state, "status": status_,
                         "archive_no": (result or {}).get("archive_no"), "title": (result or {}).get("title"),
                         "category": (result or {}).get("category"), "location": (result or {}).get("location"),
                         "pages": j.pages or 0, "error": (result or {}).get("error")})
    done = sum(1 for j in jobs if j.state in FINISHED)
    end = batch.finished_at or utcnow()
    seconds = max(0.001, (end - batch.created_at).total_seconds())
    rate_files = done / seconds
    remaining = len(jobs) - done
    eta = round(remaining / rate_files) if rate_files > 0 and remaining else (0 if not remaining else None)
    return {"batch_id": batch.id, "source": batch.source, "created_by": batch.created_by,
            "created_at": batch.created_at.isoformat(timespec="seconds"),
            "finished": batch.finished_at is not None or remaining == 0,
            "total": len(jobs), "done": done, "counts": counts, "pages": pages,
            "pages_per_second": round(pages / seconds, 2), "eta_seconds": eta,
            "updated_at": last.isoformat(timespec="seconds") if last else None, "jobs": out_jobs}


def batches(system: Dangan, actor: Actor, limit: int = 20) -> list[dict]:
    system.records.require(actor, "record.ingest")
    with system.db.read() as s:
        rows = s.execute(select(IngestBatch.id, IngestBatch.source, IngestBatch.created_at,
                                IngestBatch.finished_at, func.count(IngestJob.id))
                         .join(IngestJob, IngestJob.batch_id == IngestBatch.id, isouter=True)
                         .where(IngestBatch.created_by == actor.name)
                         .group_by(IngestBatch.id, IngestBatch.source, IngestBatch.created_at,
                                   IngestBatch.finished_at)
                         .order_by(IngestBatch.id.desc()).limit(limit)).all()
    return [{"batch_id": i, "source": src, "created_at": at.isoformat(timespec="seconds"),
             "finished": fin is not None, "files": n} for i, src, at, fin, n in rows]
