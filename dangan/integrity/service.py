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
from collections import namedtuple
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from dangan.archive.models import ArchiveAlias, AuditEntry, Record, table_of, utcnow
from dangan.archive.permissions import Actor
from dangan.errors import DanganError, IntegrityError, InvalidInput, NotFound, PermissionDenied
from dangan.ingest import checks as lib
from dangan.integrity import report
from dangan.integrity import scratch as scratch_files
from dangan.integrity import state as remember
from dangan.integrity.memory import keep_freed_buffers
from dangan.integrity.models import VerifyRun, VerifyState
from dangan.integrity.report import report_pdf

__all__ = ["VerifyService", "report_pdf"]

# pages_complete needs a full extraction (OCR); opens_and_renders already draws every page
PERIODIC = [c.name for c in lib.select("periodic") if c.name != "pages_complete"]
CONTENT = ("format_matches", "opens_and_renders", "archival_format", "no_active_content")
FILE_ONLY = {"sha256_recorded", "fixity", "size_matches", "file_name_recorded", "objects_present",
             "decrypts", *CONTENT}
LIBRARY_VERSION = "2"  # bump when a content check changes, so cached outcomes are redone
AUDITED = ("record.ingest", "record.edit", "record.confirm", "handover.import")
DUE_DAYS = 365
RECORD = table_of(Record)
_tuple_type: Callable[..., Any] = namedtuple  # built from the tables' columns, so not a literal
RecordRow = _tuple_type("RecordRow", [c.key for c in RECORD.c])  # a `records` row, as read for a run
StateRow = _tuple_type("StateRow", [c.key for c in remember.STATE.c])  # a `verify_state` row
# the checks to run, selected once: (has a file, content checks due) → [Check]
_PLAN = {(has_file, content): [c for c in lib.select(PERIODIC)
                               if (has_file or c.name not in FILE_ONLY) and (content or c.name not in CONTENT)]
         for has_file in (True, False) for content in (True, False)}


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
        keep_freed_buffers()  # read buffers reused record after record, not faulted in afresh
        started = utcnow()
        everything, scope, states, aliases, events = self._load(refs)
        if mode == "incremental":
            limit = started - dt.timedelta(days=due_days)
            todo = [r for r in scope if self._due(r, states.get(r.id), limit)]
        else:
            todo = scope
        scratch = self.system.settings.home / "tmp"
        scratch.mkdir(mode=0o700, exist_ok=True)
        scratch_files.sweep(scratch)  # a killed run's decrypted copy goes before this run starts
        describe = self.system.records.describe
        metas = {r.id: describe(r) for r in scope}
        results: dict[str, dict] = {}
        passes: dict[str, bool] = {}
        new_states: dict[str, dict] = {}
        remembered: dict[str, dict | None] = {}  # state.content JSON → its outcomes, parsed once per run
        for rec in todo:
            if rec.provisional_no is None and rec.id not in aliases:  # most records: one number
                rec_events = events.get(rec.archive_no, []) if rec.archive_no else []
            else:
                numbers = {rec.archive_no, rec.provisional_no, *aliases.get(rec.id, ())} - {None}
                rec_events = [a for n in numbers for a in events.get(n, ())]
            cached = None if deep else self._cached(rec, states.get(rec.id), remembered)
            details, content, passes[rec.id] = self._check(rec, metas[rec.id], rec_events, cached, scratch)
            results[rec.id] = details
            new_states[rec.id] = {"content": content}
        batch_findings = self._batch(everything, scope, metas, aliases, events, whole=refs is None,
                                     stage=stage)
        batch_passed = dict.fromkeys(batch_findings, True)
        for rec in todo:  # every batch check ran over these records; the findings below say who failed
            results[rec.id].update(batch_passed)
        batch_level: dict[str, str] = {}
        by_number = {report.number(m): rid for rid, m in metas.items()}
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
                passes[rid] = False
        report_rows = [report.shape(metas[rec.id], results[rec.id], passes.get(rec.id))
                       for rec in scope if rec.id in results]
        finished = utcnow()
        summary = report.summary(report_rows, batch_level, len(scope), len(todo), mode, stage, actor,
                                 started, finished)
        with self.system.db.session() as s:
            run = VerifyRun(started_at=started, finished_at=finished, actor=actor.name, mode=mode,
                            stage=stage, total=len(scope), checked=len(todo),
                            failed=summary["failed"], report="{}")
            s.add(run)
            s.flush()
            summary["run_id"] = run.id
            failures = [r for r in report_rows if not r["ok"]]
            run.report = json.dumps({**summary, "failures": failures}, ensure_ascii=False, default=str)
            by_id = {r.id: r for r in everything}
            state_rows = [self._state_row(by_id[rid], metas[rid], results[rid], passes.get(rid), extra,
                                          states.get(rid), run.id, finished)
                          for rid, extra in new_states.items()]
            remember.write(s, state_rows, states, run.id, finished)
            bad = [r["archive_no"] for r in failures]
            self.system.audit.append(s, actor.name, "record.verify", None, "ok" if not bad else "failed",
                                     {"run": run.id, "mode": mode, "records": len(todo),
                                      "failed": bad[:50]})
        return {**summary, "results": report_rows, "batch": batch_level}

    def _load(self, refs: list[str] | None) -> tuple[list, list, dict, dict[str, list[str]], dict[str, list[str]]]:
        """Every record row, the ones in scope, remembered states, aliases and audited events.

        One query each, and each row copied into a named tuple: the describe, the checks and
        the read ask a record for some forty attributes, a quarter of a microsecond each on a
        SQLAlchemy row and a fortieth of that on a tuple.
        """
        with self.system.db.read() as s:
            if refs is not None:
                ids = [self.system.records.find(s, r).id for r in refs]
                rows = {r.id: r for r in map(RecordRow._make, s.execute(select(RECORD).where(RECORD.c.id.in_(ids))))}
                scope = [rows[i] for i in ids]
                everything = scope
            else:
                everything = list(map(RecordRow._make, s.execute(select(RECORD).order_by(RECORD.c.ingested_at,
                                                                                          RECORD.c.id))))
                scope = [r for r in everything if r.status != "destroyed"]
            states = {st.record_id: st for st in map(StateRow._make, s.execute(select(remember.STATE)))}
            aliases: dict[str, list[str]] = {}
            for alias, rid in s.execute(select(ArchiveAlias.alias, ArchiveAlias.record_id)):
                aliases.setdefault(rid, []).append(alias)
            events: dict[str, list[str]] = {}
            for action, target in s.execute(select(AuditEntry.action, AuditEntry.target)
                                            .where(AuditEntry.action.in_(AUDITED))):
                events.setdefault(target, []).append(action)
        return everything, scope, states, aliases, events

    @staticmethod
    def _cached(rec: Any, state: VerifyState | None, remembered: dict[str, dict | None]) -> dict | None:
        """The content checks' outcomes remembered for exactly these bytes and this library."""
        if state is None or not state.content or state.sha256 != rec.sha256:
            return None
        if state.content not in remembered:  # identical for nearly every record: parse it once
            stored = json.loads(state.content)
            remembered[state.content] = stored["results"] if stored.get("library") == LIBRARY_VERSION else None
        return remembered[state.content]

    @staticmethod
    def _state_row(rec: Any, meta: dict, details: dict, ok: bool | None, extra: dict, old: Any,
                   run_id: int, finished: dt.datetime) -> dict[str, Any]:
        """The `verify_state` row a run leaves for one record."""
        content = extra.get("content")
        if content is None and old is not None and old.sha256 == meta["sha256"]:
            content = old.content
        read = not extra.get("kept")
        ok = report.passed(details) if ok is None else ok
        return {"record_id": rec.id, "checked_at": finished if read else (old.checked_at if old else finished),
                "version": meta["version"] if read or old is None else old.version,
                "kek_id": rec.kek_id if read or old is None else old.kek_id,
                "sha256": meta["sha256"], "ok": ok, "content": content, "run_id": run_id,
                "details": remember.PASSED if ok else json.dumps(details, ensure_ascii=False)}

    @staticmethod
    def _due(rec: Record, state: VerifyState | None, limit: dt.datetime) -> bool:
        return (state is None or not state.ok or state.version != rec.version or state.kek_id != rec.kek_id
                or state.sha256 != rec.sha256 or state.checked_at < limit)

    @staticmethod
    def _previous(state: VerifyState | None) -> dict:
        return json.loads(state.details) if state is not None else {}

    def _check(self, rec: Any, meta: dict, rec_events: list[str], cached: dict | None,
               scratch: Path) -> tuple[dict, str | None, bool]:
        """{check id: True | sentence} for one record, the content outcomes to remember, and
        whether it passed every check.

        `cached` holds the content checks' outcomes remembered for these bytes: they are
        taken only if the bytes read now still hash to the recorded SHA-256.
        """
        extra: dict[str, Any] = {"audit_events": rec_events}
        ctx = lib.CheckContext(sha256=rec.sha256, media_type=rec.media_type, metadata=meta, extra=extra,
                               scheme=self.system.scheme)
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
            failed = {n: v for n, v in found.items() if v is not None}
            details: dict[str, bool | str] = dict.fromkeys(found, True)
            details.update(failed)
            return details, content_out, not failed
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

