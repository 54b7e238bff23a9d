"""The records service: create, show, fetch, verify and correct records.

The CLI and the web app both call this; it checks the acting user's rights on every
call, writes the audit entry and the search outbox row in the same transaction as the
change, and never leaves half a record: objects are written before the row that points
to them and removed again if the row cannot be committed.
"""

from __future__ import annotations

import builtins
import datetime as dt
import hashlib
import json
import os
import tempfile
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError as DBIntegrityError
from sqlalchemy.orm import Session

from dangan.archive import codes as codes_mod
from dangan.archive import crypto
from dangan.archive.audit import AuditLog
from dangan.archive.db import Database
from dangan.archive.derived_keys import BLIND_INDEX, DerivedKeys
from dangan.archive.keyring import Keyring
from dangan.archive.models import ArchiveAlias, BlindIndex, Outbox, Record, RecordVersion, table_of, utcnow
from dangan.archive.permissions import LEVELS, RIGHT_NAMES, Actor
from dangan.archive.pii import text_tokens
from dangan.archive.scheme import Scheme
from dangan.archive.sequences import next_value
from dangan.archive.storage import ObjectStore
from dangan.errors import DanganError, IntegrityError, InvalidInput, NotFound, PermissionDenied

QUEUED = "queued"
ACTIVE = "active"
EDITABLE = ("title", "category", "location", "doc_date", "security", "responsible",
            "maintenance_code", "custody")


class Sealed(Protocol):
    """What decrypting a record's content needs: a Record, or a row of these columns
    (the search index reads rows, not ORM objects)."""

    @property
    def id(self) -> str: ...
    @property
    def suite(self) -> str: ...
    @property
    def kek_id(self) -> str | None: ...
    @property
    def wrapped_dek(self) -> bytes | None: ...
    @property
    def has_text(self) -> bool: ...


@dataclass
class RecordInput:
    """Everything known about a new record besides its bytes."""

    original_name: str
    media_type: str
    title: str
    category: str | None = None
    location: str | None = None
    doc_date: dt.date | None = None
    security: str | None = None
    responsible: str | None = None
    maintenance_code: str | None = None
    custody: str | None = None
    pages: int = 0
    text_pages: list[dict] | None = None  # [{"page", "text", "confidence", "method", ...}]
    pii_tokens: list[tuple[str, str]] = field(default_factory=list)  # (kind, keyed hash)
    pii_generation: int | None = None  # blind-index key generation of pii_tokens; None: the current one
    classify_confidence: float | None = None
    suggestion: dict | None = None  # what ingest inferred, shown in the review queue
    queue: bool = False  # wait in 待分类 even if category and location are known
    sha256: str | None = None  # if the caller hashed the file already: checked, and dedup first


@dataclass
class CreateResult:
    status: str  # ingested | duplicate | queued
    record_id: str
    archive_no: str | None
    provisional_no: str | None = None


def object_key(record_id: str, kind: str) -> str:
    return f"records/{record_id}/{kind}"


def aad(record_id: str, kind: str) -> bytes:
    return f"{record_id}|{kind}".encode()


def reindex_later(s: Session, record_ids: Iterable[str]) -> None:
    """Ask the search index to re-read these records, in the caller's transaction: the one
    way any service (records, loans, holds) tells search that what it shows has changed."""
    s.add_all(Outbox(record_id=rid, op="upsert") for rid in dict.fromkeys(record_ids))


