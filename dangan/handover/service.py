"""The handover service: 移交 (export a transfer package) and 接管 (take one over).

The CLI, the API and the pages all call this. Rights: `handover.export` and
`handover.import` (archivists). Every export and takeover is audited, per record and per
package, in the transaction that records it.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import select

from dangan.archive.models import utcnow
from dangan.archive.permissions import Actor
from dangan.errors import InvalidInput, NotFound
from dangan.handover import checklist as checklist_mod
from dangan.handover import export as export_mod
from dangan.handover import importer
from dangan.handover.models import HandoverItem, HandoverPackage
from dangan.handover.report import takeover_pdf


class HandoverService:
    def __init__(self, system: Any) -> None:
        self.system = system

    # -- 移交 -------------------------------------------------------------------------

    def export(self, actor: Actor, out: Path, location: str | None = None, query: str | None = None,
               sender: str | None = None, receiver: str | None = None) -> dict:
        """Write the transfer package (a BagIt bag) at `out`; its facts."""
        return export_mod.export(self.system, actor, Path(out), location, query, sender, receiver)

    def export_zip(self, actor: Actor, location: str | None = None, query: str | None = None,
                   sender: str | None = None, receiver: str | None = None) -> tuple[dict, Iterator[bytes]]:
        """The package as a zip stream (stored, not compressed): facts and the byte chunks.

        The bag is built in a private temporary directory, streamed, then removed."""
        tmp = Path(tempfile.mkdtemp(prefix="dangan-handover-", dir=self._scratch()))
        name = "package"
        try:
            facts = self.export(actor, tmp / name, location, query, sender, receiver)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return facts, _zip_stream(tmp / name, tmp, f"handover-{facts['package_id'][:8]}")

    # -- 接管 -------------------------------------------------------------------------

    def takeover(self, actor: Actor, source: Path, checklist: str | Path | None = None,
                 dry_run: bool = False, label: str | None = None) -> dict:
        """Inspect the package, compare it with the checklist, import it if it is sound.

        The report: {"ok", "imported": [...], "findings": [...], "checklist": {...}, ...};
        `ok` False means nothing was imported."""
        self.system.records.require(actor, "handover.import")
        chosen = checklist_mod.load(checklist, self.system.scheme)
        root, tmp, refusals = importer.open_source(Path(source))
        try:
            if refusals:
                ins = importer.Inspection(root, "zip")
                for message in refusals:
                    ins.add(importer.ERROR, message)
            else:
                ins = importer.inspect(self.system, root)
            report = self._report(actor, ins, chosen, label or str(source))
            if ins.ok and not dry_run:
                package_id, arrived = importer.commit(self.system, actor, ins, report["source"])
                report["package_id"] = package_id
                report["imported"] = arrived
                self._store_report(package_id, report)
            elif not ins.ok:  # refused: the report is kept all the same, and audited
                report["package_id"] = uuid.uuid4().hex
                with self.system.db.session() as s:
                    s.add(HandoverPackage(id=report["package_id"], direction="import", actor=actor.name,
                                          scope=report["source"][:500], items=0, bytes=0, ok=False,
                                          report=json.dumps(report, ensure_ascii=False, default=str)))
                    self.system.audit.append(s, actor.name, "handover.takeover", report["package_id"], "failed",
                                             {"source": report["source"],
                                              "errors": [f["message"] for f in report["findings"]
                                                         if f["level"] == "error"][:20]})
            return report
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)

    def _report(self, actor: Actor, ins: importer.Inspection, chosen: checklist_mod.Checklist,
                source: str) -> dict:
        info = ins.facts.get("bag_info", {})
        estate = "；".join(f"{e.get('code')} {e.get('name') or ''}".strip()
                          for e in ins.facts.get("estate", []) if isinstance(e, dict))
        return {
            "ok": ins.ok, "source": source, "kind": ins.kind, "actor": actor.name,
            "checked_at": utcnow().isoformat(timespec="seconds") + "Z",
            "sender": ins.facts.get("sender") or (info.get("Source-Organization") or [None])[0],
            "estate": estate or (info.get("Dangan-Estate") or [None])[0],
            "package": ins.facts.get("package_id"), "encoding": ins.encoding,
            "items": len(ins.candidates), "imported": [], "package_id": None,
            "findings": ins.findings,
            "records": [{"archive_no": c.meta.get("archive_no"), "file": c.label, "title": c.meta.get("title"),
                         "ok": not c.errors} for c in ins.candidates],
            "checklist": {"title": chosen.title, "source": chosen.source,
                          "items": importer.compare_checklist(ins, chosen)},
        }

    def _store_report(self, package_id: str, report: dict) -> None:
        with self.system.db.session() as s:
            row = s.get(HandoverPackage, package_id)
            row.report = json.dumps(report, ensure_ascii=False, default=str)

    # -- reading ----------------------------------------------------------------------

    def packages(self, actor: Actor, limit: int = 50) -> list[dict]:
        if not (actor.can("handover.export") or actor.can("handover.import") or actor.can("audit.read")):
            self.system.records.require(actor, "handover.export")
        with self.system.db.read() as s:
            rows = s.execute(select(HandoverPackage).order_by(HandoverPackage.created_at.desc())
                             .limit(limit)).scalars()
            return [{"package_id": r.id, "direction": r.direction, "created_at": r.created_at.isoformat(
                timespec="seconds") + "Z", "actor": r.actor, "scope": r.scope, "items": r.items,
                "bytes": r.bytes, "ok": r.ok} for r in rows]

    def package(self, actor: Actor, package_id: str) -> dict:
        if not (actor.can("handover.export") or actor.can("handover.import") or actor.can("audit.read")):
            self.system.records.require(actor, "handover.export")
        with self.system.db.read() as s:
            row = s.get(HandoverPackage, package_id)
            if row is None:
                raise NotFound(f"移交包 {package_id} 不存在。")
            items = [{"archive_no": i.archive_no, "source_no": i.source_no} for i in s.execute(
                select(HandoverItem).where(HandoverItem.package_id == package_id)).scalars()]
            return {"package_id": row.id, "direction": row.direction, "actor": row.actor,
                    "created_at": row.created_at.isoformat(timespec="seconds") + "Z", "scope": row.scope,
                    "items": items, "report": json.loads(row.report or "{}")}

    def record_history(self, actor: Actor, ref: str) -> dict:
        """The handovers of one record the actor may see: {"archive_no", "handovers": [...]}."""
        records = self.system.records
        records.require(actor, "record.meta", ref)
        with self.system.db.read() as s:
            rec = records.find(s, ref)
            rid, no, security, category = rec.id, rec.archive_no or rec.provisional_no, rec.security, rec.category
        if not actor.may_see(security, category):
            records.refuse(actor, "record.view", no, f"用户 {actor.name} 的密级或类别权限不足，无权查看该档案。")
        return {"archive_no": no, "handovers": self.history(rid)}

    def history(self, record_id: str) -> list[dict]:
        """A record's handovers (for its history)."""
        with self.system.db.read() as s:
            rows = s.execute(select(HandoverItem, HandoverPackage).join(
                HandoverPackage, HandoverPackage.id == HandoverItem.package_id)
                .where(HandoverItem.record_id == record_id)).all()
            return [{"package_id": p.id, "direction": p.direction, "at": p.created_at.isoformat(
                timespec="seconds") + "Z", "by": p.actor, "source_no": i.source_no} for i, p in rows]

    def incoming(self) -> Path:
        """The folder whose packages the web pages and API may point at (uploads aside)."""
        path = self.system.settings.home / "incoming"
        path.mkdir(mode=0o700, exist_ok=True)
        return path

    def incoming_packages(self) -> list[str]:
        return sorted(p.name for p in self.incoming().iterdir()
                      if not p.name.startswith(".") and (p.is_dir() or p.suffix.lower() == ".zip"))

    def resolve_incoming(self, name: str) -> Path:
        """A package in the incoming folder by name; nothing outside it."""
        if not name or "/" in name or "\\" in name or name in (".", "..") or name.startswith("."):
            raise InvalidInput(f"移交包名称 {name!r} 无效：请从接收目录中选择。")
        path = self.incoming() / name
        if not path.exists():
            raise NotFound(f"接收目录中没有 {name}。")
        return path

    @staticmethod
    def report_pdf(report: dict) -> bytes:
        return takeover_pdf(report)

    def _scratch(self) -> Path:
        path = self.system.settings.home / "tmp"
        path.mkdir(mode=0o700, exist_ok=True)
        return path


class _Pipe(io.RawIOBase):
    """A write-only stream whose bytes the zip generator hands on in chunks."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.chunks.append(bytes(b))
        return len(b)

    def take(self) -> bytes:
        out = b"".join(self.chunks)
        self.chunks.clear()
        return out


def _zip_stream(root: Path, cleanup: Path, top: str) -> Iterator[bytes]:
    """Zip `root` as it is read (ZIP_STORED: no compression inside the package), then remove it."""
    def generate() -> Iterator[bytes]:
        pipe = _Pipe()
        try:
            with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
                for dirpath, _, files in sorted(os.walk(root)):
                    for name in sorted(files):
                        full = Path(dirpath) / name
                        arc = f"{top}/{full.relative_to(root).as_posix()}"
                        with open(full, "rb") as src, zf.open(arc, "w", force_zip64=True) as dst:
                            while chunk := src.read(1 << 20):
                                dst.write(chunk)
                                if len(pipe.chunks) > 4:
                                    yield pipe.take()
                        yield pipe.take()
            yield pipe.take()
        finally:
            shutil.rmtree(cleanup, ignore_errors=True)

    return generate()
