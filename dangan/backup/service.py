"""Backup and restore: a consistent snapshot of the database, the objects copied
incrementally, the keyring sealed under a passphrase and/or for recipient keys.

A backup destination is an object store like the archive's own (a directory, or an
``s3://`` bucket for the off-site copy), laid out as::

    backup.json                       the set: format, snapshots (oldest first)
    destroyed.json                    every record ever destroyed (cumulative, never shrinks)
    objects/<object key>              ciphertext, copied once (objects are immutable)
    snapshots/<name>/db/<table>.jsonl.gz   the database, one read transaction
    snapshots/<name>/keyring.sealed   the keyring, sealed (dangan.backup.sealed): under the
                                      passphrase and/or for recipient keys (X25519)
    snapshots/<name>/config/…         dangan.toml, scheme.toml
    snapshots/<name>/manifest.json    written last: a snapshot without it is incomplete

Order of a backup: database snapshot first, then the objects. Objects are written before
the rows that point to them, so every record in the snapshot finds its objects. Then the
destroyed list is brought up to date from the live database (read after the copy, so a
destruction that raced the backup is in it) and the destroyed records' objects leave the
destination too.

Restore rebuilds an archive in an empty data directory from the newest (or a named)
snapshot, then re-applies every destruction the destination knows of — an old snapshot
predates later destructions, and a destroyed record must not come back: its key is
forgotten (archive.shred) and its objects purged, audited as such.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import datetime as dt
import json
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from dangan.archive.keyring import Keyring
from dangan.archive.models import Record
from dangan.archive.permissions import RIGHTS, Actor
from dangan.archive.shred import DESTROYED, forget_key, purge_objects
from dangan.archive.storage import ObjectStore, open_store
from dangan.backup import dbcopy
from dangan.backup.recipients import Identity, Recipient, parse_recipient
from dangan.backup.sealed import recipients_of, seal, unseal
from dangan.config import CONFIG_NAME, load_settings
from dangan.errors import Conflict, DanganError, InvalidInput, NotFound, PermissionDenied

if TYPE_CHECKING:
    from dangan.system import Dangan

FORMAT = "dangan-backup"
SET_KEY = "backup.json"
DESTROYED_KEY = "destroyed.json"
COPY_THREADS = 8
KEYRING_LABEL = "dangan keyring"


@dataclass
class BackupReport:
    dest: str
    snapshot: str
    tables: int = 0
    rows: int = 0
    objects_total: int = 0
    objects_copied: int = 0
    bytes_copied: int = 0
    objects_skipped: int = 0
    destroyed_known: int = 0
    objects_pruned: int = 0
    keyring: str = "sealed"
    sealed_for: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class RestoreReport:
    home: str
    snapshot: str
    rows: int = 0
    objects_restored: int = 0
    bytes_restored: int = 0
    destructions_reapplied: list[str] = field(default_factory=list)
    keyring: str = "environment"
    index: str = "rebuilt"
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _json(store: ObjectStore, key: str, default: Any = None) -> Any:
    """A JSON document of the backup (Any, as json.loads: callers check its shape)."""
    try:
        return json.loads(store.get_bytes(key))
    except NotFound:
        return default


def _put_json(store: ObjectStore, key: str, doc: object) -> None:
    store.put_bytes(key, (json.dumps(doc, ensure_ascii=False, indent=1, default=str) + "\n").encode())


def _record_id(key: str) -> str | None:
    parts = key.split("/")
    return parts[1] if len(parts) == 3 and parts[0] == "records" else None


def open_destination(where: str) -> ObjectStore:
    where = str(where).strip()
    if not where:
        raise InvalidInput("请给出备份位置：目录路径或 s3:// 地址")
    return open_store(where)


class BackupService:
    """`backup` (by an admin) of one open archive."""

    def __init__(self, system: Dangan) -> None:
        self.system = system

    def recipients(self, given: Sequence[str] = ()) -> list[Recipient]:
        """The recipients a backup seals for: those given (paths relative to the current
        directory) and those of `[backup] recipient` (relative to the data directory)."""
        settings = self.system.settings
        found = [parse_recipient(v) for v in given]
        found += [parse_recipient(v, settings.home) for v in settings.backup_recipient.split(",") if v.strip()]
        return list({r.fingerprint: r for r in found}.values())

    def backup(self, actor: Actor, dest: str, passphrase: str | None, *, keyring: bool = True,
               recipients: Sequence[Recipient] | None = None,
               progress: Callable[[str], None] | None = None) -> BackupReport:
        """One snapshot into `dest`; the keyring is sealed under `passphrase` and for
        `recipients` (None: those of the settings), any one of which opens it."""
        system = self.system
        system._require(actor, "backup", "backup.create")
        sealing = keyring and system.keyring.source == "file"
        recipients = (self.recipients() if sealing else []) if recipients is None else list(recipients)
        if sealing and not passphrase and not recipients:
            raise InvalidInput("备份需要口令或收件人公钥来加密密钥文件：请设置 DANGAN_BACKUP_PASSPHRASE 或 "
                               "DANGAN_BACKUP_RECIPIENT（或用 --no-keyring 另行保管密钥）")
        started = time.monotonic()
        target = open_destination(dest)
        known = _json(target, SET_KEY, None)
        if known is not None and (not isinstance(known, dict) or known.get("format") != FORMAT):
            raise Conflict(f"{dest} 已有其他内容，不是 Dangan 备份位置：请换一个空目录或存储桶")
        name = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
        report = BackupReport(dest=str(dest), snapshot=name)
        base = f"snapshots/{name}"
        say = progress or (lambda _m: None)

        # 1. the database, one read transaction
        say("数据库快照…")
        with tempfile.TemporaryDirectory(prefix="dangan-backup-") as tmp:
            tables = dbcopy.dump(system.db.engine, Path(tmp))
            for info in tables.values():
                with open(Path(tmp) / info["file"], "rb") as fh:
                    target.put(f"{base}/db/{info['file']}", iter(partial(fh.read, 1 << 20), b""))
        report.tables = len(tables)
        report.rows = sum(t["rows"] for t in tables.values())

        # 2. the objects: only those the destination does not hold yet
        say("复制对象…")
        destroyed_before = set(_json(target, DESTROYED_KEY, []) or [])
        held = {k[len("objects/"):] for k in target.keys("objects/")}
        src_keys = [k for k in system.store.keys("") if _record_id(k) not in destroyed_before]
        todo = [k for k in src_keys if k not in held]
        report.objects_total = len(src_keys)
        report.objects_skipped = len(src_keys) - len(todo)
        lock = threading.Lock()

        def copy(key: str) -> None:
            try:
                n = target.put(f"objects/{key}", system.store.get(key))
            except NotFound:
                return  # removed since it was listed (a destruction): the list below covers it
            with lock:
                report.objects_copied += 1
                report.bytes_copied += n

        with cf.ThreadPoolExecutor(COPY_THREADS) as pool:
            for fut in cf.as_completed([pool.submit(copy, k) for k in todo]):
                fut.result()

        # 3. the keyring, sealed; the configuration
        if not keyring:
            report.keyring = "omitted"
        elif system.keyring.source == "file":
            assert system.keyring.path is not None
            sealed = seal(system.keyring.path.read_bytes(), passphrase or None, KEYRING_LABEL, recipients)
            report.sealed_for = recipients_of(sealed)
            target.put_bytes(f"{base}/keyring.sealed", sealed)
        else:
            report.keyring = "environment"  # DANGAN_KEK lives in the secret manager, not here
        for path in (system.settings.config_path, system.settings.scheme_path):
            if path.exists():
                target.put_bytes(f"{base}/config/{path.name}", path.read_bytes())

        # 4. destructions: cumulative, read after the copy
        with system.db.read() as s:
            now_destroyed = set(s.execute(select(Record.id).where(Record.status == DESTROYED)).scalars())
        destroyed = destroyed_before | now_destroyed
        if destroyed != destroyed_before:
            _put_json(target, DESTROYED_KEY, sorted(destroyed))
        for rid in sorted(now_destroyed - destroyed_before):
            for key in list(target.keys(f"objects/records/{rid}/")):
                target.delete(key)
                report.objects_pruned += 1
        report.destroyed_known = len(destroyed)

        # 5. the manifest last: only now is the snapshot complete
        report.seconds = round(time.monotonic() - started, 3)
        manifest = {"format": FORMAT, "version": 1, "name": name,
                    "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "created_by": actor.name, "dialect": system.db.dialect,
                    "schema": dbcopy.schema_heads(system.db.engine), "tables": tables,
                    "objects": src_keys, "keyring": report.keyring,
                    "kek_fingerprint": system.keyring.fingerprint(system.keyring.active_id),
                    "report": report.as_dict()}
        _put_json(target, f"{base}/manifest.json", manifest)
        doc: dict[str, Any] = known if isinstance(known, dict) else {"format": FORMAT, "version": 1, "snapshots": []}
        doc["snapshots"] = [*doc.get("snapshots", []), {"name": name, "created": manifest["created"],
                                                       "rows": report.rows, "objects": len(src_keys)}]
        _put_json(target, SET_KEY, doc)
        with system.db.session() as s:
            system.audit.append(s, actor.name, "backup.create", name, "ok",
                                {k: v for k, v in report.as_dict().items() if k != "dest"} | {"dest": _safe(dest)})
        return report


def _safe(dest: str) -> str:
    """The destination without anything that looks like a secret (query strings)."""
    return str(dest).split("?", 1)[0]


def list_snapshots(src: str) -> list[dict]:
    store = open_destination(src)
    doc = _json(store, SET_KEY, None)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise NotFound(f"{src} 不是 Dangan 备份位置（没有 {SET_KEY}）")
    return list(doc.get("snapshots", []))


def restore(src: str, home: str | os.PathLike | None, user: str | None, passphrase: str | None, *,
            snapshot: str | None = None, keyring_file: str | None = None, identity: Identity | None = None,
            reindex: bool = True, progress: Callable[[str], None] | None = None) -> RestoreReport:
    """Rebuild an archive in an empty data directory from a backup; see the module doc.
    A sealed keyring opens with `identity` (a recipient's private key) or `passphrase`."""
    started = time.monotonic()
    say = progress or (lambda _m: None)
    source = open_destination(src)
    snapshots = list_snapshots(src)
    complete = [s["name"] for s in snapshots]
    if not complete:
        raise NotFound(f"{src} 中没有完整的备份快照")
    name = snapshot or complete[-1]
    if name not in complete:
        raise NotFound(f"备份快照 {name} 不存在：可选 {', '.join(complete[-5:])}")
    base = f"snapshots/{name}"
    manifest = _json(source, f"{base}/manifest.json", None)
    if not isinstance(manifest, dict):
        raise InvalidInput(f"备份快照 {name} 不完整（缺少 manifest.json）")

    settings = load_settings(home)
    root = settings.home
    if root.exists() and any(root.iterdir()):
        raise Conflict(f"恢复目标 {root} 不是空目录：请指定一个新的 --home")
    if not user:
        raise PermissionDenied("请用 --as 指明执行恢复的系统管理员")

    with tempfile.TemporaryDirectory(prefix="dangan-restore-") as tmp:
        dump_dir = Path(tmp)
        for info in manifest["tables"].values():
            data = source.get_bytes(f"{base}/db/{info['file']}")
            (dump_dir / info["file"]).write_bytes(data)
        dbcopy.check(dump_dir, manifest["tables"])
        _require_admin(dump_dir, manifest["tables"], user)

        # the keyring: sealed in the backup, or given apart, or in the environment
        ring_bytes: bytes | None = None
        opened = "environment"
        if keyring_file:
            ring_bytes, opened = Path(keyring_file).read_bytes(), "file"
        elif manifest.get("keyring") == "sealed":
            ring_bytes, opened = _open_keyring(source.get_bytes(f"{base}/keyring.sealed"), passphrase, identity)
        elif not os.environ.get("DANGAN_KEK"):
            raise InvalidInput("该备份不含密钥：请用 --keyring 指定密钥文件，或设置 DANGAN_KEK")

        created_root = not root.exists()
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o700)
        try:
            for cfg in (CONFIG_NAME, "scheme.toml"):
                with contextlib.suppress(NotFound):
                    (root / cfg).write_bytes(source.get_bytes(f"{base}/config/{cfg}"))
            settings = load_settings(root)
            if ring_bytes is not None:
                ring = Keyring._from_doc(json.loads(ring_bytes), settings.keyring_path)
                ring.path = settings.keyring_path
                settings.keyring_path.parent.mkdir(parents=True, exist_ok=True)
                if settings.keyring_path.exists():
                    raise Conflict(f"密钥文件 {settings.keyring_path} 已存在，拒绝覆盖")
                ring._write(exclusive=True)
            from dangan.archive.db import Database

            db = Database(settings.db_url)
            try:
                if db.is_initialised():
                    raise Conflict("目标数据库已有档案库：请为恢复准备一个空数据库")
                say("恢复数据库…")
                db.migrate()
                counts = dbcopy.load(db.engine, dump_dir, manifest["tables"])
            finally:
                db.dispose()
            report = RestoreReport(home=str(root), snapshot=name, rows=sum(counts.values()), keyring=opened)

            from dangan.system import open_dangan

            system = open_dangan(root)
            try:
                _restore_objects(system, source, manifest, report, say)
                _reapply_destructions(system, source, user, report)
                with system.db.session() as s:
                    system.audit.append(s, user, "backup.restore", name, "ok",
                                        {"source": _safe(src), "rows": report.rows,
                                         "objects": report.objects_restored, "keyring": opened,
                                         "reapplied": report.destructions_reapplied})
                if reindex:
                    say("重建检索索引…")
                    try:
                        system.search_service.reindex()
                    except Exception as exc:  # the index is derived: the archive is whole without it
                        report.index = f"未重建（{type(exc).__name__}）：稍后运行 dangan search reindex"
                else:
                    report.index = "skipped"
            finally:
                system.close()
        except BaseException:
            if created_root:
                shutil.rmtree(root, ignore_errors=True)
            else:
                for child in root.iterdir():
                    if child.is_dir():
                        shutil.rmtree(child, ignore_errors=True)
                    else:
                        child.unlink(missing_ok=True)
            raise
    report.seconds = round(time.monotonic() - started, 3)
    return report


