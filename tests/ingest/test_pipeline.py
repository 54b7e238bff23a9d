"""The ingest pipeline as an archivist relies on it: every file comes out as a record or
as a refusal with a reason, the batch goes on past bad files, nothing is half-stored,
and a run that died is finished exactly once by the next one."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from dangan.archive.models import AuditEntry, Record
from dangan.archive.records import object_key
from dangan.demo import render
from dangan.ingest import analyse as analysis_mod
from dangan.ingest import pipeline as pipeline_mod
from dangan.ingest.models import FINISHED, PENDING, RUNNING, IngestJob
from dangan.ingest.pipeline import CRASH_MESSAGE, MAX_ATTEMPTS, IngestPipeline, worker_id
from dangan.ingest.sources import Item, expand_paths
from tests.ingest.conftest import (
    COMPLAINT_FORM,
    OWNER_FORM,
    REPAIR_FORM,
    bomb_png,
    bomb_tiff,
    docx_bytes,
    pdf_with,
    small_scan,
    small_zip,
)

# -- analysis stand-ins (module level: they run in the worker processes) -------------------


def analyse_or_crash(path: str, explicit: dict):
    """The real analysis, except that a file whose name says "crash" kills its process."""
    if "crash" in Path(path).name:
        os._exit(3)
    return analysis_mod.analyse(path, explicit)


def analyse_or_hang(path: str, explicit: dict):
    """The real analysis, except that a file whose name says "hang" never finishes."""
    import time

    if "hang" in Path(path).name:
        time.sleep(3600)
    return analysis_mod.analyse(path, explicit)


def analyse_and_log(path: str, explicit: dict):
    """The real analysis, leaving a line in the file's folder for every call."""
    with open(Path(path).parent / "analysed.log", "a", encoding="utf-8") as fh:
        fh.write(Path(path).name + "\n")
    return analysis_mod.analyse(path, explicit)


def analyse_then_change_file(path: str, explicit: dict):
    found = analysis_mod.analyse(path, explicit)
    with open(path, "ab") as fh:
        fh.write(b"\n% changed while it was being ingested\n")
    return found


def quick_analysis(path: str, explicit: dict):
    """No text extraction at all: for tests about scheduling, not about documents."""
    import time

    time.sleep(0.01)
    return analysis_mod.Analysis(
        media_type="application/pdf", pages=1, text_pages=[{"page": 1, "text": "x", "confidence": 1.0}],
        inferred={"location": None, "date": None, "title": None, "maintenance_code": None,
                  "location_candidates": []},
        suggestion={"category": None, "confidence": 0.0, "alternatives": [], "source": "test"}, pii_tokens=[])


# -- helpers -------------------------------------------------------------------------------


def add_open_script(writer) -> None:
    """A script that runs when the PDF is opened (/OpenAction /JavaScript)."""
    from pypdf.generic import DictionaryObject, NameObject, TextStringObject

    writer._root_object[NameObject("/OpenAction")] = DictionaryObject(
        {NameObject("/S"): NameObject("/JavaScript"), NameObject("/JS"): TextStringObject("app.alert(1)")})


def files_to_items(*paths: Path, **explicit: str) -> list[Item]:
    return [Item(p, p.name, dict(explicit)) for p in paths]


def run_batch(system, items: list[Item], workers: int = 2, source: str = "import", key: str | None = None,
              **kw):
    pipeline = IngestPipeline(system, workers=workers, **kw)
    actor = system.actor("wang")
    batch_id = pipeline.add_batch(actor, items, source, key)
    return pipeline.run(actor, batch_id), pipeline, batch_id


def record_keys(system) -> set[str]:
    with system.db.read() as s:
        rows = s.execute(select(Record.id, Record.has_text)).all()
    keys = {object_key(rid, "original") for rid, _ in rows}
    keys |= {object_key(rid, "text") for rid, has_text in rows if has_text}
    return keys


def assert_nothing_half_stored(system) -> None:
    """The object store holds exactly the objects of the records that exist."""
    assert set(system.store.keys("records/")) == record_keys(system)


