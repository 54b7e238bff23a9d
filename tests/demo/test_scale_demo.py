"""The scale-out demo data: a batch worked from the queue and a first backup."""

from __future__ import annotations

from dangan.backup.service import list_snapshots
from dangan.demo.build import build_demo
from dangan.system import open_dangan
from dangan.web.uploads import batches
from dangan.web.uploads import status as batch_status


def test_demo_has_a_queued_batch_done_and_a_backup(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("DANGAN_DATABASE_URL", raising=False)
    monkeypatch.delenv("DANGAN_STORAGE_URL", raising=False)
    home = tmp_path / "demo"
    build_demo(str(home), count=4, scans=0)
    system = open_dangan(home)
    try:
        [queued] = [b for b in batches(system, system.actor("wang")) if b["source"] == "queue"]
        status = batch_status(system, system.actor("wang"), queued["batch_id"])
        assert status["finished"] and status["counts"]["ingested"] == 3
        assert len(list_snapshots(str(home / "backups"))) == 1
    finally:
        system.close()