def _open_keyring(blob: bytes, passphrase: str | None, identity: Identity | None) -> tuple[bytes, str]:
    """The sealed keyring and what opened it (the identity's fingerprint or "passphrase"),
    for the restore's audit entry. The identity is tried first; its refusal is the one
    reported if the passphrase does not open it either."""
    if identity is None:
        return unseal(blob, passphrase), "passphrase"
    try:
        return unseal(blob, None, identity), identity.recipient.fingerprint
    except InvalidInput as refused:
        if not passphrase:
            raise
        try:
            return unseal(blob, passphrase), "passphrase"
        except InvalidInput:
            raise refused from None


def _require_admin(dump_dir: Path, tables: dict, user: str) -> None:
    """The restoring user must be an active admin of the backed-up archive (checked from the
    snapshot itself, before anything is written)."""
    info = tables.get("users")
    if info is None:
        raise InvalidInput("备份不完整：没有用户表")
    for row in dbcopy.read_rows(dump_dir / info["file"]):
        if row.get("name") == user:
            roles = {r for r in str(row.get("roles") or "").split(",") if r}
            if row.get("active") in (False, 0):
                break
            if any("backup" in RIGHTS.get(r, ()) for r in roles):
                return
            break
    raise PermissionDenied(f"用户 {user} 不是该档案库的系统管理员，不能恢复备份")