def sanitize_name(name: str) -> str:
    """Keep only the base name, without control characters, for display and the audit."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    clean = "".join(ch for ch in base if ch.isprintable())
    return clean[:255] or "unnamed"


class RecordsService:
    def __init__(self, db: Database, store: ObjectStore, keyring: Keyring, scheme: Scheme,
                 audit: AuditLog, suite: str) -> None:
        self.db = db
        self.store = store
        self.keyring = keyring
        self.scheme = scheme
        self.audit = audit
        self.suite_name = suite
        self.derived = DerivedKeys(keyring, suite)  # blind-index and classifier-cache keys
        # (actor, record, action) -> True to let a reader past clearance; system.py sets it
        # to the loans service's check (an approved view/copy loan), since archive imports no feature
        self.grants: Callable[[Actor, Record, str], bool] | None = None
        # record id → names of active legal holds; the composition root connects retention
        self.holds: Callable[[Collection[str]], dict[str, list[str]]] = lambda ids: {}

    # -- rights ---------------------------------------------------------------------

    def require(self, actor: Actor, right: str, target: str | None = None) -> None:
        """Refuse, and audit the refusal, unless one of the actor's roles grants `right`."""
        if actor.can(right):
            return
        self.refuse(actor, right, target, f"用户 {actor.name} 没有“{RIGHT_NAMES.get(right, right)}”的权限。")

    def refuse(self, actor: Actor, action: str, target: str | None, message: str) -> None:
        with self.db.session() as s:
            self.audit.append(s, actor.name, action, target, "denied", {"reason": message})
        raise PermissionDenied(message)

    def _require_visible(self, actor: Actor, rec: Record, action: str) -> None:
        if not actor.may_see(rec.security, rec.category) and not (self.grants and self.grants(actor, rec, action)):
            self.refuse(actor, action, rec.archive_no or rec.provisional_no,
                        f"用户 {actor.name} 的密级或类别权限不足，无权查看该档案。")

    # -- lookup ---------------------------------------------------------------------

    @staticmethod
    def find(s: Session, ref: str) -> Record:
        """A record by 档号, provisional number, earlier 档号 (alias) or id."""
        # one indexed lookup per column: SQLite plans `archive_no = ? OR provisional_no = ?`
        # as a scan of the whole table (75 ms at 200,000 records)
        rec = s.execute(select(Record).where(Record.archive_no == ref)).scalar_one_or_none()
        if rec is None:
            rec = s.execute(select(Record).where(Record.provisional_no == ref)).scalar_one_or_none()
        if rec is None:
            alias = s.get(ArchiveAlias, ref)
            rec = s.get(Record, alias.record_id) if alias else None
        if rec is None and len(ref) == 32:
            rec = s.get(Record, ref)
        if rec is None:
            raise NotFound(f"档号 {ref!r} 不存在。")
        return rec

    # -- validation -----------------------------------------------------------------

    def _validate(self, data: RecordInput) -> None:
        if data.category is not None:
            data.category = self.scheme.category(data.category).key
        if data.location is not None:
            data.location = str(codes_mod.parse_location(data.location, self.scheme.codes))
        if data.security is not None:
            data.security = self.scheme.security(data.security).key
        if data.maintenance_code:
            data.maintenance_code = str(codes_mod.parse_maintenance_code(
                data.maintenance_code, self.scheme.codes))
        if not data.title or not data.title.strip():
            raise InvalidInput("题名不能为空。")
        data.title = data.title.strip()[:500]

    # -- create ---------------------------------------------------------------------

    def create(self, actor: Actor, source: Path | BinaryIO | None, data: RecordInput,
               record_id: str | None = None,
               within: Callable[[Session, CreateResult], None] | None = None) -> CreateResult:
        """Encrypt and store the bytes, then commit the row; report duplicates by 档号.

        `record_id` lets a caller choose (and remember) the id before any object is
        written; `within` runs inside the transaction that commits the record, so the
        caller's own bookkeeping (an ingest job) commits with it or not at all. With no
        `source` the record describes a paper original only (its custody says where).
        """
        self.require(actor, "record.ingest")
        self._validate(data)
        if source is None:
            return self._commit_new(actor, record_id or uuid.uuid4().hex, data, None,
                                    crypto.get_suite(self.suite_name), None, None, within)
        if data.sha256:
            existing = self._duplicate_of(data.sha256)
            if existing:
                return existing
        suite = crypto.get_suite(self.suite_name)
        record_id = record_id or uuid.uuid4().hex
        dek = crypto.new_dek(suite)
        kek_id = self.keyring.active_id
        wrapped = crypto.wrap_dek(suite, self.keyring.kek(kek_id), dek, record_id.encode())
        keys = [object_key(record_id, "original")]
        try:
            enc = crypto.Encryptor(suite, dek, aad(record_id, "original"))
            if isinstance(source, Path | str):
                with open(source, "rb") as fh:
                    self.store.put(keys[0], enc.chunks(fh))
            else:
                self.store.put(keys[0], enc.chunks(source))
            if data.sha256 and data.sha256 != enc.sha256:
                raise InvalidInput("文件在入库过程中被修改，请重新提交。")
            if data.text_pages is not None:
                keys.append(object_key(record_id, "text"))
                payload = json.dumps(data.text_pages, ensure_ascii=False).encode()
                self.store.put(keys[1], [crypto.encrypt_bytes(suite, dek, payload,
                                                              aad(record_id, "text"))])
            result = self._commit_new(actor, record_id, data, enc, suite, kek_id, wrapped, within)
        except BaseException:
            for key in keys:
                self.store.delete(key)
            raise
        if result.status == "duplicate":
            for key in keys:
                self.store.delete(key)
        return result

    def _duplicate_of(self, sha256: str) -> CreateResult | None:
        with self.db.read() as s:
            rec = s.execute(select(Record).where(Record.sha256 == sha256)).scalar_one_or_none()
            if rec is None:
                return None
            return CreateResult("duplicate", rec.id, rec.archive_no, rec.provisional_no)

    def _commit_new(self, actor: Actor, record_id: str, data: RecordInput, enc: crypto.Encryptor | None,
                    suite: crypto.CipherSuite, kek_id: str | None, wrapped: bytes | None,
                    within: Callable[[Session, CreateResult], None] | None) -> CreateResult:
        """One transaction: the record (see `_insert`) and the caller's own bookkeeping."""
        try:
            with self.db.session() as s:
                result = self._insert(s, actor, record_id, data, enc, suite, kek_id, wrapped)
                if within is not None:
                    within(s, result)
                return result
        except DBIntegrityError:
            existing = self._duplicate_of(enc.sha256) if enc else None
            if existing:
                return existing
            raise

    def register_many(self, actor: Actor, items: list[RecordInput], batch: int = 500) -> list[CreateResult]:
        """Metadata-only records (paper originals, an inventory list) in transactions of
        `batch` records: each still numbered, audited and queued for the index, all or
        nothing per batch."""
        self.require(actor, "record.ingest")
        for data in items:
            self._validate(data)
        suite = crypto.get_suite(self.suite_name)
        results: list[CreateResult] = []
        for start in range(0, len(items), batch):
            with self.db.session() as s:
                results.extend(self._insert(s, actor, uuid.uuid4().hex, data, None, suite, None, None)
                               for data in items[start:start + batch])
        return results

    def _insert(self, s: Session, actor: Actor, record_id: str, data: RecordInput,
                enc: crypto.Encryptor | None, suite: crypto.CipherSuite, kek_id: str | None,
                wrapped: bytes | None) -> CreateResult:
        """Number, row, blind-index tokens, outbox row, audit entry — in the caller's transaction.

        Core statements rather than ORM objects: this is the per-record hot path."""
        now = utcnow()
        category = self.scheme.category(data.category) if data.category else None
        security = data.security or (category.security.key if category else self.scheme.default_security.key)
        queued = data.queue or category is None or data.location is None
        year = data.doc_date.year if data.doc_date else None
        period, until = self._retention(category.key if category else None, data.doc_date or now.date())
        row: dict[str, Any] = dict(  # one Core insert row: mixed column types
            id=record_id, archive_no=None, provisional_no=None, title=data.title,
            category=category.key if category else None, location=data.location, year=year,
            doc_date=data.doc_date, responsible=data.responsible, maintenance_code=data.maintenance_code,
            security=security, status=QUEUED if queued else ACTIVE,
            sha256=enc.sha256 if enc else None, digest=enc.digest if enc else None,
            size=enc.size if enc else 0, pages=data.pages, media_type=data.media_type,
            original_name=sanitize_name(data.original_name), retention_period=period,
            retention_until=until, suite=suite.name, kek_id=kek_id, wrapped_dek=wrapped,
            has_text=data.text_pages is not None, classify_confidence=data.classify_confidence,
            suggestion=json.dumps(data.suggestion, ensure_ascii=False, default=str) if data.suggestion else None,
            custody=data.custody, version=1, ingested_by=actor.name, ingested_at=now)
        if queued:
            row["provisional_no"] = self._provisional_no(s, now.year)
        else:
            row["archive_no"] = self._number(s, row["category"], row["location"], year or now.year)
        conn = s.connection()
        conn.execute(table_of(Record).insert(), [row])
        tokens = self._blind_tokens(s, record_id, data) if data.pii_tokens else []
        if tokens:
            conn.execute(table_of(BlindIndex).insert(), tokens)
        conn.execute(table_of(Outbox).insert(), [{"record_id": record_id, "op": "upsert", "created_at": now}])
        self.audit.append(s, actor.name, "record.ingest", row["archive_no"] or row["provisional_no"],
                          "ok", {"record_id": record_id, "sha256": row["sha256"], "size": row["size"],
                                 "media_type": data.media_type, "queued": queued, "paper_only": enc is None})
        return CreateResult(QUEUED if queued else "ingested", record_id, row["archive_no"], row["provisional_no"])

    def _blind_tokens(self, s: Session, record_id: str, data: RecordInput) -> list[dict]:
        """Token rows under the current blind-index generation, read with a shared lock so
        that a switch of generation (`keys rekey-index`) waits for this transaction. Tokens
        made under an older generation (an ingest batch begun before a switch) are made
        again from the text."""
        generation = s.info.get("blind_generation")
        if generation is None:
            generation = s.info["blind_generation"] = self.derived.current(s, BLIND_INDEX, lock=True)
        pairs = list(dict.fromkeys(data.pii_tokens))
        if data.pii_generation is not None and data.pii_generation != generation:
            text = "\n\f\n".join(str(p.get("text", "")) for p in data.text_pages or [])
            pairs = text_tokens(self.derived.key(s, BLIND_INDEX, generation), text)
        return [{"token": t, "record_id": record_id, "kind": k, "generation": generation} for k, t in pairs]

    def _retention(self, category: str | None, base: dt.date) -> tuple[str, dt.date | None]:
        """(保管期限 code, the day it runs out) counted from the document date."""
        if category is None:
            return "", None
        return self.scheme.retention_code(category), self.scheme.retention_until(category, base)

    def _set_retention(self, rec: Record) -> None:
        rec.retention_period, rec.retention_until = self._retention(
            rec.category, rec.doc_date or (rec.ingested_at or utcnow()).date())

    def _provisional_no(self, s: Session, year: int) -> str:
        return f"DFL-{year}-{next_value(s, f'provisional|{year}'):06d}"

    def _allocate_archive_no(self, s: Session, rec: Record, today: dt.date) -> str:
        # Callers number only filed records: confirm() checked both, renumbering keeps them.
        assert rec.category is not None and rec.location is not None
        return self._number(s, rec.category, rec.location, rec.year or today.year)

    def _number(self, s: Session, category_key: str, location: str, year: int) -> str:
        """Take the next number of the scope; numbers are never handed out twice."""
        category = self.scheme.category(category_key)
        values = {"category": category.code, "location": location, "year": year,
                  "retention": category.retention_code, **self.scheme.archive_fields}
        scope = "|".join(str(values.get(k)) for k in self.scheme.sequence_scope)
        return self.scheme.archive_number(category, location, year, next_value(s, scope))

    # -- read -----------------------------------------------------------------------

    def show(self, actor: Actor, ref: str, with_text: bool = False) -> dict:
        self.require(actor, "record.meta", ref)
        if with_text:
            self.require(actor, "record.text", ref)
        with self.db.read() as s:
            rec = self.find(s, ref)
            view = self.describe(rec)
            view["aliases"] = list(s.execute(select(ArchiveAlias.alias).where(
                ArchiveAlias.record_id == rec.id)).scalars())
            view["history"] = [
                {"version": v.version, "by": v.changed_by, "at": v.changed_at.isoformat(timespec="seconds"),
                 "reason": v.reason, "changes": json.loads(v.changes)}
                for v in s.execute(select(RecordVersion).where(RecordVersion.record_id == rec.id)
                                   .order_by(RecordVersion.version)).scalars()]
        self._require_visible(actor, rec, "record.view")
        view["holds"] = self.holds([rec.id]).get(rec.id, [])
        if with_text:
            pages = self.read_text_pages(rec)
            view["text"] = "\n\n".join(p.get("text", "") for p in pages)
            view["text_pages"] = pages
        with self.db.session() as s:
            self.audit.append(s, actor.name, "record.view", rec.archive_no or rec.provisional_no,
                              "ok", {"text": with_text})
        return view

    def describe(self, rec: Record) -> dict:
        """The CONTRACT.md `show` shape (no text)."""
        return {
            "archive_no": rec.archive_no, "provisional_no": rec.provisional_no,
            "title": rec.title, "category": rec.category, "location": rec.location,
            "year": rec.year, "date": rec.doc_date.isoformat() if rec.doc_date else None,
            "security": rec.security, "status": rec.status, "sha256": rec.sha256,
            "pages": rec.pages, "media_type": rec.media_type, "size": rec.size,
            "original_name": rec.original_name, "maintenance_code": rec.maintenance_code,
            "responsible": rec.responsible, "custody": rec.custody,
            "retention": {"period": rec.retention_period,
                          "until": rec.retention_until.isoformat() if rec.retention_until else None},
            "ingested_by": rec.ingested_by,
            "ingested_at": rec.ingested_at.isoformat(timespec="seconds"),
            "version": rec.version, "classify_confidence": rec.classify_confidence,
            "suggestion": json.loads(rec.suggestion) if rec.suggestion else None,
        }

    def _dek(self, rec: Sealed) -> bytes:
        suite = crypto.get_suite(rec.suite)
        kek = self.keyring.kek(rec.kek_id)  # a shredded record (kek_id None) raises NotFound here
        assert rec.wrapped_dek is not None  # shredding clears it together with kek_id
        return crypto.unwrap_dek(suite, kek, rec.wrapped_dek,
                                 rec.id.encode())

    def read_text_pages(self, rec: Sealed) -> list[dict]:
        """Decrypted per-page text (no rights check: callers check first)."""
        if not rec.has_text:
            return []
        blob = self.store.get_bytes(object_key(rec.id, "text"))
        plain = crypto.decrypt_bytes(crypto.get_suite(rec.suite), self._dek(rec), blob,
                                     aad(rec.id, "text"))
        return json.loads(plain)

    def iter_original(self, rec: Record) -> Iterator[bytes]:
        """Decrypted original, one authenticated segment at a time."""
        return crypto.decrypt_chunks(crypto.get_suite(rec.suite), self._dek(rec),
                                     self.store.get(object_key(rec.id, "original")),
                                     aad(rec.id, "original"))

    def get(self, actor: Actor, ref: str, dest: Path) -> dict:
        """Write the original bytes to `dest` (atomically), checking their SHA-256 on the way."""
        self.require(actor, "record.get", ref)
        with self.db.read() as s:
            rec = self.find(s, ref)
        self._require_visible(actor, rec, "record.download")
        if rec.status == "destroyed":
            raise NotFound(f"档案 {ref} 已销毁，原件不复存在（见销毁登记簿）。")
        if rec.sha256 is None:
            raise InvalidInput(f"档案 {ref} 只有纸质原件（{rec.custody or '存放位置未登记'}），没有电子原件。")
        dest = Path(dest)
        fd, tmp = tempfile.mkstemp(prefix=".dangan-", dir=dest.parent if dest.parent.exists() else None)
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as out:
                for chunk in self.iter_original(rec):
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != rec.sha256:
                raise IntegrityError(f"档案 {ref} 的原件哈希与入库时不符。")
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        with self.db.session() as s:
            self.audit.append(s, actor.name, "record.download", rec.archive_no or rec.provisional_no,
                              "ok", {"sha256": rec.sha256})
        return {"archive_no": rec.archive_no, "file": str(dest), "sha256": rec.sha256, "size": rec.size}

    # -- verify ---------------------------------------------------------------------

    def verify(self, actor: Actor, refs: Iterable[str] | None = None) -> list[dict]:
        """Fixity and the archive's own 四性 checks; one result per record."""
        self.require(actor, "record.verify")
        with self.db.read() as s:
            if refs is None:
                records = list(s.execute(select(Record).order_by(Record.ingested_at)).scalars())
            else:
                records = [self.find(s, r) for r in refs]
        results = [self.check_record(rec) for rec in records]
        with self.db.session() as s:
            bad = [r["archive_no"] for r in results if not r["ok"]]
            self.audit.append(s, actor.name, "record.verify", None, "ok" if not bad else "failed",
                              {"records": len(results), "failed": bad[:50]})
        return results

    def check_record(self, rec: Record) -> dict:
        """The archive's own 四性 checks of one record: each True or a sentence."""
        checks: dict[str, bool | str] = {"authenticity": True, "integrity": True,
                                         "usability": True, "security": True}
        if rec.sha256 is None:  # a paper original: nothing digital to check but the metadata
            if not rec.custody:
                checks["integrity"] = "纸质档案未登记存放位置（custody）。"
        else:
            self._check_content(rec, checks)
        if rec.archive_no:
            try:
                self.scheme.parse_archive_no(rec.archive_no)
            except InvalidInput as exc:
                checks["authenticity"] = f"档号不符合规则：{exc}"
        if not rec.title or rec.security not in LEVELS:
            checks["integrity"] = "必填元数据缺失（题名或密级）。"
        ok = all(v is True for v in checks.values())
        return {"archive_no": rec.archive_no or rec.provisional_no, "ok": ok, "checks": checks}

    def _check_content(self, rec: Record, checks: dict[str, bool | str]) -> None:
        """Decrypt everything: the key unwraps, every segment authenticates, the hash fits."""
        try:
            self._dek(rec)
        except DanganError as exc:
            checks["security"] = f"无法用本档案的密钥解开数据密钥：{exc}"
            return
        try:
            digest = hashlib.sha256()
            size = 0
            for chunk in self.iter_original(rec):
                digest.update(chunk)
                size += len(chunk)
            if digest.hexdigest() != rec.sha256:
                checks["authenticity"] = "原件的 SHA-256 与入库时记录的不符。"
            elif size != rec.size:
                checks["integrity"] = f"原件字节数 {size} 与记录的 {rec.size} 不符。"
        except NotFound:
            checks["integrity"] = "原件对象缺失。"
        except IntegrityError as exc:
            checks["security"] = f"原件解密校验失败：{exc}"
        if rec.has_text:
            try:
                self.read_text_pages(rec)
            except NotFound:
                checks["integrity"] = "全文对象缺失。"
            except (IntegrityError, ValueError) as exc:
                checks["security"] = f"全文解密校验失败：{exc}"

    # -- edit -----------------------------------------------------------------------

    def edit(self, actor: Actor, ref: str, changes: dict, reason: str) -> dict:
        """A new version with who/when/why; confirming a queued record assigns its 档号.

        A changed category, location or year gives an active record a new 档号; the old
        one stays as an alias that still resolves.
        """
        self.require(actor, "record.edit", ref)
        if not reason or not reason.strip():
            raise InvalidInput("修改档案信息必须说明原因（--reason）。")
        unknown = set(changes) - set(EDITABLE)
        if unknown:
            raise InvalidInput(f"不能修改字段 {sorted(unknown)[0]!r}。")
        probe = RecordInput(original_name="", media_type="", title=changes.get("title") or "x",
                            category=changes.get("category"), location=changes.get("location"),
                            security=changes.get("security"),
                            maintenance_code=changes.get("maintenance_code"))
        self._validate(probe)
        with self.db.read() as s:
            target = self.find(s, ref)
        self._require_visible(actor, target, "record.edit")
        normalized = dict(changes)
        for key in ("category", "location", "security", "maintenance_code"):
            if key in changes and changes[key] is not None:
                normalized[key] = getattr(probe, key)
        if "title" in changes:
            normalized["title"] = probe.title
        with self.db.session() as s:
            rec = self.find(s, ref)
            diff = {k: [_plain(getattr(rec, k)), _plain(v)] for k, v in normalized.items()
                    if getattr(rec, k) != v}
            confirm = rec.status == QUEUED
            if not diff and not confirm:
                raise InvalidInput("没有需要修改的内容。")
            old_no = rec.archive_no
            for key, value in normalized.items():
                setattr(rec, key, value)
            if "doc_date" in normalized:
                rec.year = rec.doc_date.year if rec.doc_date else None
            if confirm:
                if rec.category is None or rec.location is None:
                    missing = "类别" if rec.category is None else "位置编码"
                    raise InvalidInput(f"待分类档案确认前需要{missing}（--category / --location）。")
                if rec.doc_date is None:  # the 档号's year is the document's, never today's
                    raise InvalidInput("待分类档案确认前需要文件日期（--date YYYY-MM-DD）：文件上没有可读的日期。")
                rec.status = ACTIVE
                rec.archive_no = self._allocate_archive_no(s, rec, dt.date.today())
                s.add(ArchiveAlias(alias=rec.provisional_no, record_id=rec.id))
                diff["archive_no"] = [None, rec.archive_no]
            elif old_no and {"category", "location", "doc_date"} & set(diff):
                new_year = rec.year or dt.date.today().year
                old_fields = self.scheme.parse_archive_no(old_no)
                if (diff.keys() & {"category", "location"}) or str(old_fields.get("year")) != str(new_year):
                    rec.archive_no = self._allocate_archive_no(s, rec, dt.date.today())
                    s.add(ArchiveAlias(alias=old_no, record_id=rec.id))
                    diff["archive_no"] = [old_no, rec.archive_no]
            self._set_retention(rec)
            rec.version += 1
            s.add(RecordVersion(record_id=rec.id, version=rec.version, changed_by=actor.name,
                                reason=reason.strip(), changes=json.dumps(diff, ensure_ascii=False)))
            reindex_later(s, [rec.id])
            s.flush()
            self.audit.append(s, actor.name, "record.confirm" if confirm else "record.edit",
                              rec.archive_no, "ok", {"changes": diff, "reason": reason.strip()})
            return self.describe(rec)

    def list(self, actor: Actor, offset: int = 0, limit: int = 50, category: str | None = None,
             location_prefix: str | None = None, status: str | None = None) -> tuple[int, list[dict]]:
        """A page of records the actor may see, newest first; the count honours clearance too."""
        self.require(actor, "record.meta")
        from sqlalchemy import func

        visible = [name for name, level in LEVELS.items() if level <= actor.level]
        query = select(Record).where(Record.security.in_(visible))
        if actor.categories is not None:
            query = query.where(Record.category.in_(sorted(actor.categories)))
        if category:
            query = query.where(Record.category == self.scheme.category(category).key)
        if location_prefix:
            prefix = str(codes_mod.parse_location(location_prefix, self.scheme.codes))
            query = query.where(or_(Record.location == prefix, Record.location.like(prefix + "-%")))
        query = query.where(Record.status == status) if status else query.where(Record.status != "destroyed")
        with self.db.session() as s:
            total = s.execute(select(func.count()).select_from(query.subquery())).scalar_one()
            rows = list(s.execute(query.order_by(Record.ingested_at.desc(), Record.id)
                                  .offset(offset).limit(limit)).scalars())
        held = self.holds([r.id for r in rows])
        return total, [{**self.describe(r), "holds": held.get(r.id, [])} for r in rows]

    def review_queue(self, actor: Actor, limit: int = 50) -> builtins.list[dict]:
        """The 待分类 queue, oldest first."""
        self.require(actor, "review")
        with self.db.read() as s:
            rows = s.execute(select(Record).where(Record.status == QUEUED)
                             .order_by(Record.ingested_at).limit(limit)).scalars()
            return [self.describe(r) for r in rows if actor.may_see(r.security, r.category)]

    # -- keys -----------------------------------------------------------------------

    def rewrap_all(self, new_kek_id: str, batch: int = 500) -> int:
        """Re-wrap every record's DEK under `new_kek_id`; content is not re-encrypted."""
        done = 0
        new_kek = self.keyring.kek(new_kek_id)
        while True:
            with self.db.session() as s:
                rows = list(s.execute(select(Record).where(Record.kek_id != new_kek_id)
                                      .limit(batch)).scalars())
                for rec in rows:
                    suite = crypto.get_suite(rec.suite)
                    # kek_id != new excludes NULL (paper-only) rows; a kek_id comes with its DEK.
                    assert rec.kek_id is not None and rec.wrapped_dek is not None
                    dek = crypto.unwrap_dek(suite, self.keyring.kek(rec.kek_id), rec.wrapped_dek,
                                            rec.id.encode())
                    rec.wrapped_dek = crypto.wrap_dek(suite, new_kek, dek, rec.id.encode())
                    rec.kek_id = new_kek_id
            done += len(rows)
            if len(rows) < batch:
                return done


def _plain(value: object) -> object:
    return value.isoformat() if isinstance(value, dt.date) else value

