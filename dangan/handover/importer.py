"""接管: take over a transfer package — check everything first, then import all or nothing.

Accepted sources: a Dangan package (a BagIt bag with data/metadata.json), any BagIt bag
or plain folder with a CSV list of its files (UTF-8, or GBK from an older system), or a
.zip of either. The package is inspected before anything is written:

- the bag: every manifest path inside data/, every file present with its digest, no
  extra file, Payload-Oxum true (see `bag.inspect`); in a zip, no member escaping it;
- every record: the 四性 checks of the receiving stage (`transfer`) on the file itself
  and on its metadata under this archive's scheme; its size as the metadata says;
- the batch: no duplicate 档号 or file, counts as declared;
- this archive: the 档号 not already taken, the file not already held.

Any error finding and nothing is imported. Otherwise every original is encrypted and
stored, then one transaction commits every record (keeping the sender's 档号; a number
this archive's scheme cannot express gets a new 档号 with the old one kept as an alias),
the package row, and the audit entries; if that transaction fails, the stored objects are
removed again.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import io
import json
import shutil
import stat
import tempfile
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from dangan.archive import codes as codes_mod
from dangan.archive import crypto
from dangan.archive.models import ArchiveAlias, Project, Record, Sequence
from dangan.archive.permissions import Actor
from dangan.archive.pii import blind_token, mask_text
from dangan.archive.records import RecordInput, aad, object_key
from dangan.errors import DanganError, InvalidInput
from dangan.handover import bag as bag_mod
from dangan.handover import checklist as checklist_mod
from dangan.handover.export import FORMAT
from dangan.handover.models import HandoverItem, HandoverPackage
from dangan.ingest import checks as lib
from dangan.ingest import detect

ERROR, WARNING = "error", "warning"
TRANSFER = [c.name for c in lib.select("transfer") if c.name != "pages_complete"]
WARN_ONLY = {"duplicate_titles"}
HEADERS = {
    "path": ("path", "file", "文件", "文件名", "文件路径", "路径"),
    "archive_no": ("archive_no", "档号"),
    "title": ("title", "题名", "标题"),
    "category": ("category", "类别", "门类"),
    "location": ("location", "位置", "位置编码"),
    "date": ("date", "日期", "文件日期", "成文日期"),
    "security": ("security", "密级"),
    "responsible": ("responsible", "责任者"),
    "custody": ("custody", "实体存放位置", "存放位置"),
}
MAX_ZIP_BYTES = 50 * 1024**3


@dataclass
class Candidate:
    """One record as the package describes it, and what is wrong with it."""

    label: str  # 档号 or file name, for findings
    meta: dict[str, Any]
    path: Path | None = None
    text_pages: list | None = None
    sha256: str | None = None
    size: int = 0
    media_type: str | None = None
    errors: list[str] = field(default_factory=list)


@dataclass
class Inspection:
    root: Path
    kind: str  # dangan | bag-csv | folder-csv
    facts: dict[str, Any] = field(default_factory=dict)
    candidates: list[Candidate] = field(default_factory=list)
    findings: list[dict] = field(default_factory=list)
    encoding: str | None = None

    def add(self, level: str, message: str, target: str | None = None, check: str = "package") -> None:
        self.findings.append({"level": level, "target": target, "check": check, "message": message})

    @property
    def ok(self) -> bool:
        return not any(f["level"] == ERROR for f in self.findings)


# -- opening a source -------------------------------------------------------------------


def _member_name(m: zipfile.ZipInfo) -> str:
    """A member's name; old Chinese tools write GBK names without the UTF-8 flag."""
    if m.flag_bits & 0x800:
        return m.filename
    try:
        return m.filename.encode("cp437").decode("gbk")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return m.filename