def _restore_objects(system: Dangan, source: ObjectStore, manifest: dict, report: RestoreReport,
                     say: Callable[[str], None]) -> None:
    say("恢复对象…")
    destroyed = set(_json(source, DESTROYED_KEY, []) or [])
    held = {k[len("objects/"):] for k in source.keys("objects/")}
    wanted = [k for k in manifest.get("objects", []) if _record_id(k) not in destroyed]
    missing = [k for k in wanted if k not in held]
    if missing:
        raise DanganError(f"备份缺少 {len(missing)} 个对象（如 {missing[0]}）：该备份不完整，换一个快照或位置")
    store = system.store
    lock = threading.Lock()

    def copy(key: str) -> None:
        n = store.put(key, source.get(f"objects/{key}"))
        with lock:
            report.objects_restored += 1
            report.bytes_restored += n

    with cf.ThreadPoolExecutor(COPY_THREADS) as pool:
        for fut in cf.as_completed([pool.submit(copy, k) for k in wanted]):
            fut.result()


def _reapply_destructions(system: Dangan, source: ObjectStore, user: str, report: RestoreReport) -> None:
    destroyed = set(_json(source, DESTROYED_KEY, []) or [])
    if not destroyed:
        return
    with system.db.session() as s:
        recs = [r for r in s.execute(select(Record).where(Record.id.in_(sorted(destroyed)))).scalars()
                if r.status != DESTROYED or r.wrapped_dek is not None]
        for rec in recs:
            forget_key(s, rec)
            system.audit.append(s, user, "backup.reapply_destruction", rec.archive_no or rec.id, "ok",
                                {"record_id": rec.id, "reason": "该档案在此备份之后已被销毁"})
        ids = [r.id for r in recs]
        report.destructions_reapplied = [r.archive_no or r.id for r in recs]
    for rid in ids:
        purge_objects(system.store, rid)
