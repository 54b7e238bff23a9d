"""移交: a project's (building's, unit's, a query's) records as a BagIt transfer package.

Layout (names in ASCII so every unzip tool and validator agrees on them):

    bagit.txt  bag-info.txt  manifest-sha256.txt  tagmanifest-sha256.txt
    data/originals/<档号>.<ext>     the decrypted originals, byte for byte
    data/text/<档号>.json           the extracted text per page (so the receiver need not OCR)
    data/metadata.json              package facts and every record's metadata (the `show` shape)
    data/metadata.csv / .xlsx       the same, one row per record, Chinese headers
    data/report/verify.json / .pdf  the 四性检测 report at export time
    data/report/transfer-list.pdf   移交清单 with signature lines

No encryption and no compression inside (DA/T 70 3-8). The bag is built in a hidden
directory beside the destination and renamed into place only after the database has
recorded the export, so a failed export leaves nothing behind.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import mimetypes
import shutil
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select

from dangan import __version__
from dangan.archive import codes as codes_mod
from dangan.archive.models import Project, Record, utcnow
from dangan.archive.permissions import LEVEL_NAMES, Actor
from dangan.errors import Conflict, IntegrityError, InvalidInput, NotFound
from dangan.handover.bag import BagWriter
from dangan.handover.models import HandoverItem, HandoverPackage
from dangan.integrity import pdf
from dangan.integrity.service import report_pdf

FORMAT = "dangan-handover"
FORMAT_VERSION = 1
COLUMNS = [("archive_no", "档号"), ("title", "题名"), ("category", "类别"), ("location", "位置编码"),
           ("year", "年度"), ("date", "文件日期"), ("responsible", "责任者"), ("security", "密级"),
           ("pages", "页数"), ("media_type", "格式"), ("size", "字节数"), ("sha256", "SHA-256"),
           ("retention_period", "保管期限"), ("retention_until", "保管期限届满"),
           ("original_name", "原文件名"), ("file", "包内文件"), ("custody", "实体存放位置")]
EXTENSIONS = {"application/pdf": ".pdf", "image/tiff": ".tif", "image/jpeg": ".jpg", "image/png": ".png"}


# 待分类 records are part of the estate's files too: they travel with their provisional
# number, and the receiving archive queues them for its own archivists.
TRANSFERABLE = ("active", "queued")


def _no(rec: Record) -> str:
    return rec.archive_no or rec.provisional_no or rec.id


def select_records(system: Any, actor: Actor, location: str | None, query: str | None) -> list[Record]:
    """The records of a location prefix or of a search; refuse if some are beyond the actor."""
    if bool(location) == bool(query):
        raise InvalidInput("请给出一个位置编码（如 A-01），或使用 --query 给出检索式，二者选一。")
    with system.db.read() as s:
        if location:
            prefix = str(codes_mod.parse_location(location, system.scheme.codes))
            rows = list(s.execute(select(Record).where(
                or_(Record.location == prefix, Record.location.like(prefix + "-%")),
                Record.status.in_(TRANSFERABLE)).order_by(Record.archive_no, Record.provisional_no)).scalars())
        else:
            numbers: list[str] = []
            offset = 0
            while True:
                page = system.search_service.search(actor, query, offset=offset, limit=200, facets=False)
                numbers += [h["archive_no"] for h in page["hits"] if h.get("archive_no")]
                offset += 200
                if offset >= page["total"] or not page["hits"]:
                    break
            rows = list(s.execute(select(Record).where(Record.archive_no.in_(numbers),
                                                       Record.status.in_(TRANSFERABLE))
                                  .order_by(Record.archive_no)).scalars()) if numbers else []
        for r in rows:
            s.expunge(r)
    if not rows:
        raise NotFound(f"{'位置 ' + location if location else '检索式 ' + repr(query)} 下没有可移交的档案。")
    hidden = [r for r in rows if not actor.may_see(r.security, r.category)]
    if hidden:
        raise InvalidInput(f"其中 {len(hidden)} 件档案超出用户 {actor.name} 的密级或类别权限，"
                           "不能只移交一部分：请由有权限的档案管理员导出。")
    return rows


def estate_of(system: Any, rows: list[Record]) -> list[dict]:
    codes = sorted({(r.location or "").split("-", 1)[0] for r in rows if r.location})
    with system.db.read() as s:
        found = {p.code: p for p in s.execute(select(Project).where(Project.code.in_(codes))).scalars()}
    return [{"code": c, "name": found[c].name if c in found else None,
             "address": found[c].address if c in found else None} for c in codes]


def prepare_destination(out: Path) -> Path:
    """A hidden build directory beside `out`; `out` must not exist or be an empty directory."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise Conflict(f"目标 {out} 已存在且不是空目录：请换一个目录。")
    out.parent.mkdir(parents=True, exist_ok=True)
    build = out.parent / f".{out.name}.partial-{uuid.uuid4().hex[:8]}"
    build.mkdir()
    return build


