"""The scanner inbox: ready files are ingested and moved to done/ or rejected/ (with a
reason), a scan still being written is left alone, and after a crash every claimed file
is finished and moved exactly once."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

from sqlalchemy import func, select, update

from dangan.archive.models import Record
from dangan.demo import render
from dangan.ingest.inbox import watch
from dangan.ingest.models import IngestJob
from dangan.ingest.pipeline import IngestPipeline, worker_id
from dangan.ingest.sources import Inbox, Item
from tests.ingest.conftest import COMPLAINT_FORM, OWNER_FORM, REPAIR_FORM


def aged(path: Path, seconds: float = 30) -> Path:
    t = time.time() - seconds
    os.utime(path, (t, t), follow_symlinks=False)
    return path


def drop(inbox: Path, name: str, data: bytes) -> Path:
    path = inbox / name
    path.write_bytes(data)
    return aged(path)


def records(system) -> list[Record]:
    with system.db.read() as s:
        return list(s.execute(select(Record)).scalars())


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_once_ingests_ready_files_and_moves_each_to_done_or_rejected(system, text_pdf, tmp_path: Path) -> None:
    inbox = tmp_path / "scanner"
    inbox.mkdir()
    good = text_pdf(OWNER_FORM).read_bytes()
    drop(inbox, "业主登记.pdf", good)
    drop(inbox, "业主登记（副本）.pdf", good)  # taken in name order: after the original
    drop(inbox, "broken.pdf", good[:300])
    drop(inbox, "readme.txt", "这不是扫描件。".encode() * 10)
    results = watch(system, system.actor("wang"), inbox, once=True, settle=0)

    assert {r["file"]: r["status"] for r in results} == {
        "业主登记.pdf": "ingested", "业主登记（副本）.pdf": "duplicate", "broken.pdf": "rejected",
        "readme.txt": "rejected"}
    assert listing(inbox / "done") == ["业主登记.pdf", "业主登记（副本）.pdf"]
    assert listing(inbox / "rejected") == ["broken.pdf", "broken.pdf.reason.txt", "readme.txt",
                                           "readme.txt.reason.txt"]
    assert "损坏" in (inbox / "rejected" / "broken.pdf.reason.txt").read_text(encoding="utf-8")
    assert "不支持" in (inbox / "rejected" / "readme.txt.reason.txt").read_text(encoding="utf-8")
    assert listing(inbox) == [".processing", "done", "rejected"]
    assert listing(inbox / ".processing") == []
    [rec] = records(system)
    assert rec.sha256 == hashlib.sha256(good).hexdigest() and rec.original_name == "业主登记.pdf"


def test_a_scan_still_being_written_is_not_taken_half_way(sqlite_system, text_pdf, tmp_path: Path) -> None:
    inbox = tmp_path / "scanner"
    inbox.mkdir()
    data = render.scanned_pdf(tmp_path / "full.pdf", [render.page_image(REPAIR_FORM, paper_mm=(148, 105))]
                              ).read_bytes()
    scan = inbox / "scan0001.pdf"
    written = threading.Event()

    def scanner() -> None:
        with open(scan, "wb") as fh:
            step = max(1, len(data) // 25)
            for start in range(0, len(data), step):
                fh.write(data[start:start + step])
                fh.flush()
                time.sleep(0.15)
        written.set()

    thread = threading.Thread(target=scanner)
    thread.start()
    taken: list[dict] = []
    try:
        time.sleep(0.3)
        while not written.is_set():
            taken += watch(sqlite_system, sqlite_system.actor("wang"), inbox, once=True, settle=0.5)
    finally:
        thread.join()
    deadline = time.time() + 10
    while not taken and time.time() < deadline:
        taken += watch(sqlite_system, sqlite_system.actor("wang"), inbox, once=True, settle=0.5)
    [result] = taken
    assert result["status"] == "ingested" and result["moved_to"] == "done/scan0001.pdf"
    assert listing(inbox / "rejected") == []
    [rec] = records(sqlite_system)
    assert rec.sha256 == hashlib.sha256(data).hexdigest()
    assert (inbox / "done" / "scan0001.pdf").read_bytes() == data


def test_a_file_arriving_too_recently_waits_for_the_next_scan(sqlite_system, text_pdf, tmp_path: Path) -> None:
    inbox = tmp_path / "scanner"
    inbox.mkdir()
    fresh = inbox / "fresh.pdf"
    shutil.copyfile(text_pdf(OWNER_FORM), fresh)
    results = watch(sqlite_system, sqlite_system.actor("wang"), inbox, settle=60, rounds=1)
    assert results == [] and fresh.exists()


def test_restart_finishes_every_claimed_file_and_moves_it_exactly_once(system, text_pdf, tmp_path: Path) -> None:
    inbox = tmp_path / "scanner"
    inbox.mkdir()
    box = Inbox(inbox, settle=0)
    actor = system.actor("wang")
    pipeline = IngestPipeline(system, workers=2)
    batch_id = pipeline.add_batch(actor, [], "inbox", key=f"inbox:{inbox.resolve()}")
    # 1. claimed, then the watcher died before writing its job
    box.claim(drop(inbox, "a.pdf", text_pdf(OWNER_FORM).read_bytes()))
    # 2. claimed and finished, but the watcher died before moving it
    finished = box.claim(drop(inbox, "b.pdf", text_pdf(REPAIR_FORM).read_bytes()))
    pipeline.add_items(batch_id, [Item(finished, "b.pdf")])
    pipeline.run(actor, batch_id)  # no on_finish: the move never happened
    # 3. claimed and being worked on when the watcher was killed
    running = box.claim(drop(inbox, "c.pdf", text_pdf(COMPLAINT_FORM).read_bytes()))
    pipeline.add_items(batch_id, [Item(running, "c.pdf")])
    pipeline._token = "killed"
    [job] = pipeline._claim(batch_id, 1)
    dead = subprocess.Popen(["true"])
    dead.wait()
    with system.db.session() as s:
        s.execute(update(IngestJob).where(IngestJob.id == job.id)
                  .values(worker=f"{worker_id('x').split(':')[0]}:{dead.pid}::killed"))
    assert len(box.pending_claims()) == 3

    results = watch(system, actor, inbox, once=True, settle=0)
    assert sorted(r["file"] for r in results) == ["a.pdf", "b.pdf", "c.pdf"]
    assert listing(inbox / "done") == ["a.pdf", "b.pdf", "c.pdf"]
    assert listing(inbox / ".processing") == [] and listing(inbox / "rejected") == []
    assert len(records(system)) == 3
    # and a further restart has nothing left to do
    assert watch(system, actor, inbox, once=True, settle=0) == []
    with system.db.read() as s:
        states = s.execute(select(IngestJob.state, func.count()).where(IngestJob.batch_id == batch_id)
                           .group_by(IngestJob.state)).all()
    assert sum(n for _, n in states) == 3 and {st for st, _ in states} <= {"done", "queued"}


def test_a_symlink_dropped_in_the_inbox_is_rejected_and_its_target_left_alone(sqlite_system, text_pdf,
                                                                            tmp_path: Path) -> None:
    inbox = tmp_path / "scanner"
    inbox.mkdir()
    secret = text_pdf(OWNER_FORM)
    link = inbox / "link.pdf"
    link.symlink_to(secret)
    aged(link)
    [result] = watch(sqlite_system, sqlite_system.actor("wang"), inbox, once=True, settle=0)
    assert result["status"] == "rejected" and "符号链接" in result["error"]
    assert (inbox / "rejected" / "link.pdf").is_symlink() and secret.exists()
    assert records(sqlite_system) == []


def test_same_name_scanned_twice_is_kept_twice_in_done(sqlite_system, text_pdf, tmp_path: Path) -> None:
    inbox = tmp_path / "scanner"
    inbox.mkdir()
    drop(inbox, "scan.pdf", text_pdf(OWNER_FORM).read_bytes())
    watch(sqlite_system, sqlite_system.actor("wang"), inbox, once=True, settle=0)
    drop(inbox, "scan.pdf", text_pdf(REPAIR_FORM).read_bytes())
    [second] = watch(sqlite_system, sqlite_system.actor("wang"), inbox, once=True, settle=0)
    assert second["status"] == "ingested" and second["moved_to"] == "done/scan.1.pdf"
    assert listing(inbox / "done") == ["scan.1.pdf", "scan.pdf"]
