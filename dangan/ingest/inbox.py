"""The scanner inbox: files dropped in a folder are ingested and moved to done/ or
rejected/ (with a .reason.txt). One long-lived batch per folder remembers every claimed
file, so a restart after a crash finishes what was claimed and moves it exactly once."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from dangan.archive.permissions import Actor
from dangan.ingest.models import FINISHED, IngestJob
from dangan.ingest.pipeline import IngestPipeline
from dangan.ingest.sources import Inbox, Item


def watch(system, actor: Actor, root: Path, once: bool = False, interval: float = 5.0,  # type: ignore[no-untyped-def]
          settle: float = 2.0, echo: Callable[[str], None] | None = None,
          rounds: int | None = None) -> list[dict]:
    """Ingest what arrives in `root` until interrupted (or once, or for `rounds` scans)."""
    box = Inbox(root, settle=settle)
    pipeline = IngestPipeline(system)
    batch_id = pipeline.add_batch(actor, [], "inbox", key=f"inbox:{root.resolve()}")
    results: list[dict] = []

    def moved(job: IngestJob, result: dict) -> None:
        path = Path(job.path)
        if not path.exists():
            return
        ok = result["status"] in ("ingested", "duplicate")
        reason = result.get("error") if not ok else None
        target = box.finish(path, ok, reason)
        result = dict(result, file=Inbox.original_name(path), moved_to=str(target.relative_to(box.root)))
        results.append(result)
        if echo:
            if ok:
                what = "重复" if result["status"] == "duplicate" else ("待分类" if result.get("queued") else "入库")
                echo(f"{what}  {result['file']} → {result['archive_no']}")
            else:
                echo(f"拒收  {result['file']}：{reason}")

    _settle_claims(pipeline, box, batch_id, moved)
    done_rounds = 0
    while True:
        ready = box.ready()
        if once and settle > 0:
            time.sleep(settle)
            ready = box.ready()
        claimed = [box.claim(p) for p in ready]
        if claimed:
            pipeline.add_items(batch_id, [Item(p, Inbox.original_name(p)) for p in claimed])
        pipeline.run(actor, batch_id, on_finish=moved)
        done_rounds += 1
        if once or (rounds is not None and done_rounds >= rounds):
            return results
        time.sleep(interval)


def _settle_claims(pipeline: IngestPipeline, box: Inbox, batch_id: int,
                   moved: Callable[[IngestJob, dict], None]) -> None:
    """After a crash: move files whose job finished; enqueue claimed files with no job."""
    with pipeline.db.session() as s:
        jobs = {j.path: j for j in s.execute(select(IngestJob).where(IngestJob.batch_id == batch_id)).scalars()}
    orphans = []
    for path in box.pending_claims():
        job = jobs.get(str(path))
        if job is None:
            orphans.append(Item(path, Inbox.original_name(path)))
        elif job.state in FINISHED:
            moved(job, json.loads(job.result or "{}"))
    if orphans:
        pipeline.add_items(batch_id, orphans)
