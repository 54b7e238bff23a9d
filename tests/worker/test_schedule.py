"""Scheduled checks inside `dangan worker`, as a specification: a due check runs exactly
once per period however many workers race for it, a check not yet due waits, a dead
worker's claim is taken over once its lease runs out, a failing check records its outcome
and is retried without stopping ingest, failures and reports reach people through the
notifier, and the monthly due report is a file. The clock is fake (an injected `now`);
the services, the database (SQLite and PostgreSQL) and the files are real."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from dangan.archive.records import RecordInput
from dangan.config import load_settings
from dangan.errors import Conflict, InvalidInput
from dangan.integrity.models import VerifyRun
from dangan.loans.notify import LogNotifier
from dangan.system import open_dangan
from dangan.worker.loop import Worker
from dangan.worker.models import ScheduledTask
from dangan.worker.plans import Plan
from dangan.worker.schedule import Scheduler, schedule_status
from tests.cli.conftest import Cli
from tests.smtp_inbox import smtp_inbox
from tests.worker.test_worker import DANGAN, ROOT, queue

T0 = dt.datetime(2030, 4, 20, 9, 0)


class Clock:
    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += dt.timedelta(**kw)


def configure(system, **worker: str) -> None:
    """[worker] settings for this test: only verify, daily, unless said otherwise."""
    values = {"retention_report_day": "off", "remind_every": "off", **worker}
    system.settings = replace(system.settings, **{f"worker_{k}": v for k, v in values.items()})


def scheduler(system, clock: Clock, name: str = "w1", notifier: LogNotifier | None = None) -> Scheduler:
    return Scheduler(system, name, now=clock, lease=60, notifier=notifier or LogNotifier())


def add(system, title: str = "电梯维修单", date: dt.date = dt.date(2005, 3, 1), pdf: bytes | None = None) -> str:
    """A maintenance record (10 years from its date); random bytes unless a PDF is given,
    so its 四性 check fails (the file does not open)."""
    data = RecordInput(original_name="a.pdf", media_type="application/pdf", title=title, category="maintenance",
                       location="A-01-001-0101", doc_date=date, text_pages=[{"page": 1, "text": title}])
    body = pdf if pdf is not None else os.urandom(300)
    return system.records.create(system.actor("wang"), io.BytesIO(body), data).archive_no


def row(system, name: str = "verify") -> ScheduledTask:
    with system.db.read() as s:
        return s.get(ScheduledTask, name)


def verify_runs(system) -> int:
    with system.db.read() as s:
        return s.execute(select(func.count()).select_from(VerifyRun)).scalar_one()


def audit(system, action: str) -> list[dict]:
    rows = system.audit_log(system.actor("audit1"), action=action)
    return [{**r, "detail": json.loads(r["detail"]) if isinstance(r["detail"], str) else r["detail"]} for r in rows]


def test_a_due_task_runs_once_per_period_even_with_two_workers_racing(system) -> None:
    configure(system)
    add(system)
    clock = Clock(T0)
    # two workers as on two machines: each its own connection pool and scheduler
    workers = []
    for name in ("host-a:1", "host-b:2"):
        other = open_dangan(system.settings.home, replace(load_settings(system.settings.home),
                                                          **_worker_fields(system.settings)))
        workers.append((other, scheduler(other, clock, name)))

    def race() -> list[dict]:
        gate = threading.Barrier(len(workers))
        results: list[list[dict]] = [[] for _ in workers]

        def one(i: int) -> None:
            gate.wait()
            results[i] = workers[i][1].tick()

        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(workers))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        return [r for rs in results for r in rs]

    try:
        first = race()
        assert [r["task"] for r in first] == ["verify"] and verify_runs(system) == 1
        clock.advance(hours=23)
        assert race() == [] and verify_runs(system) == 1  # the same period: nobody runs it again
        clock.advance(hours=1, minutes=1)
        second = race()
        assert [r["task"] for r in second] == ["verify"] and verify_runs(system) == 2
    finally:
        for other, _ in workers:
            other.close()
    assert row(system).runs == 2 and row(system).claimed_by is None
    assert row(system).next_due == T0 + dt.timedelta(days=2)  # on the grid, no drift
    assert len(audit(system, "worker.task")) == 2


def _worker_fields(settings) -> dict:
    return {k: v for k, v in settings.__dict__.items() if k.startswith("worker_")}


def test_a_task_that_is_not_due_does_not_run(system) -> None:
    configure(system, verify_every="6h", retention_report_day="1")
    clock = Clock(T0)
    sched = scheduler(system, clock)
    assert [r["task"] for r in sched.tick()] == ["verify"]  # a new interval task: at once
    clock.advance(hours=5, minutes=59)
    assert sched.tick() == [] and verify_runs(system) == 1
    assert row(system, "retention-report").next_due == dt.datetime(2030, 5, 1)  # monthly: on its day
    assert row(system, "remind").plan == "off" and row(system, "remind").next_due is None
    clock.advance(minutes=2)
    assert [r["task"] for r in sched.tick()] == ["verify"] and verify_runs(system) == 2


def test_a_claim_whose_lease_ran_out_is_taken_over(system) -> None:
    configure(system)
    clock = Clock(T0)
    sched = scheduler(system, clock, "host-b:7")
    sched.ensure()
    # a worker claimed the check and was killed: its lease still holds for a while…
    with system.db.session() as s:
        s.execute(update(ScheduledTask).where(ScheduledTask.name == "verify").values(
            claimed_by="host-a:4242", claimed_at=T0, lease_until=T0 + dt.timedelta(seconds=60)))
    assert sched.tick() == [] and verify_runs(system) == 0
    with pytest.raises(Conflict, match="host-a:4242"):
        sched.run_now("verify")  # by hand neither: it would run twice
    # …then it expires, and another worker runs the occurrence
    clock.advance(seconds=61)
    [result] = sched.tick()
    assert result["took_over"] == "host-a:4242" and result["outcome"] == "ok" and verify_runs(system) == 1
    assert row(system).claimed_by is None and row(system).last_worker == "host-b:7"
    [entry] = audit(system, "worker.task.takeover")
    assert entry["detail"]["from"] == "host-a:4242"


def test_a_failing_task_records_its_outcome_and_retries_next_round_without_stopping_ingest(
        system, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the reports folder should be")
    configure(system, reports_dir=str(blocker))
    batch = queue(system, tmp_path, 2)
    clock = Clock(T0)
    log = LogNotifier()
    worker = Worker(system, processes=1, schedule=scheduler(system, clock, notifier=log))
    stats = worker.run(once=True)
    assert stats.jobs == 2 and stats.batches == 1  # the ingest of the round went on
    assert stats.tasks == [{"task": "verify", "outcome": "error"}]
    failed = row(system)
    assert failed.last_outcome == "error" and failed.failures == 1 and "文件" in failed.last_detail
    assert failed.retry_at == T0 + dt.timedelta(minutes=1) and failed.next_due == T0  # the occurrence waits
    [notice] = log.sent
    assert notice[0] == "audit1" and "运行失败" in notice[1]
    [entry] = audit(system, "worker.task")
    assert entry["outcome"] == "error"
    assert Worker(system)._batches() == [] and batch

    def next_round() -> list[dict]:
        before = len(worker.stats.tasks)
        return worker.run(once=True).tasks[before:]

    clock.advance(seconds=30)
    assert next_round() == [] and row(system).failures == 1  # not before the back-off
    clock.advance(seconds=31)
    assert next_round() == [{"task": "verify", "outcome": "error"}] and row(system).failures == 2
    assert len(log.sent) == 1  # told once per run of errors, not at every retry
    assert row(system).retry_at == clock.now + dt.timedelta(minutes=2)  # the back-off doubles

    blocker.unlink()  # fixed: the next round after the back-off runs it
    clock.advance(minutes=2)
    assert next_round() == [{"task": "verify", "outcome": "ok"}]
    fixed = row(system)
    assert fixed.failures == 0 and fixed.retry_at is None and fixed.next_due == T0 + dt.timedelta(days=1)


def test_verify_failures_are_audited_and_sent_through_the_notifier(system) -> None:
    configure(system, notify="zhao,ops@example.com")
    bad = add(system)
    clock = Clock(T0)
    log = LogNotifier()
    [result] = scheduler(system, clock, notifier=log).tick()
    assert result["outcome"] == "failed" and result["notified"] == ["log", "log"]
    assert [to for to, _s, _b in log.sent] == ["zhao", "ops@example.com"]
    subject, body = log.sent[0][1:]
    assert "四性检测" in subject and bad in body
    report = json.loads(Path(result["files"][0]).read_text(encoding="utf-8"))
    assert [f["archive_no"] for f in report["failures"]] == [bad] and report["mode"] == "incremental"
    assert Path(result["files"][1]).read_bytes().startswith(b"%PDF")
    assert Path(result["files"][0]).stat().st_mode & 0o077 == 0  # like the data directory: the owner only
    assert Path(result["files"][0]).parent == system.settings.home / "reports" / "verify"
    # audited twice: the 四性 run itself (as the auditor) and the schedule's outcome
    [run] = audit(system, "record.verify")
    assert run["actor"] == "audit1" and run["outcome"] == "failed" and bad in run["detail"]["failed"]
    [task] = audit(system, "worker.task")
    assert task["outcome"] == "failed" and task["detail"]["notified"] == ["log", "log"]
    assert row(system).last_outcome == "failed" and row(system).next_due == T0 + dt.timedelta(days=1)


def test_the_monthly_report_file_holds_the_months_due_records(system) -> None:
    configure(system, verify_every="off", retention_report_day="1", retention_report_as="wang")
    due_may = [add(system, "五月到期甲", dt.date(2020, 5, 15)), add(system, "五月到期乙", dt.date(2020, 5, 31))]
    add(system, "六月到期", dt.date(2020, 6, 2))
    add(system, "早已到期", dt.date(2005, 3, 1))
    clock = Clock(T0)
    log = LogNotifier()
    sched = scheduler(system, clock, notifier=log)
    assert sched.tick() == []  # 20 April: the report waits for the 1st
    clock.now = dt.datetime(2030, 5, 1, 8, 30)
    [result] = sched.tick()
    assert result["outcome"] == "ok"
    folder = system.settings.home / "reports" / "retention"
    data = json.loads((folder / "retention-due-2030-05.json").read_text(encoding="utf-8"))
    assert data["month"] == "2030-05" and sorted(r["archive_no"] for r in data["records"]) == sorted(due_may)
    assert data["falling_due"] == 2 and data["total"] == 3 and data["prepared_as"]["user"] == "wang"
    rows = list(csv.reader(io.StringIO((folder / "retention-due-2030-05.csv").read_text(encoding="utf-8-sig"))))
    assert rows[0][0] == "档号" and sorted(r[0] for r in rows[1:]) == sorted(due_may)
    [(to, subject, body)] = log.sent
    assert to == "wang" and subject == "【到期报告】2030-05 到期 2 件" and all(no in body for no in due_may)
    assert row(system, "retention-report").next_due == dt.datetime(2030, 6, 1)
    clock.now = dt.datetime(2030, 5, 20)
    assert sched.tick() == []
    [entry] = audit(system, "retention.report")
    assert entry["actor"] == "wang" and entry["target"] == "2030-05"


def test_overdue_loan_reminders_run_as_the_lending_archivist(system) -> None:
    configure(system, verify_every="off", remind_every="1d", remind_as="wang")
    system.users.add(system.actor("secofficer"), "sun", ["staff"], "internal", "工程部")
    no = add(system, "水泵保养记录", dt.date(2024, 3, 1))
    wang = system.actor("wang")
    lid = system.loans.request(system.actor("sun"), [no], "核对", "physical", days=3)["loan_id"]
    system.loans.approve(wang, lid)
    system.loans.checkout(wang, lid)
    clock = Clock(dt.datetime.now() + dt.timedelta(days=10))
    log = LogNotifier()
    [result] = scheduler(system, clock, notifier=log).tick()
    assert result["outcome"] == "ok" and "1 条" in result["detail"]
    assert log.sent[0][0] == "sun" and lid in log.sent[0][1]
    assert system.loans.show(wang, lid)["events"][-1]["event"] == "remind"


def test_the_run_as_person_must_exist_and_hold_the_right(system) -> None:
    configure(system, run_as="li")  # staff: may not run 四性 checks
    with pytest.raises(InvalidInput, match="run_as"):
        scheduler(system, Clock(T0)).check()
    configure(system, run_as="nobody")
    with pytest.raises(InvalidInput, match="不存在"):
        scheduler(system, Clock(T0)).check()
    configure(system, run_as="", remind_every="1d")  # the auditor (the default) does not lend
    with pytest.raises(InvalidInput, match="remind_as"):
        scheduler(system, Clock(T0)).check()
    configure(system, run_as="", retention_report_day="1")
    assert any("retention_report_as" in w for w in scheduler(system, Clock(T0)).check())


def test_plans_step_on_their_grid_and_skip_missed_occurrences() -> None:
    daily = Plan("1d")
    assert daily.after(T0, T0 + dt.timedelta(days=3, hours=1)) == T0 + dt.timedelta(days=4)
    assert daily.latest(T0, T0 + dt.timedelta(days=3, hours=1)) == T0 + dt.timedelta(days=3)
    monthly = Plan("monthly:1")
    assert monthly.first(dt.datetime(2030, 12, 15)) == dt.datetime(2031, 1, 1)
    assert monthly.first(dt.datetime(2031, 1, 1)) == dt.datetime(2031, 1, 1)
    # a worker down for two months reports the current month once, then waits for the next
    assert monthly.latest(dt.datetime(2031, 1, 1), dt.datetime(2031, 3, 5)) == dt.datetime(2031, 3, 1)
    assert monthly.after(dt.datetime(2031, 1, 1), dt.datetime(2031, 3, 5)) == dt.datetime(2031, 4, 1)


def test_settings_refuse_a_bad_interval_or_day_in_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="DANGAN_WORKER_VERIFY_EVERY"):
        load_settings(tmp_path, env={"DANGAN_WORKER_VERIFY_EVERY": "daily"})
    with pytest.raises(InvalidInput, match="1 到 28"):
        load_settings(tmp_path, env={"DANGAN_WORKER_RETENTION_REPORT_DAY": "31"})
    (tmp_path / "dangan.toml").write_text('[worker]\nverify_every = "12h"\nretention_report_day = 5\n')
    settings = load_settings(tmp_path, env={})
    assert settings.worker_verify_every == "12h" and settings.worker_retention_report_day == "5"


# -- the commands ------------------------------------------------------------------------


@pytest.fixture
def cli(home: Path) -> Cli:
    c = Cli(home)
    assert c("init", "--admin", "root", "--security", "secofficer", "--auditor", "audit1").exit_code == 0
    return c


def test_worker_status_run_task_and_no_schedule_from_the_command_line(cli: Cli, monkeypatch) -> None:
    monkeypatch.setenv("DANGAN_WORKER_RETENTION_REPORT_DAY", "off")
    stats = cli.json("worker", "--once", "--no-schedule")
    assert stats["tasks"] == []
    status = cli.json("worker", "status")
    assert [s["task"] for s in status["schedules"]] == ["verify", "retention-report", "remind"]
    assert status["schedules"][0]["last_started"] is None and status["schedules"][0]["schedule"] == "每 1 天"

    assert cli.json("worker", "--once")["tasks"] == [{"task": "verify", "outcome": "ok"}]
    assert cli.json("worker", "--once")["tasks"] == []  # done for today
    ran = cli.json("worker", "run-task", "verify")  # by hand: runs now, the count restarts
    assert ran["outcome"] == "ok" and ran["files"][0].endswith(".json")
    [verify] = [s for s in cli.json("worker", "status")["schedules"] if s["task"] == "verify"]
    assert verify["runs"] == 2 and verify["last_outcome"] == "ok" and verify["next_due"] > ran["started"]
    human = cli("worker", "status")
    assert "verify（四性检测（增量），每 1 天）：上次" in human.stdout

    system = open_dangan(cli.home)
    try:
        with system.db.session() as s:
            s.execute(update(ScheduledTask).where(ScheduledTask.name == "verify").values(
                claimed_by="elsewhere:9", lease_until=dt.datetime.now(dt.UTC).replace(tzinfo=None)
                + dt.timedelta(minutes=5)))
    finally:
        system.close()
    busy = cli("worker", "run-task", "verify")
    assert busy.exit_code == 1 and "elsewhere:9" in busy.stderr and busy.stderr.count("\n") == 1


def test_a_worker_refuses_to_start_when_its_run_as_person_cannot_run_the_checks(cli: Cli, monkeypatch) -> None:
    monkeypatch.setenv("DANGAN_WORKER_RUN_AS", "root")  # the admin: no right to run 四性 checks
    refused = cli("worker", "--once")
    assert refused.exit_code == 1 and refused.stderr.count("\n") == 1
    assert "root" in refused.stderr and "[worker] run_as" in refused.stderr and "Traceback" not in refused.stderr
    assert cli.json("worker", "--once", "--no-schedule")["rounds"] == 1  # an ingest-only worker still starts
    assert all(s["runs"] == 0 for s in cli.json("worker", "status")["schedules"])


def test_schedule_status_reads_without_writing(system) -> None:
    configure(system)
    rows = schedule_status(system)
    assert {r["task"]: r["next_due"] for r in rows} == {"verify": None, "retention-report": None, "remind": None}
    assert row(system) is None


def test_two_worker_processes_started_together_run_the_due_check_once(system, db_url: str) -> None:
    add(system)
    env = dict(os.environ, DANGAN_HOME=str(system.settings.home), DANGAN_DATABASE_URL=db_url,
               PYTHONPATH=str(ROOT), DANGAN_WORKER_RETENTION_REPORT_DAY="off")
    procs = [subprocess.Popen([str(DANGAN), "worker", "--once", "--no-outbox", "--json"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _out, err in outs]
    ran = [t for out, _err in outs for t in json.loads(out)["tasks"]]
    assert ran == [{"task": "verify", "outcome": "failed"}] and verify_runs(system) == 1


def test_the_admins_system_status_shows_each_schedule(system) -> None:
    from dangan.web.app import create_app

    configure(system)
    scheduler(system, Clock(T0)).tick()
    client = create_app(system).test_client()
    root = {"Authorization": "Bearer " + system.users.new_token(system.actor("root"), "root")}
    status = client.get("/api/v1/system/status", headers=root).get_json()
    [verify] = [r for r in status["schedules"] if r["task"] == "verify"]
    assert verify["last_outcome"] == "ok" and verify["next_due"] == "2030-04-21T09:00:00Z"


def test_a_failed_check_is_mailed_when_the_loans_mail_settings_name_a_server(system) -> None:
    from email import message_from_bytes
    from email.policy import default

    configure(system)
    bad = add(system)
    with smtp_inbox() as (inbox, port):
        system.loans.rules = replace(system.loans.rules, smtp_host="127.0.0.1", smtp_port=port,
                                     mail_domain="wy.example", mail_from="archive@wy.example")
        [result] = Scheduler(system, "w1", now=Clock(T0), lease=60).tick()  # the notifier the settings make
    assert result["outcome"] == "failed" and result["notified"] == ["audit1@wy.example"]
    [msg] = inbox.messages
    mail = message_from_bytes(msg.content, policy=default)
    assert "四性检测" in mail["Subject"] and bad in mail.get_content()


def test_a_long_check_keeps_its_claim_by_heartbeat(system, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(system)
    add(system)
    real_run = system.verify.run

    def slow_run(*args, **kw):
        time.sleep(5.0)  # a long check: over two leases long
        return real_run(*args, **kw)

    monkeypatch.setattr(system.verify, "run", slow_run)
    first = Scheduler(system, "host-a:1", lease=2.0, notifier=LogNotifier())  # the real clock
    other = open_dangan(system.settings.home, replace(load_settings(system.settings.home),
                                                      **_worker_fields(system.settings)))
    second = Scheduler(other, "host-b:2", lease=2.0, notifier=LogNotifier())
    try:
        runner = threading.Thread(target=first.tick)
        runner.start()
        tries = []
        deadline = time.monotonic() + 4.8
        time.sleep(2.4)  # past the first lease: only the heartbeat keeps the claim
        while time.monotonic() < deadline:
            tries.extend(second.tick())
            time.sleep(0.2)
        runner.join(60)
    finally:
        other.close()
    assert tries == [] and verify_runs(system) == 1 and row(system).last_worker == "host-a:1"


def test_a_report_file_left_half_written_by_a_killed_worker_is_removed_later(tmp_path: Path) -> None:
    from dangan.worker.tasks import STALE_PART_SECONDS, _write

    folder = tmp_path / "reports" / "verify"
    folder.mkdir(parents=True)
    orphan, fresh = folder / "verify-000007.json.part", folder / "verify-000009.pdf.part"
    orphan.write_bytes(b"{\"half")
    fresh.write_bytes(b"%PDF")  # another writer's file of a moment ago: left alone
    old = time.time() - STALE_PART_SECONDS - 60
    os.utime(orphan, (old, old))
    written = _write(folder / "verify-000008.json", b"{}")
    assert sorted(p.name for p in folder.iterdir()) == ["verify-000008.json", "verify-000009.pdf.part"]
    assert Path(written).read_bytes() == b"{}" and oct(Path(written).stat().st_mode & 0o777) == "0o600"
