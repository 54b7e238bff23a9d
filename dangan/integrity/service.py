"""`dangan verify`: the 四性 checks (DA/T 70-2018) over stored records, with a report.

Each record is read once: its data key unwraps, every segment authenticates, the
SHA-256 and size are taken on the way. The checks that need the plaintext as a file
(format, opens and renders, active content, archival format) run on a private temporary
copy — and only when their last outcome does not already hold for exactly these bytes
(same SHA-256, same check library): an unchanged original gives the same answer, so a
full run re-reads everything but re-renders nothing it has rendered before (`deep`
forces it). Metadata checks, the audit trail and the batch checks (档号 uniqueness,
duplicates, counts, 件号 continuity) need no content.

Modes: `selected` (named records), `full` (every record), `incremental` (the periodic
run: only records never checked, changed since — version, key or digest — failed last
time, or checked longer ago than `due_days`). Each run is remembered in `verify_runs`
and each record's outcome in `verify_state`, in one transaction with the audit entry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select

from dangan.archive.models import ArchiveAlias, AuditEntry, Record, table_of, utcnow
from dangan.archive.permissions import Actor
from dangan.errors import DanganError, IntegrityError, InvalidInput, NotFound, PermissionDenied
from dangan.ingest import checks as lib
from dangan.integrity import pdf
from dangan.integrity import scratch as scratch_files
from dangan.integrity.models import VerifyRun, VerifyState

# pages_complete needs a full extraction (OCR); opens_and_renders already draws every page
PERIODIC = [c.name for c in lib.select("periodic") if c.name != "pages_complete"]
CONTENT = ("format_matches", "opens_and_renders", "archival_format", "no_active_content")
FILE_ONLY = {"sha256_recorded", "fixity", "size_matches", "file_name_recorded", "objects_present",
             "decrypts", *CONTENT}
LIBRARY_VERSION = "2"  # bump when a content check changes, so cached outcomes are redone
AUDITED = ("record.ingest", "record.edit", "record.confirm", "handover.import")
DUE_DAYS = 365
# the checks to run, selected once: (has a file, content checks due) → [Check]
_PLAN = {(has_file, content): [c for c in lib.select(PERIODIC)
                               if (has_file or c.name not in FILE_ONLY) and (content or c.name not in CONTENT)]
         for has_file in (True, False) for content in (True, False)}


def _meta(system: Any, rec: Record) -> dict:
    return system.records.describe(rec)


class VerifyService:
    def __init__(self, system: Any) -> None:
        self.system = system

    # -- running --------------------------------------------------------------------

    def run(self, actor: Actor, refs: Iterable[str] | None = None, *, mode: str | None = None,
            deep: bool = False, due_days: int = DUE_DAYS, stage: str = "periodic") -> dict:
        """Check records and file the report; returns it ({"run_id", ..., "results": [...]})."""
        if not actor.can("record.verify"):
            self.system.records.refuse(actor, "record.verify", None,
                                       f"用户 {actor.name} 没有“检测档案”的权限。")
        refs = list(refs) if refs is not None else None
        mode = mode or ("selected" if refs is not None else "full")
        if mode not in ("selected", "full", "incremental"):
            raise InvalidInput(f"检测方式 {mode!r} 无效：应为 full 或 incremental。")
        if due_days < 0:
            raise InvalidInput("--due-days 不能为负数。")
        started = utcnow()
        db = self.system.db
        with db.read() as s:
            # plain rows, not ORM objects: a run over 100,000 records pays per attribute
            table = table_of(Record)
            if refs is not None:
                ids = [self.system.records.find(s, r).id for r in refs]
                rows = {r.id: r for r in s.execute(select(table).where(table.c.id.in_(ids)))}
                scope = [rows[i] for i in ids]
                everything = scope
            else:
                everything = list(s.execute(select(table).order_by(table.c.ingested_at, table.c.id)))
                scope = [r for r in everything if r.status != "destroyed"]
            states = {st.record_id: st for st in s.execute(select(table_of(VerifyState)))}
            aliases: dict[str, list[str]] = {}
            for alias, rid in s.execute(select(ArchiveAlias.alias, ArchiveAlias.record_id)):
                aliases.setdefault(rid, []).append(alias)
            events: dict[str, list[str]] = {}
            for action, target in s.execute(select(AuditEntry.action, AuditEntry.target)
                                            .where(AuditEntry.action.in_(AUDITED))):
                events.setdefault(target, []).append(action)
        if mode == "incremental":
            limit = started - dt.timedelta(days=due_days)
            todo = [r for r in scope if self._due(r, states.get(r.id), limit)]
        else:
            todo = scope
        scratch = self.system.settings.home / "tmp"
        scratch.mkdir(mode=0o700, exist_ok=True)
        scratch_files.sweep(scratch)  # a killed run's decrypted copy goes before this run starts
        metas = {r.id: _meta(self.system, r) for r in scope}
        results: dict[str, dict] = {}
        new_states: dict[str, dict] = {}
        for rec in todo:
            numbers = {rec.archive_no, rec.provisional_no, *aliases.get(rec.id, [])} - {None}
            rec_events = [a for n in numbers for a in events.get(n, [])]
            details, content = self._check(rec, metas[rec.id], rec_events, states.get(rec.id), deep, scratch)
            results[rec.id] = details
            new_states[rec.id] = {"content": content}
        batch_findings = self._batch(everything, scope, metas, aliases, events, whole=refs is None,
                                     stage=stage)
        report_rows = []
        batch_level: dict[str, str] = {}
        by_number = {(_no(m)): rid for rid, m in metas.items()}
        for name, found in batch_findings.items():
            for key, sentence in found.items():
                rid = by_number.get(key)
                if rid is None:
                    batch_level[name] = sentence
                    continue
                if rid not in results:  # not read this run: it still carries the finding
                    results[rid] = self._previous(states.get(rid))
                    new_states.setdefault(rid, {"content": None, "kept": True})
                results[rid][name] = sentence
        for name in batch_findings:
            for rid in todo:
                results[rid.id].setdefault(name, True)
        for rec in scope:
            if rec.id in results:
                report_rows.append(self._shape(metas[rec.id], results[rec.id]))
        finished = utcnow()
        summary = self._summary(report_rows, batch_level, len(scope), len(todo), mode, stage, actor,
                                started, finished)
        with db.session() as s:
            run = VerifyRun(started_at=started, finished_at=finished, actor=actor.name, mode=mode,
                            stage=stage, total=len(scope), checked=len(todo),
                            failed=summary["failed"], report="{}")
            s.add(run)
            s.flush()
            summary["run_id"] = run.id
            failures = [r for r in report_rows if not r["ok"]]
            run.report = json.dumps({**summary, "failures": failures}, ensure_ascii=False, default=str)
            ids = list(new_states)
            for start in range(0, len(ids), 500):
                s.execute(delete(VerifyState).where(VerifyState.record_id.in_(ids[start:start + 500])))
            state_rows: list[dict[str, Any]] = []
            by_id = {r.id: r for r in everything}
            for rid, extra in new_states.items():
                rec_row = metas[rid]
                details = results[rid]
                old = states.get(rid)
                content = extra.get("content")
                if content is None and old is not None and old.sha256 == rec_row["sha256"]:
                    content = old.content
                read = not extra.get("kept")
                state_rows.append({
                    "record_id": rid, "checked_at": finished if read else (old.checked_at if old else finished),
                    "version": rec_row["version"] if read or old is None else old.version,
                    "kek_id": by_id[rid].kek_id if read or old is None else old.kek_id,
                    "sha256": rec_row["sha256"], "ok": all(v is True for v in details.values()),
                    "content": content, "run_id": run.id,
                    # a pass is all True: only failures are worth the bytes
                    "details": "{}" if all(v is True for v in details.values())
                    else json.dumps(details, ensure_ascii=False)})
            if state_rows:
                s.execute(table_of(VerifyState).insert(), state_rows)
            bad = [r["archive_no"] for r in failures]
            self.system.audit.append(s, actor.name, "record.verify", None, "ok" if not bad else "failed",
                                     {"run": run.id, "mode": mode, "records": len(todo),
                                      "failed": bad[:50]})
        return {**summary, "results": report_rows, "batch": batch_level}

    @staticmethod
    def _due(rec: Record, state: VerifyState | None, limit: dt.datetime) -> bool:
        return (state is None or not state.ok or state.version != rec.version or state.kek_id != rec.kek_id
                or state.sha256 != rec.sha256 or state.checked_at < limit)

    @staticmethod
    def _previous(state: VerifyState | None) -> dict:
        return json.loads(state.details) if state is not None else {}

    def _check(self, rec: Record, meta: dict, rec_events: list[str], state: VerifyState | None,
               deep: bool, scratch: Path) -> tuple[dict, str | None]:
        """{check id: True | sentence} for one record, and the content outcomes to remember."""
        extra: dict[str, Any] = {"audit_events": rec_events}
        ctx = lib.CheckContext(sha256=rec.sha256, media_type=rec.media_type, metadata=meta, extra=extra,
                               scheme=self.system.scheme)
        cached: dict | None = None
        if state is not None and state.content and state.sha256 == rec.sha256 and not deep:
            stored = json.loads(state.content)
            if stored.get("library") == LIBRARY_VERSION:
                cached = stored["results"]
        tmp: str | None = None
        try:
            if rec.sha256 is not None:
                tmp = self._read(rec, extra, scratch, want_file=cached is None)
                if tmp is not None:
                    ctx.path = Path(tmp)
            if rec.has_text and not extra.get("decrypt_error"):
                try:
                    pages = self.system.records.read_text_pages(rec)
                    if not isinstance(pages, list):
                        extra["metadata_error"] = "全文不是逐页的列表。"
                except NotFound:
                    extra["missing"] = "全文对象缺失。"
                except IntegrityError as exc:
                    extra["decrypt_error"] = f"全文解密校验失败：{exc}"
                except ValueError:
                    extra["metadata_error"] = "全文不是有效的 JSON。"
            readable = rec.sha256 is not None and "decrypt_error" not in extra and "missing" not in extra
            found = lib.run_checks(ctx, _PLAN[(rec.sha256 is not None, readable and cached is None)])
            content_out = None
            if readable and cached is None and extra.get("actual_sha256") == rec.sha256:
                content_out = json.dumps({"library": LIBRARY_VERSION,
                                          "results": {n: found.get(n) for n in CONTENT if n in found}},
                                         ensure_ascii=False)
            elif cached is not None and readable and extra.get("actual_sha256") == rec.sha256:
                found.update({n: v for n, v in cached.items() if n in CONTENT})
            details = {n: (True if v is None else v) for n, v in found.items()}
            return details, content_out
        finally:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)

    def _read(self, rec: Record, extra: dict, scratch: Path, want_file: bool) -> str | None:
        """Decrypt once, hashing and counting; a private plaintext copy if checks need a file."""
        try:
            chunks = self.system.records.iter_original(rec)  # unwraps the key, opens the object
        except NotFound:
            extra["missing"] = "原件对象缺失。"
            return None
        except DanganError as exc:
            extra["decrypt_error"] = f"无法用本档案的密钥解开数据密钥：{exc}"
            return None
        fd, tmp = scratch_files.make(scratch) if want_file else (None, None)
        digest = hashlib.sha256()
        size = 0
        out = os.fdopen(fd, "wb") if fd is not None else None
        try:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                if out is not None:
                    out.write(chunk)
        except NotFound:
            extra["missing"] = "原件对象缺失。"
        except IntegrityError as exc:
            extra["decrypt_error"] = f"原件解密校验失败：{exc}"
        finally:
            if out is not None:
                out.close()
        if "missing" in extra or "decrypt_error" in extra:
            if tmp:
                Path(tmp).unlink(missing_ok=True)
            return None
        extra["actual_sha256"] = digest.hexdigest()
        extra["actual_size"] = size
        return tmp

    def _batch(self, everything: list[Record], scope: list[Record], metas: dict[str, dict],
               aliases: dict[str, list[str]], events: dict[str, list[str]], whole: bool,
               stage: str) -> dict[str, dict[str, str]]:
        explained = {r.archive_no for r in everything if r.status == "destroyed" and r.archive_no}
        explained |= {a for rid, names in aliases.items() for a in names if not a.startswith("DFL-")}
        foreign = {n for n, acts in events.items() if "handover.import" in acts}
        ctx = lib.BatchContext(records=[metas[r.id] for r in scope], scheme=self.system.scheme,
                               explained=explained, foreign=foreign, whole_archive=whole)
        return lib.run_batch_checks(ctx, stage)

    @staticmethod
    def _shape(meta: dict, details: dict) -> dict:
        """The CONTRACT.md verify shape, with each check's outcome beside it."""
        checks: dict[str, bool | str] = {c: True for c in lib.CATEGORIES}
        registry: dict[str, lib.Check | lib.BatchCheck] = {**lib.REGISTRY, **lib.BATCH_REGISTRY}
        for name, outcome in details.items():
            if outcome is True or name not in registry:
                continue
            category = registry[name].category
            checks[category] = outcome if checks[category] is True else f"{checks[category]}{outcome}"
        return {"archive_no": _no(meta), "ok": all(v is True for v in checks.values()),
                "checks": checks, "details": details, "title": meta.get("title")}

    @staticmethod
    def _summary(rows: list[dict], batch_level: dict[str, str], total: int, checked: int, mode: str,
                 stage: str, actor: Actor, started: dt.datetime, finished: dt.datetime) -> dict:
        per_check: dict[str, dict[str, int]] = {}
        for r in rows:
            for name, outcome in r["details"].items():
                tally = per_check.setdefault(name, {"passed": 0, "failed": 0})
                tally["passed" if outcome is True else "failed"] += 1
        return {"mode": mode, "stage": stage, "actor": actor.name,
                "started_at": started.isoformat(timespec="seconds") + "Z",
                "finished_at": finished.isoformat(timespec="seconds") + "Z",
                "total": total, "checked": checked, "skipped": total - checked,
                "failed": sum(1 for r in rows if not r["ok"]) + (1 if batch_level else 0),
                "per_check": per_check, "catalogue": lib.catalogue()}

    # -- reports --------------------------------------------------------------------

    def latest(self, actor: Actor, run_id: int | None = None) -> dict:
        """The report of the latest run (or of `run_id`): summary and failures."""
        if not (actor.can("record.verify") or actor.can("audit.read")):
            raise PermissionDenied(f"用户 {actor.name} 无权查看四性检测报告。")
        with self.system.db.read() as s:
            query = select(VerifyRun)
            query = query.where(VerifyRun.id == run_id) if run_id else query.order_by(VerifyRun.id.desc())
            run = s.execute(query.limit(1)).scalar_one_or_none()
            if run is None:
                raise NotFound("还没有做过四性检测。" if run_id is None else f"检测记录 {run_id} 不存在。")
            return json.loads(run.report)

    def runs(self, actor: Actor, limit: int = 20) -> list[dict]:
        if not (actor.can("record.verify") or actor.can("audit.read")):
            raise PermissionDenied(f"用户 {actor.name} 无权查看四性检测记录。")
        with self.system.db.read() as s:
            rows = s.execute(select(VerifyRun).order_by(VerifyRun.id.desc()).limit(limit)).scalars()
            return [{"run_id": r.id, "started_at": r.started_at.isoformat(timespec="seconds") + "Z",
                     "actor": r.actor, "mode": r.mode, "total": r.total, "checked": r.checked,
                     "failed": r.failed} for r in rows]


def _no(meta: dict) -> str:
    return meta.get("archive_no") or meta.get("provisional_no") or ""


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