def build(system: Any, actor: Actor, rows: list[Record], root: Path, scope: str,
          sender: str | None = None, receiver: str | None = None) -> dict:
    """Write the bag into `root` (empty); the package facts."""
    bag = BagWriter(root)
    package_id = uuid.uuid4().hex
    records: list[dict] = []
    total = 0
    for rec in rows:
        meta = system.records.describe(rec)
        meta["retention_period"] = meta["retention"]["period"]
        meta["retention_until"] = meta["retention"]["until"]
        no = _no(rec)
        if rec.sha256 is not None:
            ext = EXTENSIONS.get(rec.media_type) or mimetypes.guess_extension(rec.media_type or "") or ".bin"
            rel = f"originals/{no}{ext}"
            digest = hashlib.sha256()
            with open(bag.path(rel), "wb") as fh:
                for chunk in system.records.iter_original(rec):
                    digest.update(chunk)
                    fh.write(chunk)
            if digest.hexdigest() != rec.sha256:
                raise IntegrityError(f"档案 {no} 的原件哈希与入库时不符，不能移交：请先运行 dangan verify {no}。")
            bag.added(rel, rec.sha256)
            meta["file"] = f"data/{rel}"
            total += rec.size
        else:
            meta["file"] = None
        if rec.has_text:
            text_rel = f"text/{no}.json"
            bag.write_text(text_rel, json.dumps(system.records.read_text_pages(rec), ensure_ascii=False))
            meta["text_file"] = f"data/{text_rel}"
        for key in ("suggestion", "classify_confidence"):
            meta.pop(key, None)
        records.append(meta)
    estate = estate_of(system, rows)
    now = utcnow()
    dates = sorted(m["date"] for m in records if m.get("date"))
    sender = sender or system.settings.home.name
    verify = system.verify.run(actor, [_no(r) for r in rows], mode="selected", stage="transfer")
    facts = {"format": FORMAT, "format_version": FORMAT_VERSION, "package_id": package_id,
             "created_at": now.isoformat(timespec="seconds") + "Z", "created_by": actor.name,
             "sender": sender, "receiver": receiver, "scope": scope, "estate": estate,
             "items": len(records), "bytes": total, "dangan_version": __version__,
             "archive_template": getattr(system.scheme.archive_template, "pattern", None),
             "verify": {"ok": not verify["failed"], "failed": verify["failed"]}, "records": records}
    bag.write_text("metadata.json", json.dumps(facts, ensure_ascii=False, indent=1, default=str))
    bag.write_text("metadata.csv", "\ufeff" + _csv(records))
    bag.write_bytes("metadata.xlsx", _xlsx(records))
    slim = {k: v for k, v in verify.items() if k != "results"}
    slim["failures"] = [r for r in verify["results"] if not r["ok"]]
    bag.write_text("report/verify.json", json.dumps(slim, ensure_ascii=False, indent=1, default=str))
    bag.write_bytes("report/verify.pdf", report_pdf(verify, "移交时四性检测报告"))
    bag.write_bytes("report/transfer-list.pdf", transfer_list(facts, system.scheme))
    estate_names = "；".join(f"{e['code']} {e['name'] or ''}".strip() for e in estate)
    bag.finish({
        "Source-Organization": sender,
        "Contact-Name": actor.name,
        "External-Description": f"物业档案移交包：{estate_names}（{scope}），共 {len(records)} 件",
        "External-Identifier": package_id,
        "Bagging-Date": now.date().isoformat(),
        "Bag-Group-Identifier": estate_names or scope,
        "Dangan-Estate": estate_names,
        "Dangan-Scope": scope,
        "Dangan-Date-Range": f"{dates[0]}/{dates[-1]}" if dates else "",
        "Dangan-Items": str(len(records)),
        "Dangan-Receiver": receiver or "",
        "Dangan-Format": f"{FORMAT}/{FORMAT_VERSION}",
    })
    return facts


