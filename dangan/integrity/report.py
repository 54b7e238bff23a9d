"""The verify report: each record's row in the CONTRACT.md shape, the run's summary, the PDF.

Rows and tallies are built once per record of a run, so a record that passed every check
(nearly all of them, in a periodic run) takes the short way: no per-check folding.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from dangan.archive.permissions import Actor
from dangan.ingest import checks as lib
from dangan.integrity import pdf

ALL_PASSED: dict[str, bool | str] = dict.fromkeys(lib.CATEGORIES, True)


def number(meta: dict) -> str:
    """The number a record is reported under: its 档号, else its provisional number."""
    return meta.get("archive_no") or meta.get("provisional_no") or ""


def passed(details: dict) -> bool:
    return all(v is True for v in details.values())


def shape(meta: dict, details: dict, ok: bool | None = None) -> dict:
    """The CONTRACT.md verify shape, with each check's outcome beside it.

    `ok` is `passed(details)` when the caller already knows it.
    """
    if ok is None:
        ok = passed(details)
    if ok:
        return {"archive_no": number(meta), "ok": True, "checks": dict(ALL_PASSED), "details": details,
                "title": meta.get("title")}
    checks: dict[str, bool | str] = dict(ALL_PASSED)
    registry: dict[str, lib.Check | lib.BatchCheck] = {**lib.REGISTRY, **lib.BATCH_REGISTRY}
    for name, outcome in details.items():
        if outcome is True or name not in registry:
            continue
        category = registry[name].category
        checks[category] = outcome if checks[category] is True else f"{checks[category]}{outcome}"
    return {"archive_no": number(meta), "ok": all(v is True for v in checks.values()),
            "checks": checks, "details": details, "title": meta.get("title")}


def summary(rows: list[dict], batch_level: dict[str, str], total: int, checked: int, mode: str,
            stage: str, actor: Actor, started: dt.datetime, finished: dt.datetime) -> dict[str, Any]:
    """The run's facts and, per check, how many records passed and failed it."""
    passes: Counter[str] = Counter()
    fails: Counter[str] = Counter()
    for r in rows:
        if r["ok"]:
            passes.update(r["details"].keys())
            continue
        for name, outcome in r["details"].items():
            (passes if outcome is True else fails)[name] += 1
    per_check = {name: {"passed": passes[name], "failed": fails[name]}
                 for name in dict.fromkeys([*passes, *fails])}
    return {"mode": mode, "stage": stage, "actor": actor.name,
            "started_at": started.isoformat(timespec="seconds") + "Z",
            "finished_at": finished.isoformat(timespec="seconds") + "Z",
            "total": total, "checked": checked, "skipped": total - checked,
            "failed": sum(1 for r in rows if not r["ok"]) + (1 if batch_level else 0),
            "per_check": per_check, "catalogue": lib.catalogue()}


def report_pdf(report: dict, title: str = "电子档案四性检测报告") -> bytes:
    """The report for filing: what ran, per-check tallies, every failure."""
    names = {c["id"]: c for c in report.get("catalogue", lib.catalogue())}
    tally = report.get("per_check", {})
    rows = [[c["id"], c["name"], c["category_name"], "、".join(c["stages"]),
             tally.get(c["id"], {}).get("passed", 0), tally.get(c["id"], {}).get("failed", 0)]
            for c in names.values()]
    failures = []
    for r in report.get("failures", [r for r in report.get("results", []) if not r["ok"]]):
        for name, outcome in r["details"].items():
            if outcome is not True:
                failures.append([r["archive_no"], names.get(name, {}).get("name", name), outcome])
    for name, sentence in report.get("batch", {}).items():
        failures.append(["（整批）", names.get(name, {}).get("name", name), sentence])
    mode: dict[object, str] = {"full": "全部检测", "incremental": "增量检测（仅变化或到期的档案）", "selected": "指定档案"}
    facts = [("检测编号", report.get("run_id")), ("检测方式", mode.get(report.get("mode"), report.get("mode"))),
             ("依据", "DA/T 70-2018 文书类电子档案检测一般要求"), ("检测人", report.get("actor")),
             ("开始时间", report.get("started_at")), ("结束时间", report.get("finished_at")),
             ("范围内档案", f"{report.get('total')} 件，本次读取 {report.get('checked')} 件，"
                        f"跳过 {report.get('skipped')} 件"),
             ("结论", "全部通过" if not report.get("failed") else f"{report.get('failed')} 件未通过")]
    return pdf.render(title, facts, [("检测项目", ["编号", "检测项", "性质", "环节", "通过", "未通过"], rows),
                                     ("未通过的项目", ["档号", "检测项", "说明"], failures)],
                      signatures=("检测人", "审核人"))