def record_count(system) -> int:
    with system.db.read() as s:
        return s.execute(select(func.count()).select_from(Record)).scalar_one()


def jobs_of(system, batch_id: int) -> list[IngestJob]:
    with system.db.read() as s:
        return list(s.execute(select(IngestJob).where(IngestJob.batch_id == batch_id)
                              .order_by(IngestJob.seq)).scalars())


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


# -- bad input: a mixed batch ----------------------------------------------------------------


def test_mixed_batch_ingests_the_good_files_and_refuses_each_bad_one_with_a_reason(
        system, tmp_path: Path, text_pdf, make_file) -> None:
    good_owner = text_pdf(OWNER_FORM)
    good_repair = text_pdf(REPAIR_FORM)
    scan = render.png(tmp_path / "scan.png", small_scan(COMPLAINT_FORM))
    pdf = good_owner.read_bytes()
    bad = {
        "empty.pdf": make_file("empty.pdf", b""),
        "truncated.pdf": make_file("truncated.pdf", pdf[: len(pdf) // 2]),
        "wrong-header.pdf": make_file("wrong-header.pdf", b"%PFD-1.4" + pdf[8:]),
        "locked.pdf": pdf_with(tmp_path, "locked.pdf", lambda w: w.encrypt("s3cret", algorithm="AES-256")),
        "bomb.png": make_file("bomb.png", bomb_png(30_000, 30_000)),
        "bomb.tif": make_file("bomb.tif", bomb_tiff(50_000, 50_000)),
        "report.pdf": make_file("report.pdf", docx_bytes()),  # a Word file under a PDF name
        "notes.pdf": make_file("notes.pdf", "只是一段文字，不是 PDF。\n".encode() * 20),
        "poly.pdf": make_file("poly.pdf", pdf + small_zip()),
        "html.pdf": make_file("html.pdf", b"<html><script>x()</script>" + pdf),
        "js.pdf": pdf_with(tmp_path, "js.pdf", add_open_script),
    }
    reasons = {"empty.pdf": "0 字节", "truncated.pdf": "截断或损坏", "wrong-header.pdf": "文件头",
               "locked.pdf": "密码", "bomb.png": "解压炸弹", "bomb.tif": "解压炸弹", "report.pdf": "不支持",
               "notes.pdf": "不支持", "poly.pdf": "多重格式", "html.pdf": "多重格式", "js.pdf": "JavaScript"}
    copy = tmp_path / "另一个名字.pdf"
    shutil.copyfile(good_owner, copy)
    items = (files_to_items(good_owner) + files_to_items(*bad.values())
             + files_to_items(good_repair, scan, copy))
    summary, _, _ = run_batch(system, items)

    by_file = {r["file"]: r for r in summary.results}
    assert [r["file"] for r in summary.results] == [i.name for i in items]  # in the batch's order
    for name, needle in reasons.items():
        assert by_file[name]["status"] == "rejected", by_file[name]
        assert needle in by_file[name]["error"], by_file[name]
        assert by_file[name]["archive_no"] is None
    for good in (good_owner, good_repair, scan):
        assert by_file[good.name]["status"] == "ingested", by_file[good.name]
    assert by_file[scan.name]["pages"] == 1
    dup = by_file["另一个名字.pdf"]
    assert dup["status"] == "duplicate" and dup["archive_no"] == by_file[good_owner.name]["archive_no"]
    assert (summary.ingested, summary.duplicate, summary.rejected) == (3, 1, len(bad))
    assert record_count(system) == 3
    assert_nothing_half_stored(system)
    with system.db.read() as s:
        refusals = s.execute(select(func.count()).where(AuditEntry.action == "ingest.reject")).scalar_one()
    assert refusals == len(bad)


def test_duplicate_of_an_earlier_record_is_reported_with_its_number(system, text_pdf, tmp_path: Path) -> None:
    original = text_pdf(OWNER_FORM)
    first, _, _ = run_batch(system, files_to_items(original))
    renamed = tmp_path / "$(rm -rf x);|&.pdf"
    shutil.copyfile(original, renamed)
    again, _, _ = run_batch(system, files_to_items(renamed))
    [r] = again.results
    assert r["status"] == "duplicate" and r["archive_no"] == first.results[0]["archive_no"]
    assert r["file"] == "$(rm -rf x);|&.pdf"
    assert record_count(system) == 1


def test_same_bytes_twice_in_one_batch_are_analysed_once(sqlite_system, text_pdf, tmp_path: Path) -> None:
    original = text_pdf(REPAIR_FORM)
    folder = tmp_path / "batch"
    folder.mkdir()
    for n in range(4):
        shutil.copyfile(original, folder / f"copy{n}.pdf")
    summary, _, _ = run_batch(sqlite_system, files_to_items(*sorted(folder.glob("*.pdf"))),
                              analyse=analyse_and_log)
    assert [r["status"] for r in summary.results] == ["ingested", "duplicate", "duplicate", "duplicate"]
    assert len({r["archive_no"] for r in summary.results}) == 1
    assert (folder / "analysed.log").read_text().split() == ["copy0.pdf"]


def test_file_changed_while_being_ingested_is_refused_and_not_stored(sqlite_system, text_pdf) -> None:
    path = text_pdf(OWNER_FORM)
    summary, _, _ = run_batch(sqlite_system, files_to_items(path), analyse=analyse_then_change_file)
    [r] = summary.results
    assert r["status"] == "rejected" and "被修改" in r["error"]
    assert record_count(sqlite_system) == 0
    assert_nothing_half_stored(sqlite_system)


def test_file_vanishing_or_turning_into_a_symlink_is_refused(sqlite_system, text_pdf, tmp_path: Path) -> None:
    gone = text_pdf(OWNER_FORM)
    swapped = text_pdf(REPAIR_FORM)
    items = files_to_items(gone, swapped)
    gone.unlink()
    secret = tmp_path / "secret.pdf"
    swapped.rename(secret)
    swapped.symlink_to(secret)
    summary, _, _ = run_batch(sqlite_system, items)
    assert [r["status"] for r in summary.results] == ["rejected", "rejected"]
    assert "不存在" in summary.results[0]["error"] and "符号链接" in summary.results[1]["error"]


# -- explicit metadata -----------------------------------------------------------------------


def test_explicit_values_win_and_conflicts_are_reported(system, text_pdf) -> None:
    path = text_pdf(OWNER_FORM + "\n登记日期：2023年6月1日")
    summary, _, _ = run_batch(system, files_to_items(path, category="maintenance", location="A-02-001-0101",
                                                     date="2020-01-02", title="指定题名"))
    [r] = summary.results
    assert r["status"] == "ingested"
    assert (r["category"], r["location"], r["title"]) == ("maintenance", "A-02-001-0101", "指定题名")
    assert r["archive_no"].startswith("WX-A-02-001-0101-2020-")
    conflicts = {c["field"]: c for c in r["conflicts"]}
    assert conflicts["location"]["inferred"] == "A-01-002-0502"
    assert conflicts["location"]["given"] == "A-02-001-0101"
    assert conflicts["date"]["inferred"] == "2023-06-01"


def test_explicit_prefix_of_the_inferred_location_is_no_conflict(system, text_pdf) -> None:
    path = text_pdf(OWNER_FORM)
    summary, _, _ = run_batch(system, files_to_items(path, category="owner", location="A-01"))
    [r] = summary.results
    assert r["location"] == "A-01" and not any(c["field"] == "location" for c in r.get("conflicts", []))


@pytest.mark.parametrize(("explicit", "needle"), [
    ({"category": "lunch"}, "类别"), ({"location": "A-1-001-0101"}, "楼栋"),
    ({"security": "topsecret"}, "密级"), ({"date": "2024-02-30"}, "日期")])
def test_bad_explicit_values_refuse_the_file_before_it_is_read(sqlite_system, tmp_path: Path, explicit: dict,
                                                               needle: str) -> None:
    missing = tmp_path / "never-read.pdf"  # if the file were read the reason would be "不存在"
    summary, _, _ = run_batch(sqlite_system, [Item(missing, "never-read.pdf", explicit)])
    [r] = summary.results
    assert r["status"] == "rejected" and needle in r["error"], r


# -- summary ---------------------------------------------------------------------------------


def test_summary_counts_and_a_rerun_redoes_nothing(system, text_pdf, make_file) -> None:
    items = files_to_items(text_pdf(OWNER_FORM), text_pdf(COMPLAINT_FORM), make_file("e.pdf", b""))
    first, _, batch_id = run_batch(system, items, key="import:test")
    assert (first.ingested, first.duplicate, first.rejected) == (2, 0, 1)
    assert first.pages == 2 and first.done_now == 3 and first.done_before == 0
    assert first.line().startswith(f"入库 2 件（其中待分类 {first.queued} 件），重复 0 件，拒收 1 件；共 2 页")
    again_id = IngestPipeline(system).add_batch(system.actor("wang"), items, "import", "import:test")
    assert again_id == batch_id
    again = IngestPipeline(system).run(system.actor("wang"), batch_id)
    assert again.results == first.results and again.done_now == 0 and again.done_before == 3
    assert again.counts() == first.counts() and "未重做" in again.line()
    assert record_count(system) == 2


def test_progress_and_on_finish_are_called_once_per_file_in_this_thread(sqlite_system, text_pdf,
                                                                      make_file) -> None:
    import threading

    items = files_to_items(text_pdf(OWNER_FORM), text_pdf(REPAIR_FORM), make_file("e.pdf", b""))
    pipeline = IngestPipeline(sqlite_system, workers=2)
    actor = sqlite_system.actor("wang")
    calls: list[tuple[str, int, str]] = []
    finished: list[str] = []
    batch_id = pipeline.add_batch(actor, items, "cli")
    pipeline.run(actor, batch_id,
                 progress=lambda r, pages: calls.append((r["status"], pages, threading.current_thread().name)),
                 on_finish=lambda job, r: finished.append(job.name))
    assert sorted(s for s, _, _ in calls) == ["ingested", "ingested", "rejected"]
    assert sum(p for _, p, _ in calls) == 2
    assert {t for _, _, t in calls} == {threading.current_thread().name}
    assert sorted(finished) == sorted(i.name for i in items)


# -- crash recovery --------------------------------------------------------------------------


def test_jobs_of_a_dead_run_are_finished_once_and_its_orphans_removed(system, text_pdf) -> None:
    items = files_to_items(text_pdf(OWNER_FORM), text_pdf(REPAIR_FORM), text_pdf(COMPLAINT_FORM))
    pipeline = IngestPipeline(system, workers=2)
    actor = system.actor("wang")
    batch_id = pipeline.add_batch(actor, items, "import", "import:dead")
    pipeline._token = "deadrun1"
    claimed = pipeline._claim(batch_id, 2)
    ghost = f"{worker_id('deadrun1').split(':')[0]}:{dead_pid()}::deadrun1"
    with system.db.session() as s:
        s.execute(update(IngestJob).where(IngestJob.id.in_([j.id for j in claimed])).values(worker=ghost))
    # the dead run had written (part of) one record's objects before it died
    orphan = claimed[0].record_id
    system.store.put_bytes(object_key(orphan, "original"), b"ciphertext of a record never committed")
    system.store.put_bytes(object_key(orphan, "text"), b"...")

    summary = IngestPipeline(system, workers=2).run(actor, batch_id)
    assert [r["status"] for r in summary.results] == ["ingested"] * 3
    assert record_count(system) == 3
    assert not system.store.exists(object_key(orphan, "original"))
    assert_nothing_half_stored(system)
    jobs = jobs_of(system, batch_id)
    assert all(j.state in FINISHED for j in jobs)
    assert [j.attempts for j in jobs] == [2, 2, 1]


def test_a_live_run_keeps_its_jobs_and_a_reused_pid_does_not(system, text_pdf) -> None:
    items = files_to_items(text_pdf(OWNER_FORM), text_pdf(REPAIR_FORM))
    pipeline = IngestPipeline(system)
    batch_id = pipeline.add_batch(system.actor("wang"), items, "import")
    jobs = pipeline._claim(batch_id, 2)
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        host = worker_id("x").split(":")[0]
        start = pipeline_mod._start_ticks(sleeper.pid)
        live = f"{host}:{sleeper.pid}:{start}:tok"
        reused = f"{host}:{sleeper.pid}:{int(start or 0) + 12345}:tok"
        with system.db.session() as s:
            s.execute(update(IngestJob).where(IngestJob.id == jobs[0].id).values(worker=live))
            s.execute(update(IngestJob).where(IngestJob.id == jobs[1].id).values(worker=reused))
        assert pipeline.recover() == 1
        states = {j.id: j.state for j in jobs_of(system, batch_id)}
        assert states == {jobs[0].id: RUNNING, jobs[1].id: PENDING}
    finally:
        sleeper.kill()
        sleeper.wait()
    assert pipeline.recover() == 1


def test_another_hosts_jobs_are_taken_over_only_once_silent(system, text_pdf) -> None:
    pipeline = IngestPipeline(system)
    batch_id = pipeline.add_batch(system.actor("wang"), files_to_items(text_pdf(OWNER_FORM)), "import")
    [job] = pipeline._claim(batch_id, 1)
    with system.db.session() as s:
        s.execute(update(IngestJob).where(IngestJob.id == job.id).values(worker="0000beef:1:1:remote"))
    assert pipeline.recover() == 0
    long_ago = dt.datetime.now(dt.UTC).replace(tzinfo=None) - pipeline_mod.STALE_AFTER * 2
    with system.db.session() as s:
        s.execute(update(IngestJob).where(IngestJob.id == job.id).values(updated_at=long_ago,
                                                                          claimed_at=long_ago))
    assert pipeline.recover() == 1


def test_heartbeat_refreshes_this_runs_claims(system, text_pdf) -> None:
    pipeline = IngestPipeline(system)
    batch_id = pipeline.add_batch(system.actor("wang"), files_to_items(text_pdf(OWNER_FORM)), "import")
    [job] = pipeline._claim(batch_id, 1)
    long_ago = dt.datetime(2000, 1, 1)
    with system.db.session() as s:
        s.execute(update(IngestJob).where(IngestJob.id == job.id).values(updated_at=long_ago))
    pipeline._heartbeat()
    [fresh] = jobs_of(system, batch_id)
    assert fresh.updated_at > long_ago


def test_a_file_that_crashes_its_worker_is_refused_and_the_batch_goes_on(sqlite_system, text_pdf,
                                                                        tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    names = ["a.pdf", "b.pdf", "crash.pdf", "d.pdf", "e.pdf"]
    for name, form in zip(names, [OWNER_FORM, REPAIR_FORM, COMPLAINT_FORM, OWNER_FORM + "。", REPAIR_FORM + "。"],
                          strict=True):
        shutil.copyfile(text_pdf(form), folder / name)
    summary, _, _ = run_batch(sqlite_system, files_to_items(*(folder / n for n in names)),
                              analyse=analyse_or_crash)
    by_file = {r["file"]: r for r in summary.results}
    assert by_file["crash.pdf"]["status"] == "rejected" and by_file["crash.pdf"]["error"] == CRASH_MESSAGE
    assert all(by_file[n]["status"] == "ingested" for n in names if n != "crash.pdf")
    assert record_count(sqlite_system) == 4
    assert_nothing_half_stored(sqlite_system)


def test_a_file_whose_analysis_never_ends_is_stopped_and_refused(sqlite_system, text_pdf, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    names = ["a.pdf", "hang.pdf", "c.pdf", "d.pdf"]
    for name, form in zip(names, [OWNER_FORM, REPAIR_FORM, COMPLAINT_FORM, OWNER_FORM + "。"], strict=True):
        shutil.copyfile(text_pdf(form), folder / name)
    pipeline = IngestPipeline(sqlite_system, workers=2, analyse=analyse_or_hang)
    # generous: a loaded CI machine must not push the ordinary files past it
    pipeline.analysis_timeout = 20.0
    actor = sqlite_system.actor("wang")
    summary = pipeline.run(actor, pipeline.add_batch(actor, files_to_items(*(folder / n for n in names)), "import"))
    by_file = {r["file"]: r for r in summary.results}
    assert by_file["hang.pdf"]["status"] == "rejected" and "超过 20 秒" in by_file["hang.pdf"]["error"]
    assert all(by_file[n]["status"] == "ingested" for n in names if n != "hang.pdf")
    assert_nothing_half_stored(sqlite_system)


def test_a_job_claimed_too_often_is_refused_not_retried_for_ever(system, text_pdf) -> None:
    pipeline = IngestPipeline(system)
    batch_id = pipeline.add_batch(system.actor("wang"), files_to_items(text_pdf(OWNER_FORM)), "import")
    with system.db.session() as s:
        s.execute(update(IngestJob).where(IngestJob.batch_id == batch_id).values(attempts=MAX_ATTEMPTS))
    summary = pipeline.run(system.actor("wang"), batch_id)
    [r] = summary.results
    assert r["status"] == "rejected" and "停止重试" in r["error"]
    assert record_count(system) == 0


def test_jobs_in_flight_are_bounded(sqlite_system, tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for n in range(80):
        (folder / f"{n:03d}.pdf").write_bytes(b"%PDF-1.4\n% file " + str(n).encode() + b"\n%%EOF\n")
    pipeline = IngestPipeline(sqlite_system, workers=1, threads=2, analyse=quick_analysis)
    actor = sqlite_system.actor("wang")
    batch_id = pipeline.add_batch(actor, expand_paths([folder], {}, tmp_path), "import")
    running: list[int] = []

    def count(_result: dict, _pages: int) -> None:
        with sqlite_system.db.read() as s:
            running.append(s.execute(select(func.count()).where(IngestJob.batch_id == batch_id,
                                                                 IngestJob.state == RUNNING)).scalar_one())

    summary = pipeline.run(actor, batch_id, progress=count)
    assert summary.ingested == 80
    bound = 2 * pipeline.workers + 2 * pipeline.threads + pipeline_mod.CLAIM_CHUNK
    assert max(running) <= bound < 80


def test_inbox_style_batch_reports_only_this_runs_files(sqlite_system, text_pdf) -> None:
    pipeline = IngestPipeline(sqlite_system, workers=1)
    actor = sqlite_system.actor("wang")
    batch_id = pipeline.add_batch(actor, [], "inbox", key="inbox:/somewhere")
    pipeline.add_items(batch_id, files_to_items(text_pdf(OWNER_FORM)))
    first = pipeline.run(actor, batch_id)
    pipeline.add_items(batch_id, files_to_items(text_pdf(REPAIR_FORM)))
    second = pipeline.run(actor, batch_id)
    idle = pipeline.run(actor, batch_id)
    assert (first.ingested, second.ingested, idle.ingested) == (1, 1, 0)
    assert second.results[0]["title"] == "维修工单" and idle.results == []


def test_jobs_table_records_each_outcome(system, text_pdf, make_file) -> None:
    items = files_to_items(text_pdf(OWNER_FORM), make_file("e.pdf", b""))
    _, _, batch_id = run_batch(system, items)
    jobs = jobs_of(system, batch_id)
    assert [j.state for j in jobs][1] == "rejected" and jobs[0].state in ("done", "queued")
    assert all(j.attempts == 1 and j.result for j in jobs)
    assert json.loads(jobs[0].result)["status"] == "ingested"
    assert not any(j.state == PENDING for j in jobs)