def unpack_zip(src: Path, dest: Path) -> list[str]:
    """Extract a zip safely into `dest`; refusals as sentences (nothing extracted if any)."""
    problems: list[str] = []
    try:
        zf = zipfile.ZipFile(src)
    except zipfile.BadZipFile:
        return [f"{src.name} 不是有效的 zip 文件。"]
    with zf:
        members = zf.infolist()
        total = 0
        for m in members:
            name = _member_name(m)
            if stat.S_ISLNK(m.external_attr >> 16):
                problems.append(f"zip 中的 {name} 是符号链接，已拒绝。")
            elif not m.is_dir() and bag_mod.safe_relative(dest, name.rstrip("/")) is None:
                problems.append(f"zip 中的路径 {name!r} 超出了包的目录，已拒绝。")
            total += m.file_size
        if total > MAX_ZIP_BYTES:
            problems.append("zip 解压后超过 50 GB，请直接给出目录。")
        if problems:
            return problems
        for m in members:
            name = _member_name(m)
            target = dest / name
            if m.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(m) as fh, open(target, "wb") as out:
                shutil.copyfileobj(fh, out, 1 << 20)
    # a zip of a folder: use the single top-level folder as the package
    entries = [p for p in dest.iterdir() if not p.name.startswith("__MACOSX")]
    if len(entries) == 1 and entries[0].is_dir() and not (dest / "bagit.txt").exists():
        inner = entries[0]
        for child in list(inner.iterdir()):
            child.rename(dest / child.name)
        inner.rmdir()
    return []


# -- inspecting -------------------------------------------------------------------------


