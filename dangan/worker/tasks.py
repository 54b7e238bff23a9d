"""The scheduled tasks' bodies: each calls the same service method as its command, as the
configured person, and shapes what came back into an outcome, report files and a notice.

- `verify`: `dangan verify --incremental` (VerifyService.run, mode "incremental");
- `retention-report`: `dangan retention report --month` (RetentionService.report);
- `remind`: `dangan borrow remind` (loans.notify.send_reminders).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dangan.archive.permissions import Actor
from dangan.integrity.service import report_pdf
from dangan.loans.notify import Notifier, send_reminders

NOTICE_LINES = 50  # records listed in a notice's body; the files hold them all


@dataclass
class Outcome:
    """What a run found: "ok" or "failed" (it ran and found problems), one sentence, the
    files it wrote, and the notice to send (subject, body) if any."""

    outcome: str
    detail: str
    files: list[str] = field(default_factory=list)
    notice: tuple[str, str] | None = None
    data: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    name: str
    title: str  # what the schedule calls it, in Chinese
    right: str  # the right its person must hold
    run: Callable[[Any, Actor, dt.datetime], Outcome]  # (scheduler, actor, occurrence)


STALE_PART_SECONDS = 3600.0  # a report is written in well under a second; an hour-old .part is orphaned


def _write(path: Path, data: bytes) -> str:
    """Whole file or none, so a reader never sees half a report; folders made here are
    0700 and files 0600, as the data directory (reports name records and titles)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    for stale in path.parent.glob("*.part"):  # a writer killed mid-file: its name is never reused
        with contextlib.suppress(FileNotFoundError):
            if time.time() - stale.stat().st_mtime > STALE_PART_SECONDS:
                stale.unlink()
    tmp = path.with_name(path.name + ".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    tmp.replace(path)
    return str(path)


def run_verify(sched: Any, actor: Actor, occurrence: dt.datetime) -> Outcome:
    system = sched.system
    report = system.verify.run(actor, mode="incremental", due_days=system.settings.worker_verify_due_days)
    failures = [r for r in report["results"] if not r["ok"]]
    slim = {k: v for k, v in report.items() if k != "results"}
    slim["failures"] = failures  # the shape `dangan verify --report FILE` writes
    folder = sched.reports / "verify"
    stem = f"verify-{report['run_id']:06d}"
    files = [_write(folder / f"{stem}.json",
                    json.dumps(slim, ensure_ascii=False, indent=2, default=str).encode("utf-8")),
             _write(folder / f"{stem}.pdf", report_pdf(report))]
    data = {"run": report["run_id"], "checked": report["checked"], "failed": len(failures),
            "batch": sorted(report.get("batch", {}))}
    if not failures and not report.get("batch"):
        return Outcome("ok", f"检测 {report['checked']} 件，全部通过。", files, None, data)
    lines = [f"{r['archive_no']}：" + "；".join(f"{k} {v}" for k, v in r["details"].items() if v is not True)
             for r in failures[:NOTICE_LINES]]
    lines += [f"（整批）{k}：{v}" for k, v in report.get("batch", {}).items()]
    more = f"\n……另有 {len(failures) - NOTICE_LINES} 件，见报告。" if len(failures) > NOTICE_LINES else ""
    count = len(failures) + (1 if report.get("batch") else 0)
    subject = f"【四性检测】{count} 项未通过（检测编号 {report['run_id']}）"
    body = (f"定时四性检测（增量）于 {report['finished_at']} 完成：检测 {report['checked']} 件，"
            f"{count} 项未通过。\n\n" + "\n".join(lines) + more +
            f"\n\n报告：{files[1]}\n—— Dangan 档案管理系统")
    return Outcome("failed", f"检测 {report['checked']} 件，{count} 项未通过（检测编号 {report['run_id']}）。",
                   files, (subject, body), data)


REPORT_COLUMNS = [("archive_no", "档号"), ("title", "题名"), ("category", "类别"), ("location", "位置编码"),
                  ("year", "年度"), ("date", "文件日期"), ("period", "保管期限"), ("until", "到期日"),
                  ("decision", "鉴定结论"), ("holds", "冻结"), ("paper_box", "存放位置")]


def report_csv(rows: list[dict]) -> bytes:
    """UTF-8 with a BOM, as the destruction register's CSV, so spreadsheets read the Chinese."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([label for _, label in REPORT_COLUMNS])
    for row in rows:
        writer.writerow(["、".join(v) if isinstance(v := row.get(key), list) else ("" if v is None else v)
                         for key, _ in REPORT_COLUMNS])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def run_retention_report(sched: Any, actor: Actor, occurrence: dt.datetime) -> Outcome:
    month = occurrence.strftime("%Y-%m")
    data = sched.system.retention.report(actor, month)
    data["prepared_as"] = {"user": actor.name, "clearance": actor.clearance}
    folder = sched.reports / "retention"
    files = [_write(folder / f"retention-due-{month}.json",
                    json.dumps(data, ensure_ascii=False, indent=2, default=str).encode("utf-8")),
             _write(folder / f"retention-due-{month}.csv", report_csv(data["records"]))]
    rows = data["records"]
    lines = [f"{r['archive_no']}  到期 {r['until']}  {r['title']}" for r in rows[:NOTICE_LINES]]
    if len(rows) > NOTICE_LINES:
        lines.append(f"……另有 {len(rows) - NOTICE_LINES} 件，见报告。")
    subject = f"【到期报告】{month} 到期 {data['falling_due']} 件"
    body = (f"{month} 月度到期报告：本月到期 {data['falling_due']} 件（截至月末累计到期 {data['total']} 件）。\n\n"
            + "\n".join(lines) + f"\n\n报告：{files[0]}、{files[1]}\n—— Dangan 档案管理系统")
    return Outcome("ok", f"{month} 到期 {data['falling_due']} 件，报告已写出。", files, (subject, body),
                   {"month": month, "falling_due": data["falling_due"], "total": data["total"]})


def run_remind(sched: Any, actor: Actor, occurrence: dt.datetime) -> Outcome:
    notifier: Notifier = sched.notifier
    sent = send_reminders(sched.system.loans, actor, notifier, sched.now().date())
    return Outcome("ok", f"已发送 {len(sent)} 条催还提醒。", [], None,
                   {"sent": len(sent), "loans": [r["loan_id"] for r in sent][:NOTICE_LINES]})


TASKS: dict[str, Task] = {t.name: t for t in (
    Task("verify", "四性检测（增量）", "record.verify", run_verify),
    Task("retention-report", "月度到期报告", "retention.read", run_retention_report),
    Task("remind", "借阅催还提醒", "loan.desk", run_remind),
)}
