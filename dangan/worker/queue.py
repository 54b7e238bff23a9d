"""Work handed to the workers: files uploaded through the web app are spooled into the
data directory and queued as a batch; no OCR runs in the request.

The spool (``<data>/spool/<batch>/``, 0700) must be on storage the workers can read (the
shared data volume in docker-compose.yml). A spooled file is removed once its job has
finished; the job's result stays in the database.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import func, select

from dangan.archive.permissions import Actor
from dangan.errors import InvalidInput, NotFound, PermissionDenied
from dangan.ingest.models import FINISHED, PENDING, RUNNING, IngestBatch, IngestJob
from dangan.ingest.pipeline import IngestPipeline
from dangan.ingest.sources import Item, display_name

MAX_FILES = 500
_UNSAFE = re.compile(r"[^\w.\-]+")


def spool_dir(system) -> Path:  # type: ignore[no-untyped-def]
    path = system.settings.home / "spool"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def queue_uploads(system, actor: Actor, files: Iterable[tuple[str, BinaryIO]],  # type: ignore[no-untyped-def]
                  explicit: dict | None = None) -> dict:
    """Spool the uploaded files and queue them as one batch; {"batch_id", "files"}."""
    system.records.require(actor, "record.ingest")
    given = {k: v for k, v in (explicit or {}).items() if v}
    folder = spool_dir(system) / secrets.token_hex(8)
    folder.mkdir(mode=0o700)
    items: list[Item] = []
    try:
        for n, (name, stream) in enumerate(files):
            if n >= MAX_FILES:
                raise InvalidInput(f"一次最多上传 {MAX_FILES} 个文件：请分批上传")
            shown = display_name(os.path.basename(name or "") or f"file{n}")
            path = folder / f"{n:04d}-{_UNSAFE.sub('_', shown)[-120:]}"
            with open(path, "xb") as out:
                while chunk := stream.read(1 << 20):
                    out.write(chunk)
            items.append(Item(path, shown, dict(given)))
        if not items:
            raise InvalidInput("没有收到文件：请选择要上传的文件")
        batch_id = IngestPipeline(system).add_batch(actor, items, "queue")
    except BaseException:
        for p in folder.iterdir():
            p.unlink(missing_ok=True)
        folder.rmdir()
        raise
    return {"batch_id": batch_id, "files": len(items)}


def batch_status(system, actor: Actor, batch_id: int) -> dict:  # type: ignore[no-untyped-def]
    """Progress and results of a queued batch (its maker, or anyone who may review)."""
    with system.db.read() as s:
        batch = s.get(IngestBatch, batch_id)
        if batch is None:
            raise NotFound(f"批次 {batch_id} 不存在")
        if batch.created_by != actor.name and not actor.can("review"):
            raise PermissionDenied(f"批次 {batch_id} 不是你提交的")
        counts = dict(s.execute(select(IngestJob.state, func.count()).where(IngestJob.batch_id == batch_id)
                                .group_by(IngestJob.state)).all())
    summary = IngestPipeline(system).summary(batch_id)
    total = sum(counts.values())
    finished = sum(v for k, v in counts.items() if k in FINISHED)
    return {"batch_id": batch_id, "created_by": batch.created_by, "total": total, "finished": finished,
            "pending": counts.get(PENDING, 0), "running": counts.get(RUNNING, 0),
            "done": finished == total, "ingested": summary.ingested, "duplicate": summary.duplicate,
            "rejected": summary.rejected, "queued": summary.queued, "results": summary.results}


def sweep_spool(system) -> int:  # type: ignore[no-untyped-def]
    """Remove spooled files whose jobs have finished; returns how many."""
    root = system.settings.home / "spool"
    if not root.is_dir():
        return 0
    with system.db.read() as s:
        done = set(s.execute(select(IngestJob.path).where(IngestJob.state.in_(FINISHED),
                                                          IngestJob.path.like(f"{root}%"))).scalars())
    removed = 0
    for path in done:
        p = Path(path)
        if p.exists():
            p.unlink()
            removed += 1
            if p.parent != root and not any(p.parent.iterdir()):
                p.parent.rmdir()
    return removed
