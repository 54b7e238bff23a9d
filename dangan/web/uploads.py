"""采集 from the browser: uploaded files become an ingest batch like `dangan ingest`'s.

The files are saved under the data directory's private `uploads/` folder with names of
our own (the user's file name is only a label), the batch and its jobs are committed,
and `hand_off` runs it. Today that is a background thread in the web process; a
`dangan worker` can take the same batch instead, since the jobs live in the database.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import threading
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from sqlalchemy import func, select

from dangan.archive.codes import parse_location
from dangan.archive.models import utcnow
from dangan.archive.permissions import Actor
from dangan.errors import InvalidInput, NotFound
from dangan.ingest.models import FINISHED, IngestBatch, IngestJob
from dangan.ingest.pipeline import IngestPipeline, Summary
from dangan.ingest.sources import Item, display_name, expand_zip, is_zip

if TYPE_CHECKING:
    from dangan.system import Dangan

MAX_FILES = 500
EXPLICIT_KEYS = ("category", "location", "title", "date", "security")


def explicit_from(form: Mapping[str, str]) -> dict:
    """The same options as `dangan ingest`: only what was given."""
    out = {k: (form.get(k) or "").strip() for k in EXPLICIT_KEYS}
    return {k: v for k, v in out.items() if v}


def validate_explicit(system: Dangan, explicit: dict) -> None:
    scheme = system.scheme
    if "category" in explicit:
        scheme.category(explicit["category"])
    if "location" in explicit:
        parse_location(explicit["location"], scheme.codes)
    if "security" in explicit:
        scheme.security(explicit["security"])
    if "date" in explicit:
        try:
            dt.date.fromisoformat(explicit["date"])
        except ValueError:
            raise InvalidInput(f"日期 {explicit['date']!r} 无效：应为 YYYY-MM-DD。") from None


def upload(system: Dangan, actor: Actor, files: Iterable[tuple[str, BinaryIO]], explicit: dict) -> int:
    """Save the files, create the batch (refused whole if the options are wrong), hand it off."""
    batch_id, folder = _save(system, actor, files, explicit)
    hand_off(system, actor, batch_id, folder)
    return batch_id


def ingest_now(system: Dangan, actor: Actor, files: Iterable[tuple[str, BinaryIO]], explicit: dict) -> tuple[int, Summary]:
    """The same, run to the end before answering (the API's single-record upload)."""
    batch_id, folder = _save(system, actor, files, explicit)
    try:
        return batch_id, IngestPipeline(system, workers=1).run(actor, batch_id)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _save(system: Dangan, actor: Actor, files: Iterable[tuple[str, BinaryIO]], explicit: dict) -> tuple[int, Path]:
    system.records.require(actor, "record.ingest")
    validate_explicit(system, explicit)
    files = list(files)
    if not files:
        raise InvalidInput("请选择至少一个文件。")
    if len(files) > MAX_FILES:
        raise InvalidInput(f"一次最多上传 {MAX_FILES} 个文件。")
    root = system.settings.home / "uploads"
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder = root / uuid.uuid4().hex
    folder.mkdir(mode=0o700)
    items: list[Item] = []
    try:
        for n, (name, stream) in enumerate(files):
            label = display_name((name or f"file-{n + 1}").replace("\\", "/").rsplit("/", 1)[-1]) or f"file-{n + 1}"
            target = folder / f"{n:05d}.upload"
            with open(target, "wb") as out:
                shutil.copyfileobj(stream, out, 1024 * 1024)
            if target.stat().st_size == 0:
                items.append(Item(None, label, explicit, "文件为空"))
            elif is_zip(target):
                unpack = folder / f"{n:05d}.zip.d"
                unpack.mkdir()
                items.extend(expand_zip(target, label, explicit, unpack))
            else:
                items.append(Item(target, label, explicit))
        pipeline = IngestPipeline(system)
        batch_id = pipeline.add_batch(actor, items, "web")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return batch_id, folder


def hand_off(system: Dangan, actor: Actor, batch_id: int, folder: Path | None = None) -> threading.Thread:
    """Run the batch in the background; the uploaded files are removed when it is done."""

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