def decode_csv(raw: bytes) -> tuple[str, str]:
    """The text of a CSV list and its encoding: UTF-8 (with or without BOM), else GBK."""
    try:
        return raw.decode("utf-8-sig"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030"), "GBK"
    except UnicodeDecodeError:
        raise InvalidInput("文件清单既不是 UTF-8 也不是 GBK 编码，无法读取：请另存为 UTF-8 后再导入。") from None


def _sha256(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def inspect(system: Any, root: Path) -> Inspection:
    """Everything about the package at `root`, without writing anything."""
    root = Path(root)
    if not root.is_dir():
        raise InvalidInput(f"{root} 不是目录（也不是 .zip 文件）。")
    if (root / "bagit.txt").exists() or (root / "manifest-sha256.txt").exists():
        found = bag_mod.inspect(root)
        kind = "dangan" if (root / "data" / "metadata.json").is_file() else "bag-csv"
        ins = Inspection(root, kind, facts={"bag_info": found.info})
        for message in found.findings:
            ins.add(ERROR, message)
        listed = set(found.files)
        if kind == "dangan":
            _read_dangan(system, ins, listed)
        else:
            _read_csv_package(system, ins, root / "data", listed)
    else:
        ins = Inspection(root, "folder-csv")
        _read_csv_package(system, ins, root, None)
    _check_candidates(system, ins)
    return ins


def _read_dangan(system: Any, ins: Inspection, listed: set[str]) -> None:
    root = ins.root
    try:
        facts = json.loads((root / "data" / "metadata.json").read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        ins.add(ERROR, f"data/metadata.json 无法读取：{exc}", check="metadata_readable")
        return
    if not isinstance(facts, dict) or facts.get("format") != FORMAT or not isinstance(facts.get("records"), list):
        ins.add(ERROR, "data/metadata.json 不是 Dangan 移交包的元数据。", check="metadata_readable")
        return
    ins.facts.update({k: v for k, v in facts.items() if k != "records"})
    for i, meta in enumerate(facts["records"], 1):
        if not isinstance(meta, dict):
            ins.add(ERROR, f"元数据第 {i} 条不是对象。", check="metadata_readable")
            continue
        label = str(meta.get("archive_no") or f"第 {i} 条")
        cand = Candidate(label, meta)
        rel = meta.get("file")
        if rel:
            target = bag_mod.safe_relative(root, rel) if isinstance(rel, str) and rel.startswith("data/") else None
            if target is None:
                cand.errors.append(f"元数据中的文件路径 {rel!r} 超出了包的 data/ 目录。")
            elif rel not in listed:
                cand.errors.append(f"文件 {rel} 不在包的清单中。")
            elif not target.is_file():
                cand.errors.append(f"文件 {rel} 在包中不存在。")
            else:
                cand.path = target
        text_rel = meta.get("text_file")
        if text_rel:
            target = bag_mod.safe_relative(root, text_rel) if isinstance(text_rel, str) else None
            if target is None or text_rel not in listed or not target.is_file():
                cand.errors.append(f"全文文件 {text_rel!r} 缺失或不在清单中。")
            else:
                try:
                    cand.text_pages = json.loads(target.read_text(encoding="utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError):
                    cand.errors.append(f"全文文件 {text_rel} 不是有效的 UTF-8 JSON。")
        ins.candidates.append(cand)
    used = {c.meta.get("file") for c in ins.candidates} | {c.meta.get("text_file") for c in ins.candidates}
    extra_payload = sorted(p for p in listed if p.startswith(("data/originals/", "data/text/")) and p not in used)
    for p in extra_payload:
        ins.add(ERROR, f"包中的文件 {p} 不属于任何一件档案（多出的文件）。")


def _read_csv_package(system: Any, ins: Inspection, base: Path, listed: set[str] | None) -> None:
    lists = sorted(p for p in base.glob("*.csv") if p.is_file())
    if len(lists) != 1:
        ins.add(ERROR, f"{'没有找到' if not lists else '找到多个'}文件清单（.csv）：普通目录中应恰有一个 CSV 清单，"
                       "列出每个文件的 path（文件）、title（题名）、category（类别）、location（位置）等。")
        return
    sheet = lists[0]
    try:
        text, encoding = decode_csv(sheet.read_bytes())
    except InvalidInput as exc:
        ins.add(ERROR, str(exc), check="metadata_readable")
        return
    ins.encoding = encoding
    if encoding != "UTF-8":
        ins.add(WARNING, f"清单 {sheet.name} 按 {encoding} 编码读取。")
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        ins.add(ERROR, f"清单 {sheet.name} 是空的。")
        return
    header = [h.strip() for h in rows[0]]
    columns: dict[str, int] = {}
    for key, names in HEADERS.items():
        for i, h in enumerate(header):
            if h.lower() in names:
                columns[key] = i
    if "path" not in columns:
        ins.add(ERROR, f"清单 {sheet.name} 没有 path（文件）列；表头为：{'、'.join(header)}。")
        return
    mentioned: set[str] = set()
    for n, row in enumerate(rows[1:], 2):
        if not any(cell.strip() for cell in row):
            continue
        values = {k: (row[i].strip() if i < len(row) else "") for k, i in columns.items()}
        rel = values.pop("path").replace("\\", "/")
        meta: dict[str, Any] = {k: (v or None) for k, v in values.items()}
        cand = Candidate(meta.get("archive_no") or rel, meta)
        target = bag_mod.safe_relative(base, rel)
        if target is None:
            cand.errors.append(f"清单第 {n} 行的路径 {rel!r} 超出了包的目录，已拒绝。")
        elif not target.is_file():
            cand.errors.append(f"清单第 {n} 行列出的文件 {rel} 不存在。")
        else:
            cand.path = target
            mentioned.add(target.relative_to(base).as_posix())
        meta["original_name"] = Path(rel).name
        meta["title"] = meta.get("title") or Path(rel).stem
        ins.candidates.append(cand)
    for p in sorted(base.rglob("*")):
        rel = p.relative_to(base).as_posix()
        if p.is_file() and p != sheet and rel not in mentioned and not p.name.startswith("."):
            ins.add(ERROR, f"包中的文件 {rel} 不在清单 {sheet.name} 中（多出的文件）。")


def _normalise(system: Any, cand: Candidate) -> None:
    """This archive's view of the metadata: codes validated under its scheme."""
    m = cand.meta
    scheme = system.scheme
    try:
        if m.get("category"):
            m["category"] = scheme.category(m["category"]).key
        if m.get("location"):
            m["location"] = str(codes_mod.parse_location(m["location"], scheme.codes))
        if m.get("security"):
            m["security"] = scheme.security(m["security"]).key
        elif m.get("category"):
            m["security"] = scheme.category(m["category"]).security.key
        else:
            m["security"] = scheme.default_security.key
        if m.get("date"):
            m["date"] = dt.date.fromisoformat(str(m["date"])[:10]).isoformat()
            m.setdefault("year", int(m["date"][:4]))
    except (DanganError, ValueError) as exc:
        cand.errors.append(f"元数据无效：{exc}")


def _check_candidates(system: Any, ins: Inspection) -> None:
    scheme = system.scheme
    for cand in ins.candidates:
        _normalise(system, cand)
        m = cand.meta
        if ins.kind != "dangan":
            m["status"] = "active" if m.get("category") and m.get("location") and m.get("archive_no") else "queued"
        if cand.path is not None:
            cand.sha256, cand.size = _sha256(cand.path)
            declared = m.get("sha256")
            if declared and declared != cand.sha256:
                cand.errors.append("文件的 SHA-256 与元数据记录的不符：文件被改动过。")
            try:
                cand.media_type = detect.sniff(cand.path)
            except DanganError:
                cand.media_type = None
            m.setdefault("sha256", cand.sha256)
            m.setdefault("size", cand.size)
            m.setdefault("media_type", cand.media_type)
        ctx = lib.CheckContext(path=cand.path, sha256=m.get("sha256"), media_type=m.get("media_type"),
                               metadata=m, scheme=scheme,
                               extra={"actual_sha256": cand.sha256, "actual_size": cand.size}
                               if cand.path else {})
        names = TRANSFER if cand.path is not None else [n for n in TRANSFER if n in _META_ONLY]
        if m.get("archive_no"):
            try:
                scheme.parse_archive_no(m["archive_no"])
            except DanganError:
                m["renumber"] = True  # a number of another scheme: re-numbered, kept as an alias
                ins.add(WARNING, f"档号 {m['archive_no']} 不符合本库的档号规则，将重新编号，原档号保留为别名。",
                        m["archive_no"], "archive_no_rule")
        for name, outcome in lib.run_checks(ctx, names).items():
            if name == "archive_no_rule" and m.get("renumber"):
                continue
            if outcome is not None:
                cand.errors.append(outcome)
                ins.add(ERROR, outcome, cand.label, name)
        for message in cand.errors[:]:
            if not any(f["message"] == message and f["target"] == cand.label for f in ins.findings):
                ins.add(ERROR, message, cand.label, "package")
    metas = [c.meta for c in ins.candidates]
    expected: dict[str, int] = {}
    if ins.kind == "dangan":
        for key in ("items", "bytes"):
            if isinstance(ins.facts.get(key), int):
                expected[key] = ins.facts[key]
    declared = (ins.facts.get("bag_info", {}).get("Dangan-Items") or [None])[0]
    if declared and declared.isdigit():
        expected.setdefault("items", int(declared))
    batch = lib.run_batch_checks(lib.BatchContext(records=metas, scheme=scheme, expected=expected), "transfer")
    for name, found in batch.items():
        for target, sentence in found.items():
            ins.add(WARNING if name in WARN_ONLY else ERROR, sentence,
                    None if target == lib.BATCH else target, name)
    _against_archive(system, ins)
    if not ins.candidates and ins.ok:
        ins.add(ERROR, "包中没有任何档案。")


_META_ONLY = {"dates_plausible", "metadata_values", "no_forbidden_characters", "archive_no_rule",
              "required_metadata", "metadata_readable"}


def _against_archive(system: Any, ins: Inspection) -> None:
    numbers = [c.meta["archive_no"] for c in ins.candidates if c.meta.get("archive_no")]
    digests = [c.sha256 for c in ins.candidates if c.sha256]
    with system.db.read() as s:
        taken: set[str] = set()
        held: dict[str, str] = {}
        for start in range(0, len(numbers), 500):
            part = numbers[start:start + 500]
            taken |= set(s.execute(select(Record.archive_no).where(Record.archive_no.in_(part))).scalars())
            taken |= set(s.execute(select(Record.provisional_no).where(Record.provisional_no.in_(part))).scalars())
            taken |= set(s.execute(select(ArchiveAlias.alias).where(ArchiveAlias.alias.in_(part))).scalars())
        for start in range(0, len(digests), 500):
            part = digests[start:start + 500]
            for digest, no, prov in s.execute(select(Record.sha256, Record.archive_no, Record.provisional_no)
                                              .where(Record.sha256.in_(part))):
                held[digest] = no or prov
    codes = sorted({checklist_mod.project_of(c.meta.get("location")) for c in ins.candidates
                    if c.meta.get("location")})
    with system.db.read() as s:
        known = set(s.execute(select(Project.code).where(Project.code.in_(codes))).scalars()) if codes else set()
    names = {e.get("code"): e.get("name") for e in ins.facts.get("estate", []) if isinstance(e, dict)}
    for code in codes:
        if code not in known:
            label = f"{code}（{names[code]}）" if names.get(code) else code
            ins.add(WARNING, f"项目 {label} 在本库尚未登记：接收后请系统管理员用 dangan project add 登记，"
                             "文件中写的项目名称才能对应到它。", code, "project_registered")
    for c in ins.candidates:
        no = c.meta.get("archive_no")
        if no and no in taken:
            ins.add(ERROR, f"档号 {no} 在本库中已被使用，不能重复接收。", no, "archive_no_unique")
        if c.sha256 in held:
            ins.add(ERROR, f"文件已在本库中（档号 {held[c.sha256]}）。", c.label, "no_duplicate_files")


# -- importing --------------------------------------------------------------------------


def _record_input(system: Any, cand: Candidate) -> RecordInput:
    m = cand.meta
    tokens: list[tuple[str, str]] = []
    generation, key = system.purpose_key("blind-index")
    if cand.text_pages:
        full = "\n".join(str(p.get("text", "")) for p in cand.text_pages if isinstance(p, dict))
        _, found = mask_text(full)
        tokens = sorted({(f.kind, blind_token(key, f.kind, f.value)) for f in found})
    keep = bool(m.get("archive_no")) and not m.get("renumber")
    return RecordInput(
        original_name=m.get("original_name") or (cand.path.name if cand.path else "paper"),
        media_type=m.get("media_type") or cand.media_type or "", title=m["title"],
        category=m.get("category"), location=m.get("location"),
        doc_date=dt.date.fromisoformat(m["date"]) if m.get("date") else None,
        security=m.get("security"), responsible=m.get("responsible"),
        maintenance_code=m.get("maintenance_code"), custody=m.get("custody"),
        pages=int(m.get("pages") or 0), text_pages=cand.text_pages, pii_tokens=tokens,
        pii_generation=generation,
        # numbered on arrival only with category, place and date (a year is never made up);
        # a record the sender still had in 待分类 waits in ours
        queue=(keep or bool(m.get("provisional_no") and not m.get("archive_no"))
               or not (m.get("category") and m.get("location") and m.get("date"))),
        sha256=cand.sha256)


def _bump_sequence(s: Any, system: Any, rec_category: str | None, location: str | None, number: str) -> None:
    """Keep the sequence ahead of an imported 档号 (category/location as the record has them)."""
    fields = system.scheme.parse_archive_no(number)
    cat = system.scheme.category(rec_category)
    values = {"category": cat.code, "location": location, "year": fields.get("year"),
              "retention": cat.retention_code, **system.scheme.archive_fields}
    scope = "|".join(str(values.get(k)) for k in system.scheme.sequence_scope)
    seq = int(fields.get("seq") or 0)
    row = s.get(Sequence, scope)
    if row is None:
        s.add(Sequence(scope=scope, last=seq))
    elif row.last < seq:
        row.last = seq
    s.flush()


def commit(system: Any, actor: Actor, ins: Inspection, source: str) -> tuple[str, list[dict]]:
    """Store every original, then one transaction for every record; all or nothing."""
    suite = crypto.get_suite(system.settings.cipher_suite)
    records = system.records
    prepared: list[tuple[Candidate, str, RecordInput, Any, str | None, bytes | None]] = []
    written: list[str] = []
    package_id = uuid.uuid4().hex
    try:
        for cand in ins.candidates:
            data = _record_input(system, cand)
            records._validate(data)
            rid = uuid.uuid4().hex
            enc = kek_id = wrapped = None
            if cand.path is not None:
                dek = crypto.new_dek(suite)
                kek_id = system.keyring.active_id
                wrapped = crypto.wrap_dek(suite, system.keyring.kek(kek_id), dek, rid.encode())
                enc = crypto.Encryptor(suite, dek, aad(rid, "original"))
                key = object_key(rid, "original")
                written.append(key)
                with open(cand.path, "rb") as fh:
                    system.store.put(key, enc.chunks(fh))
                if enc.sha256 != cand.sha256:
                    raise InvalidInput(f"文件 {cand.label} 在接收过程中被修改，请重新导入。")
                if data.text_pages is not None:
                    key = object_key(rid, "text")
                    written.append(key)
                    payload = json.dumps(data.text_pages, ensure_ascii=False).encode()
                    system.store.put(key, [crypto.encrypt_bytes(suite, dek, payload, aad(rid, "text"))])
            else:
                data.text_pages = None
            prepared.append((cand, rid, data, enc, kek_id, wrapped))
        arrived: list[dict] = []
        with system.db.session() as s:
            for cand, rid, data, enc, kek_id, wrapped in prepared:
                created = records._insert(s, actor, rid, data, enc, suite, kek_id, wrapped)
                old = cand.meta.get("archive_no")
                final = created.archive_no or created.provisional_no
                if old and not cand.meta.get("renumber"):
                    s.execute(update(Record).where(Record.id == rid).values(archive_no=old, status="active"))
                    _bump_sequence(s, system, data.category, data.location, old)
                    final = old
                elif old:
                    s.add(ArchiveAlias(alias=old, record_id=rid))
                arrived.append({"archive_no": final, "source_no": old if old != final else None,
                                "title": data.title, "record_id": rid,
                                "status": "active" if final == old or created.archive_no else "queued"})
                system.audit.append(s, actor.name, "handover.import", final, "ok",
                                    {"package": package_id, "record_id": rid, "source_no": old,
                                     "sha256": cand.sha256})
            s.add(HandoverPackage(id=package_id, direction="import", actor=actor.name, scope=source[:500],
                                  items=len(prepared), bytes=sum(c.size for c in ins.candidates), ok=True,
                                  report="{}"))
            s.flush()
            s.add_all([HandoverItem(package_id=package_id, record_id=a["record_id"], archive_no=a["archive_no"],
                                    source_no=a["source_no"]) for a in arrived])
            system.audit.append(s, actor.name, "handover.takeover", package_id, "ok",
                                {"source": source, "items": len(prepared), "kind": ins.kind})
        return package_id, arrived
    except BaseException:
        for key in written:
            with contextlib.suppress(Exception):  # best effort: the record was never committed
                system.store.delete(key)
        raise


def open_source(source: Path) -> tuple[Path, Path | None, list[str]]:
    """(package root, temp dir to remove or None, refusals) for a directory or a .zip."""
    source = Path(source)
    if source.is_dir():
        return source, None, []
    if source.is_file() and zipfile.is_zipfile(source):
        tmp = Path(tempfile.mkdtemp(prefix="dangan-takeover-"))
        problems = unpack_zip(source, tmp)
        return tmp, tmp, problems
    if not source.exists():
        raise InvalidInput(f"{source} 不存在。")
    raise InvalidInput(f"{source} 既不是目录，也不是 zip 文件。")


def compare_checklist(ins: Inspection, checklist: checklist_mod.Checklist) -> list[dict]:
    failed = {c.meta.get("archive_no") or c.label for c in ins.candidates if c.errors}
    failed |= {f["target"] for f in ins.findings if f["level"] == ERROR and f["target"]}
    rows = []
    for c in ins.candidates:
        m = dict(c.meta)
        m.setdefault("archive_no", None)
        if not m.get("archive_no"):
            m["file"] = c.label
        rows.append(m)
    return checklist_mod.compare(checklist, rows, failed)

