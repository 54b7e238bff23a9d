"""Demo data for the scale-out slice: a batch uploaded through the queue and worked by a
worker (the 采集 batch page shows it; 系统状态 shows the queue), and a first backup in
``<data>/backups`` (``dangan backups <data>/backups`` lists it)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from dangan.demo import render
from dangan.demo.corpus import generate
from dangan.worker.loop import Worker
from dangan.worker.queue import queue_uploads

if TYPE_CHECKING:
    from dangan.system import Dangan

BACKUP_PASSPHRASE = "dangan-demo-backup"


def add_scale_demo(system: Dangan, count: int = 3) -> dict:
    with tempfile.TemporaryDirectory(prefix="dangan-demo-queue-") as tmp:
        files = []
        for n, doc in enumerate(generate(count, seed=7070)):
            path = render.text_pdf(Path(tmp) / f"Q{n + 1:02d}-{doc.title[:30]}.pdf", [doc.text])
            files.append((path.name, path.open("rb")))
        try:
            queued = queue_uploads(system, system.actor("wang"), files)
        finally:
            for _, fh in files:
                fh.close()
    Worker(system, processes=1).run(once=True)
    report = system.backups.backup(system.actor("admin"), str(system.settings.home / "backups"),
                                   BACKUP_PASSPHRASE)
    return {"batch_id": queued["batch_id"], "backup": report.snapshot}
