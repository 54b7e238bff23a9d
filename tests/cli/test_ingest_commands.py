"""`dangan ingest`, `dangan import` and `dangan inbox` as CONTRACT.md states them — and as
they must behave when the process is killed with SIGKILL at any point and started again:
every file finished exactly once, no duplicates, no orphaned objects, no lost file."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import pty
import shutil
import signal
import struct
import subprocess
import sys
import termios
import time
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dangan.archive.models import AuditEntry, Record
from dangan.archive.records import object_key
from dangan.demo import corpus, render
from dangan.ingest.models import FINISHED, IngestBatch, IngestJob
from dangan.system import open_dangan

DANGAN = str(Path(sys.executable).with_name("dangan"))
LONG_CHINESE = "物业维修记录" * 41 + "表单.pdf"  # 250 characters

FORM = ("报修单\n项目名称：翠湖花园\n房号：A区1栋1单元101室\n报修时间：2024年3月5日\n"
        "报修内容：卫生间水管漏水，楼下天花板渗水，请尽快派维修人员上门处理。\n维修编码：010023")


# -- helpers -------------------------------------------------------------------------------


def corpus_pdfs(folder: Path, n: int, seed: int = 7) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, doc in enumerate(corpus.generate(n, seed=seed)):
        paths.append(render.text_pdf(folder / f"doc{i:04d}.pdf", [doc.text]))
    return paths


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_manifest(folder: Path, rows: list[dict], name: str = "manifest.csv") -> Path:
    cols = ["path", "category", "location", "title", "date", "security"]
    lines = [",".join(cols)] + [",".join(str(r.get(c, "")) for c in cols) for r in rows]
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Archive:
    """Direct read access to the archive the CLI writes, for checking outcomes."""

    def __init__(self, home: Path) -> None:
        self.system = open_dangan(home)

    def close(self) -> None:
        self.system.close()

    def count(self, model) -> int:
        with self.system.db.read() as s:
            return s.execute(select(func.count()).select_from(model)).scalar_one()

    def hashes(self) -> list[str]:
        with self.system.db.read() as s:
            return list(s.execute(select(Record.sha256)).scalars())

    def assert_exactly_once(self, good: list[Path]) -> None:
        """Every good file has exactly one record; the store holds exactly their objects;
        the audit log says each record was ingested once."""
        hashes = self.hashes()
        assert sorted(hashes) == sorted({sha(p) for p in good}), "lost or extra records"
        with self.system.db.read() as s:
            rows = s.execute(select(Record.id, Record.has_text)).all()
            ingests = s.execute(select(func.count()).where(AuditEntry.action == "record.ingest")).scalar_one()
        expected = {object_key(rid, "original") for rid, _ in rows}
        expected |= {object_key(rid, "text") for rid, has_text in rows if has_text}
        assert set(self.system.store.keys("records/")) == expected, "orphaned or missing objects"
        assert ingests == len(rows)

    def jobs(self, source: str) -> list[IngestJob]:
        with self.system.db.read() as s:
            return list(s.execute(select(IngestJob).join(IngestBatch, IngestBatch.id == IngestJob.batch_id)
                                  .where(IngestBatch.source == source).order_by(IngestJob.id)).scalars())


def start(home: Path, *args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([DANGAN, "--home", str(home), "--as", "wang", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def run_cli(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([DANGAN, "--home", str(home), "--as", "wang", *args], capture_output=True, text=True,
                          timeout=timeout)


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (the forkserver, the pool's workers, OCR engines)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_bytes().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def gone(pids: set[int], timeout: float = 15) -> set[int]:
    """Of `pids`, those still running after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        alive = set()
        for pid in pids:
            try:
                state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
            except OSError:
                continue
            if state != b"Z":
                alive.add(pid)
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def kill_when(proc: subprocess.Popen, ready, timeout: float = 120) -> bool:
    """SIGKILL `proc` as soon as `ready()` holds; False if it finished first. Its helper
    processes (analysis workers) must not outlive it."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        if ready():
            helpers = descendants(proc.pid)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            assert not gone(helpers), "analysis workers outlived the killed command"
            return True
        assert time.monotonic() < deadline, "the command neither finished nor reached the kill point"
        time.sleep(0.01)
    return False


# -- import ----------------------------------------------------------------------------------


def test_import_applies_explicit_values_and_reports_conflicts(cli, tmp_path: Path) -> None:
    folder = tmp_path / "移交"
    folder.mkdir()
    render.text_pdf(folder / "a.pdf", [FORM])
    render.text_pdf(folder / "b.pdf", [FORM.replace("卫生间", "厨房")])
    manifest = write_manifest(folder, [
        {"path": "a.pdf", "category": "maintenance", "location": "A-02-001-0202", "title": "二号楼报修",
         "date": "2024-03-06", "security": "internal"},
        {"path": "b.pdf"}])
    a, b = cli.json("import", str(manifest), user="wang")
    assert (a["status"], a["category"], a["location"], a["title"]) == \
        ("ingested", "maintenance", "A-02-001-0202", "二号楼报修")
    assert a["archive_no"].startswith("WX-A-02-001-0202-2024-")
    conflicts = {c["field"]: c for c in a["conflicts"]}
    assert conflicts["location"] == {"field": "location", "given": "A-02-001-0202", "inferred": "A-01-001-0101"}
    assert conflicts["date"]["inferred"] == "2024-03-05"
    assert b["status"] == "ingested" and b["location"] == "A-01-001-0101" and not b.get("conflicts")
    human = cli("import", str(write_manifest(folder, [{"path": "a.pdf"}], "again.csv")), user="wang")
    assert "重复" in human.stdout


def test_import_prints_conflicts_and_the_summary_for_people(cli, tmp_path: Path) -> None:
    render.text_pdf(tmp_path / "a.pdf", [FORM])
    manifest = write_manifest(tmp_path, [{"path": "a.pdf", "location": "A-03"}, {"path": "missing.pdf"}])
    result = cli("import", str(manifest), user="wang")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "注意：location 以指定值 A-03 为准，文件内容推断为 A-01-001-0101" in out
    assert "拒收  manifest.csv:3:missing.pdf：文件不存在" in out
    assert out.strip().splitlines()[-1].startswith("入库 1 件（其中待分类 0 件），重复 0 件，拒收 1 件；共 1 页")


def test_rerunning_a_finished_manifest_redoes_nothing_and_prints_the_same_summary(cli, tmp_path: Path) -> None:
    corpus_pdfs(tmp_path / "docs", 4)
    rows = [{"path": f"docs/doc{i:04d}.pdf"} for i in range(4)] + [{"path": "docs/none.pdf"}]
    manifest = write_manifest(tmp_path, rows)
    first = cli("import", str(manifest), user="wang")
    second = cli("import", str(manifest), user="wang")
    assert first.exit_code == second.exit_code == 0
    body = lambda out: out.strip().splitlines()[:-1]  # noqa: E731
    assert body(second.stdout) == body(first.stdout)  # the same per-file lines
    summary1, summary2 = first.stdout.strip().splitlines()[-1], second.stdout.strip().splitlines()[-1]
    counts = summary1.split("；用时")[0]
    assert summary2.startswith(counts) and "此前均已处理完毕，本次未重做" in summary2
    archive = Archive(cli.home)
    try:
        assert archive.count(Record) == 4
        with archive.system.db.read() as s:
            assert s.execute(select(func.count()).where(AuditEntry.action == "record.ingest")).scalar_one() == 4
        assert len(archive.jobs("import")) == 5
    finally:
        archive.close()


def test_manifest_rows_outside_the_folder_are_refused_and_the_rest_goes_on(cli, tmp_path: Path) -> None:
    outside = tmp_path / "secret"
    outside.mkdir()
    render.text_pdf(outside / "x.pdf", [FORM])
    folder = tmp_path / "batch"
    folder.mkdir()
    render.text_pdf(folder / "ok.pdf", [FORM.replace("漏水", "滴水")])
    (folder / "via-link").symlink_to(outside, target_is_directory=True)
    (folder / "link.pdf").symlink_to(outside / "x.pdf")
    manifest = write_manifest(folder, [{"path": "../secret/x.pdf"}, {"path": str(outside / "x.pdf")},
                                       {"path": "via-link/x.pdf"}, {"path": "link.pdf"}, {"path": "ok.pdf"},
                                       {"path": LONG_CHINESE}])
    results = cli.json("import", str(manifest), user="wang")
    assert [r["status"] for r in results] == ["rejected"] * 4 + ["ingested", "rejected"]
    assert "“..”" in results[0]["error"] and "绝对路径" in results[1]["error"]
    assert all("所在文件夹" in r["error"] for r in results[:3])
    assert "符号链接" in results[2]["error"] and "符号链接" in results[3]["error"]
    assert "255 字节" in results[5]["error"]
    archive = Archive(cli.home)
    try:
        assert archive.hashes() == [sha(folder / "ok.pdf")]
    finally:
        archive.close()


def test_bad_explicit_values_in_a_manifest_refuse_only_their_row(cli, tmp_path: Path) -> None:
    render.text_pdf(tmp_path / "a.pdf", [FORM])
    manifest = write_manifest(tmp_path, [{"path": "a.pdf", "category": "午餐"}, {"path": "a.pdf"}])
    bad, good = cli.json("import", str(manifest), user="wang")
    assert bad["status"] == "rejected" and "类别" in bad["error"]
    assert good["status"] == "ingested"


def test_only_archivists_may_import(cli, tmp_path: Path) -> None:
    render.text_pdf(tmp_path / "a.pdf", [FORM])
    result = cli("import", str(write_manifest(tmp_path, [{"path": "a.pdf"}])), user="li")
    assert result.exit_code == 1 and "li" in result.stderr


# -- ingest: hostile names and mixed batches ---------------------------------------------------


def test_shell_metacharacters_in_a_file_name_are_only_characters(cli, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    victim = tmp_path / "x"
    victim.mkdir()
    (victim / "keep.txt").write_text("still here")
    name = "$(rm -rf x);|&`touch pwned`.pdf"
    render.text_pdf(tmp_path / name, [FORM])
    [r] = cli.json("ingest", name, user="wang")
    assert r["status"] == "ingested" and r["file"] == name
    assert (victim / "keep.txt").exists() and not (tmp_path / "pwned").exists()
    shown = cli.json("show", r["archive_no"], user="wang")
    assert shown["archive_no"] == r["archive_no"]


def test_zip_with_hostile_and_very_long_member_names(cli, tmp_path: Path) -> None:
    good = render.text_pdf(tmp_path / "good.pdf", [FORM]).read_bytes()
    other = render.text_pdf(tmp_path / "other.pdf", [FORM.replace("漏水", "堵塞")]).read_bytes()
    archive = tmp_path / "移交资料.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../escape.pdf", good)
        zf.writestr("/etc/cron.d/evil.pdf", good)
        zf.writestr("子目录/" + LONG_CHINESE, good)
        zf.writestr("$(rm -rf x);|&.pdf", other)
    results = cli.json("ingest", str(archive), user="wang")
    assert [r["status"] for r in results] == ["rejected", "rejected", "ingested", "ingested"]
    assert "“..”" in results[0]["error"] and "绝对路径" in results[1]["error"]
    assert not (tmp_path.parent / "escape.pdf").exists()
    long_record = cli.json("show", results[2]["archive_no"], user="wang")
    assert long_record["archive_no"] == results[2]["archive_no"]


def test_all_files_refused_exits_1_and_a_mixed_batch_exits_0(cli, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "empty.pdf").write_bytes(b"")
    (folder / "notes.pdf").write_text("不是 PDF" * 20, encoding="utf-8")
    refused = cli("ingest", str(folder / "empty.pdf"), str(folder / "notes.pdf"), user="wang")
    assert refused.exit_code == 1 and "拒收" in refused.stdout and "Traceback" not in refused.output
    render.text_pdf(folder / "ok.pdf", [FORM])
    mixed = cli("ingest", str(folder), user="wang")
    assert mixed.exit_code == 0
    assert mixed.stdout.strip().splitlines()[-1].startswith("入库 1 件（其中待分类 0 件），重复 0 件，拒收 2 件")


# -- progress --------------------------------------------------------------------------------


def test_batches_on_a_terminal_show_a_progress_bar_with_pages_per_second(cli, tmp_path: Path) -> None:
    corpus_pdfs(tmp_path / "docs", 6)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen([DANGAN, "--home", str(cli.home), "--as", "wang", "ingest", str(tmp_path / "docs")],
                            stdout=subprocess.PIPE, stderr=slave, text=False)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    out, _ = proc.communicate(timeout=120)
    os.close(master)
    bar = b"".join(chunks).decode("utf-8", "replace")
    assert proc.returncode == 0
    assert "页/秒" in bar and "6/6" in bar and "<" in bar, bar  # count, rate and the elapsed<remaining ETA
    assert "6/6" not in out.decode()  # the bar stays off stdout
    plain = run_cli(cli.home, "ingest", str(tmp_path / "docs"))
    assert plain.returncode == 0 and "6/6" not in plain.stderr  # and off when stderr is not a terminal


# -- kill -9 and restart ---------------------------------------------------------------------


@pytest.fixture
def migration(tmp_path: Path):
    """An old archive being migrated: 36 documents, a duplicate, a missing file, a bad row."""
    folder = tmp_path / "old-archive"
    good = corpus_pdfs(folder / "docs", 36)
    shutil.copyfile(good[5], folder / "docs" / "copy-of-5.pdf")
    (folder / "docs" / "empty.pdf").write_bytes(b"")
    rows = [{"path": f"docs/{p.name}"} for p in good]
    rows.insert(10, {"path": "docs/copy-of-5.pdf"})
    rows.insert(20, {"path": "docs/empty.pdf"})
    rows.append({"path": "../outside.pdf"})
    return folder, write_manifest(folder, rows), good


def test_import_killed_at_any_point_finishes_every_file_exactly_once(cli, migration) -> None:
    _, manifest, good = migration
    archive = Archive(cli.home)
    try:
        def batch_exists() -> bool:
            return archive.count(IngestBatch) > 0

        kills = []
        schedule = [lambda: True,  # very early: before the batch exists
                    batch_exists,  # as soon as the batch and its jobs are committed
                    lambda: archive.count(Record) >= 3,
                    lambda: archive.count(Record) >= 12,
                    lambda: archive.count(Record) >= 25]
        for ready in schedule:
            proc = start(cli.home, "import", str(manifest), "--json", "--workers", "2")
            time.sleep(0.05)
            kills.append((kill_when(proc, ready), archive.count(Record)))
        assert sum(killed for killed, _ in kills) >= 4, kills  # the kills happened mid-run
        final = run_cli(cli.home, "import", str(manifest), "--json")
        assert final.returncode == 0, final.stderr
        results = json.loads(final.stdout)
        assert len(results) == len(good) + 3
        by_file = {r["file"].split(":", 2)[2]: r for r in results}
        assert all(by_file[f"docs/{p.name}"]["status"] == "ingested" for p in good)
        assert by_file["docs/copy-of-5.pdf"]["status"] == "duplicate"
        assert by_file["docs/copy-of-5.pdf"]["archive_no"] == by_file[f"docs/{good[5].name}"]["archive_no"]
        assert by_file["docs/empty.pdf"]["status"] == "rejected"
        assert by_file["../outside.pdf"]["status"] == "rejected"
        archive.assert_exactly_once(good)
        jobs = archive.jobs("import")
        assert len(jobs) == len(good) + 3 and all(j.state in FINISHED for j in jobs)
        assert archive.count(IngestBatch) == 1
        numbers = [r["archive_no"] for r in results if r["status"] == "ingested"]
        assert len(numbers) == len(set(numbers)) == len(good)
    finally:
        archive.close()


def test_two_imports_of_one_manifest_share_the_work(cli, migration) -> None:
    _, manifest, good = migration
    first = start(cli.home, "import", str(manifest), "--json")
    second = start(cli.home, "import", str(manifest), "--json")
    outputs = [p.communicate(timeout=300) for p in (first, second)]
    assert first.returncode == second.returncode == 0, outputs
    archive = Archive(cli.home)
    try:
        archive.assert_exactly_once(good)
        jobs = archive.jobs("import")
        assert len(jobs) == len(good) + 3 and all(j.state in FINISHED for j in jobs)
        assert all(j.attempts <= 1 for j in jobs)  # no file was taken by both
        assert archive.count(IngestBatch) == 1
    finally:
        archive.close()
    for out, _ in outputs:
        assert len(json.loads(out)) == len(good) + 3  # each reports the whole batch


def test_folder_ingest_killed_midway_resumes_its_batch_and_leaves_one_record_per_file(cli, tmp_path: Path) -> None:
    good = corpus_pdfs(tmp_path / "docs", 24, seed=11)
    archive = Archive(cli.home)
    try:
        proc = start(cli.home, "ingest", str(tmp_path / "docs"), "--json")
        assert kill_when(proc, lambda: archive.count(Record) >= 6)
        done_before = archive.count(Record)
        rerun = run_cli(cli.home, "ingest", str(tmp_path / "docs"))
        assert rerun.returncode == 0, rerun.stderr
        # the same argument list is the same batch: nothing redone, the rest finished
        assert f"另有 {done_before} 件此前已完成" in rerun.stdout and "重复 0 件" in rerun.stdout
        archive.assert_exactly_once(good)
        with archive.system.db.read() as s:
            assert s.execute(select(func.count()).select_from(IngestBatch)).scalar_one() == 1
    finally:
        archive.close()


def test_ingest_resume_without_arguments_finishes_the_abandoned_batch(cli, tmp_path: Path) -> None:
    good = corpus_pdfs(tmp_path / "docs", 16, seed=12)
    archive = Archive(cli.home)
    try:
        proc = start(cli.home, "ingest", str(tmp_path / "docs"), "--json")
        assert kill_when(proc, lambda: archive.count(Record) >= 3)
        listed = run_cli(cli.home, "ingest", "--resume", "--batch", "999")
        assert listed.returncode == 1 and "批次 999" in listed.stderr
        resumed = run_cli(cli.home, "ingest", "--resume", "--json")
        assert resumed.returncode == 0, resumed.stderr
        assert len(json.loads(resumed.stdout)) == 16
        archive.assert_exactly_once(good)
        again = run_cli(cli.home, "ingest", "--resume")
        assert again.returncode == 0 and "没有中断后未完成的入库批次" in again.stdout
    finally:
        archive.close()


def test_ingest_cancel_ends_an_abandoned_batch_and_keeps_what_was_done(cli, tmp_path: Path) -> None:
    corpus_pdfs(tmp_path / "docs", 16, seed=13)
    archive = Archive(cli.home)
    try:
        proc = start(cli.home, "ingest", str(tmp_path / "docs"), "--json")
        assert kill_when(proc, lambda: archive.count(Record) >= 3)
        done = archive.count(Record)
        with archive.system.db.read() as s:
            batch = s.execute(select(IngestBatch.id)).scalar_one()
        cancelled = run_cli(cli.home, "ingest", "--cancel", str(batch), "--json")
        assert cancelled.returncode == 0, cancelled.stderr
        assert json.loads(cancelled.stdout)["cancelled"] + archive.count(Record) == 16
        assert archive.count(Record) == done or archive.count(Record) == done + 1  # one may have been committing
        again = run_cli(cli.home, "ingest", "--cancel", str(batch))
        assert again.returncode == 1 and "只能取消中断后未完成的批次" in again.stderr
        assert "没有中断后未完成" in run_cli(cli.home, "ingest", "--resume").stdout
    finally:
        archive.close()


def test_inbox_killed_midway_moves_every_file_exactly_once(cli, tmp_path: Path) -> None:
    inbox = tmp_path / "scanner"
    good = corpus_pdfs(inbox, 24, seed=3)
    (inbox / "broken.pdf").write_bytes(good[0].read_bytes()[:500])
    for p in inbox.iterdir():
        os.utime(p, (time.time() - 60, time.time() - 60))
    archive = Archive(cli.home)
    try:
        for threshold in (4, 14):
            proc = start(cli.home, "inbox", str(inbox), "--interval", "0.2", "--settle", "0")
            assert kill_when(proc, lambda t=threshold: archive.count(Record) >= t)
        final = run_cli(cli.home, "inbox", str(inbox), "--once", "--settle", "0")
        assert final.returncode == 0, final.stderr
        done = sorted(p.name for p in (inbox / "done").iterdir())
        assert done == sorted(p.name for p in good)  # each once: no "name.1.pdf" second copies
        assert sorted(p.name for p in (inbox / "rejected").iterdir()) == ["broken.pdf", "broken.pdf.reason.txt"]
        assert list((inbox / ".processing").iterdir()) == []
        assert not [p for p in inbox.iterdir() if p.is_file()]
        archive.assert_exactly_once([inbox / "done" / p.name for p in good])
        jobs = archive.jobs("inbox")
        assert len(jobs) == 25 and all(j.state in FINISHED for j in jobs)
    finally:
        archive.close()
