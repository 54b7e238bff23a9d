"""The scanner inbox: files dropped in a folder are ingested and moved to done/ or
rejected/ (with a .reason.txt). One long-lived batch per folder remembers every claimed
file, so a restart after a crash finishes what was claimed and moves it exactly once.

A file is claimed by moving it into `.processing/` under a unique name, and the job that
names it is committed right after. After a `kill -9`:

- claimed, no job yet: the file gets a job now;
- job unfinished: the pipeline's recovery resets it and this run finishes it;
- job finished, file still in `.processing/`: it is moved now (the move is the last step,
  so it happens once: a file already moved is no longer there to move again).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from dangan.archive.permissions import Actor
from dangan.ingest.models import FINISHED, IngestJob
from dangan.ingest.pipeline import IngestPipeline
from dangan.ingest.sources import Inbox, Item

if TYPE_CHECKING:
    from dangan.system import Dangan


def watch(system: Dangan, actor: Actor, root: Path, once: bool = False, interval: float = 5.0,
          settle: float = 2.0, echo: Callable[[str], None] | None = None,
          rounds: int | None = None, workers: int | None = None) -> list[dict]:
    """Ingest what arrives in `root` until interrupted (or once, or for `rounds` scans)."""
    box = Inbox(root, settle=settle)
    pipeline = IngestPipeline(system, workers=workers)
    batch_id = pipeline.add_batch(actor, [], "inbox", key=f"inbox:{Path(root).resolve()}")
    results: list[dict] = []

    def moved(job: IngestJob, result: dict) -> None:
        path = Path(job.path)
        if not os.path.lexists(path):
            return  # moved already (a restart after the move)
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
        claimed = []
        for path in ready:
            try:
                claimed.append(box.claim(path))
            except FileNotFoundError:
                continue  # taken away (or claimed by another watcher) since the scan
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
    claims = box.pending_claims()
    if not claims:
        return
    jobs: dict[str, IngestJob] = {}
    with pipeline.db.read() as s:
        names = [str(p) for p in claims]
        for start in range(0, len(names), 500):
            for job in s.execute(select(IngestJob).where(IngestJob.batch_id == batch_id,
                                                         IngestJob.path.in_(names[start:start + 500]))).scalars():
                jobs[job.path] = job
    orphans: list[Item] = []
    for path in claims:
        found = jobs.get(str(path))
        if found is None:
            orphans.append(Item(path, Inbox.original_name(path)))
        elif found.state in FINISHED:
            moved(found, json.loads(found.result or "{}"))
    if orphans:
        pipeline.add_items(batch_id, orphans)
