"""`dangan migrate --to CONFIG`: copy this archive to other backends (typically the
embedded defaults to PostgreSQL + MinIO + Elasticsearch), resumable, verified record by
record.

Run it with the archive at rest (no ingest meanwhile): the database is copied from one
consistent snapshot in one transaction — whole or not at all — and marked in the target's
``meta`` table; objects are copied when the target does not hold them yet (same key, same
size), so an interrupted run is resumed by running it again. Finally every record of the
target is checked as `dangan verify` does (its key unwraps, every segment authenticates,
the SHA-256 matches) and the target's search index is rebuilt.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import insert, select

from dangan.archive.db import Database
from dangan.archive.models import Meta, Record
from dangan.archive.permissions import Actor
from dangan.archive.storage import open_store
from dangan.backup import dbcopy
from dangan.config import CONFIG_NAME, Settings, load_settings
from dangan.errors import Conflict, InvalidInput

if TYPE_CHECKING:
    from dangan.system import Dangan

MARK = "migrated_from"


def migrate_archive(system: Dangan, actor: Actor, to_config: str, target_home: str | None = None,
                    progress: Callable[[str], None] | None = None) -> dict:
    system._require(actor, "backup", "archive.migrate")
    say = progress or (lambda _m: None)
    cfg = Path(to_config).absolute()
    home = Path(target_home).absolute() if target_home else cfg.parent
    if home == system.settings.home:
        raise InvalidInput("目标数据目录不能与当前数据目录相同：请把目标配置放到另一个目录，或用 --target-home")
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    if cfg != home / CONFIG_NAME:
        shutil.copyfile(cfg, home / CONFIG_NAME)
    if system.settings.scheme_path.exists() and not (home / "scheme.toml").exists():
        shutil.copyfile(system.settings.scheme_path, home / "scheme.toml")
    target = load_settings(home, env={k: v for k, v in os.environ.items()
                                      if k not in ("DANGAN_DATABASE_URL", "DANGAN_STORAGE_URL", "DANGAN_HOME")})
    if target.db_url == system.settings.db_url or target.store_url == system.settings.store_url:
        raise InvalidInput("目标配置的数据库或对象存储与当前相同：迁移需要另一套后端")
    report: dict = {"home": str(home), "database": _redact(target.db_url), "store": target.store_url.split("?")[0],
                    "rows": 0, "objects_copied": 0, "objects_skipped": 0, "bytes_copied": 0,
                    "verified": 0, "mismatched": [], "resumed": False}
    source_id = f"{system.settings.home}|{system.keyring.fingerprint(system.keyring.active_id)}"
    db = Database(target.db_url)
    try:
        if db.is_initialised():
            with db.read() as s:
                mark = s.get(Meta, MARK)
            if mark is None or not mark.value.startswith(source_id):
                raise Conflict("目标数据库已有另一个档案库：迁移需要空数据库")
            report["resumed"] = True
        _copy_keyring(system, target)
        if not report["resumed"]:
            say("复制数据库…")
            db.migrate()
            with tempfile.TemporaryDirectory(prefix="dangan-migrate-") as tmp:
                tables = dbcopy.dump(system.db.engine, Path(tmp))
                stamp = f"{source_id}|{dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}"
                counts = dbcopy.load(db.engine, Path(tmp), tables, after=lambda conn: conn.execute(
                    insert(Meta).values(key=MARK, value=stamp)))
            report["rows"] = sum(counts.values())
    finally:
        db.dispose()

    say("复制对象…")
    dest = open_store(target.store_url)
    lock = threading.Lock()

    def copy(key: str) -> None:
        size = system.store.size(key)
        if dest.exists(key) and dest.size(key) == size:
            with lock:
                report["objects_skipped"] += 1
            return
        n = dest.put(key, system.store.get(key))
        with lock:
            report["objects_copied"] += 1
            report["bytes_copied"] += n

    with cf.ThreadPoolExecutor(8) as pool:
        for fut in cf.as_completed([pool.submit(copy, k) for k in system.store.keys("")]):
            fut.result()

    say("逐件核对…")
    from dangan.system import open_dangan

    copy_system = open_dangan(home, settings=target)
    try:
        with copy_system.db.read() as s:
            recs = list(s.execute(select(Record).where(Record.wrapped_dek.is_not(None))).scalars())
        for rec in recs:
            result = copy_system.records.check_record(rec)
            report["verified"] += 1
            if not result["ok"]:
                report["mismatched"].append(result["archive_no"])
        with copy_system.db.session() as s:
            copy_system.audit.append(s, actor.name, "archive.migrate", str(home), "ok" if not report["mismatched"] else "failed",
                                     {k: v for k, v in report.items() if k != "mismatched"}
                                     | {"mismatched": report["mismatched"][:50]})
        try:
            copy_system.search_service.reindex()
        except Exception as exc:
            report["index"] = f"未重建（{type(exc).__name__}）：稍后在目标上运行 dangan search reindex"
    finally:
        copy_system.close()
    with system.db.session() as s:
        system.audit.append(s, actor.name, "archive.migrate", str(home), "ok" if not report["mismatched"] else "failed",
                            {"rows": report["rows"], "objects_copied": report["objects_copied"],
                             "verified": report["verified"]})
    if report["mismatched"]:
        raise Conflict(f"迁移后核对发现 {len(report['mismatched'])} 件不一致（如 {report['mismatched'][0]}）：请重新运行迁移")
    return report


def _copy_keyring(system: Dangan, target: Settings) -> None:
    """The keyring goes along (same keys: the wrapped data keys stay valid)."""
    if system.keyring.source == "file" and system.keyring.path is not None:
        if not target.keyring_path.exists():
            shutil.copy2(system.keyring.path, target.keyring_path)
            os.chmod(target.keyring_path, 0o600)
        elif target.keyring_path.read_bytes() != system.keyring.path.read_bytes():
            raise Conflict(f"目标的密钥文件 {target.keyring_path} 与本档案库的不同：拒绝覆盖")


def _redact(url: str) -> str:
    """A database URL without its password."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return url