def record_export(system: Any, actor: Actor, facts: dict, rows: list[Record]) -> None:
    """The package row, one row per record, and the audit entries — one transaction."""
    with system.db.session() as s:
        s.add(HandoverPackage(id=facts["package_id"], direction="export", actor=actor.name,
                              scope=facts["scope"][:500], items=facts["items"], bytes=facts["bytes"],
                              ok=facts["verify"]["ok"],
                              report=json.dumps({k: v for k, v in facts.items() if k != "records"},
                                                ensure_ascii=False, default=str)))
        s.flush()
        s.add_all([HandoverItem(package_id=facts["package_id"], record_id=r.id, archive_no=_no(r))
                   for r in rows])
        for r in rows:
            system.audit.append(s, actor.name, "handover.export", _no(r), "ok",
                                {"package": facts["package_id"], "sha256": r.sha256})
        system.audit.append(s, actor.name, "handover.package", facts["package_id"], "ok",
                            {"scope": facts["scope"], "items": facts["items"], "bytes": facts["bytes"]})


def export(system: Any, actor: Actor, out: Path, location: str | None = None, query: str | None = None,
           sender: str | None = None, receiver: str | None = None) -> dict:
    """Make the package at `out`; nothing is left behind if any step fails."""
    system.records.require(actor, "handover.export")
    rows = select_records(system, actor, location, query)
    out = Path(out)
    work = prepare_destination(out)
    try:
        facts = build(system, actor, rows, work, location or f"检索：{query}", sender, receiver)
        record_export(system, actor, facts, rows)
        if out.exists():
            out.rmdir()
        work.rename(out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    summary = {k: v for k, v in facts.items() if k != "records"}
    summary["path"] = str(out)
    summary["archive_nos"] = [_no(r) for r in rows]
    return summary


def _rows(records: list[dict], scheme: Any) -> list[list[Any]]:
    out = []
    for i, m in enumerate(records, 1):
        cat = scheme.category(m["category"]).name if m.get("category") else ""
        out.append([i, m["archive_no"] or f"{m.get('provisional_no')}（待分类）", m["title"], cat, m.get("date") or m.get("year"), m.get("pages"),
                    LEVEL_NAMES.get(str(m.get("security")), m.get("security")), "电子" if m.get("file") else "纸质"])
    return out


def transfer_list(facts: dict, scheme: Any) -> bytes:
    """移交清单: what is handed over, for both sides to sign."""
    estate = "；".join(f"{e['code']} {e['name'] or ''}".strip() for e in facts["estate"])
    info = [("移交方", facts["sender"]), ("接收方", facts.get("receiver") or "（签收时填写）"),
            ("项目", estate), ("范围", facts["scope"]), ("移交包编号", facts["package_id"]),
            ("制表时间", facts["created_at"]), ("件数", facts["items"]), ("电子原件字节数", facts["bytes"]),
            ("移交时四性检测", "全部通过" if facts["verify"]["ok"] else f"{facts['verify']['failed']} 件未通过")]
    return pdf.render("物业档案移交清单", info,
                      [("移交档案明细", ["序号", "档号", "题名", "类别", "日期", "页数", "密级", "载体"],
                        _rows(facts["records"], scheme))],
                      signatures=("移交人", "接收人", "监交人"),
                      note="本清单与移交包中的 manifest-sha256.txt 一并保存；接收方核对无误后签字。")


def _csv(records: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([label for _, label in COLUMNS])
    for m in records:
        w.writerow(["" if m.get(k) is None else m.get(k) for k, _ in COLUMNS])
    return buf.getvalue()


def _xlsx(records: list[dict]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "移交清单"
    ws.append([label for _, label in COLUMNS])
    for m in records:
        ws.append(["" if m.get(k) is None else m.get(k) for k, _ in COLUMNS])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
