"""What the system administrator does in the browser beyond the CLI's services: edit the
classification scheme (validated exactly as `scheme.toml` is) and read the system status.
三员分立 holds: these need the admin's rights, which grant no roles or clearance."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from dangan import __version__
from dangan.archive.models import AuditHead, Outbox, Record, User
from dangan.archive.permissions import Actor
from dangan.archive.scheme import load_scheme
from dangan.errors import InvalidInput, PermissionDenied
from dangan.ingest.models import IngestJob

if TYPE_CHECKING:
    from dangan.system import Dangan


def _require(system: Dangan, actor: Actor, right: str, action: str) -> None:
    if not actor.can(right):
        with system.db.session() as s:
            system.audit.append(s, actor.name, action, None, "denied")
        raise PermissionDenied(f"用户 {actor.name} 不是系统管理员，无权执行此操作。")


def save_scheme(system: Dangan, actor: Actor, text: str) -> dict:
    """Validate and save a new scheme.toml; categories that records use may not disappear.
    The running processes keep the scheme they loaded until they restart."""
    _require(system, actor, "project.manage", "scheme.update")
    if len(text) > 1_000_000:
        raise InvalidInput("分类方案文件过大。")
    path = system.settings.scheme_path
    fd, tmp = tempfile.mkstemp(prefix=".scheme-", suffix=".toml", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text.replace("\r\n", "\n"))
        scheme = load_scheme(tmp)
        keys = {c.key for c in scheme.categories}
        with system.db.read() as s:
            used = {c for c in s.execute(select(Record.category).distinct().where(Record.category.is_not(None)))
                    .scalars() if c is not None}
        missing = sorted(used - keys)
        if missing:
            raise InvalidInput(f"新方案缺少已有档案使用的类别 {missing[0]!r}，不能删除在用的类别。")
        if path.exists():
            shutil.copy2(path, path.with_suffix(".toml.bak"))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    with system.db.session() as s:
        system.audit.append(s, actor.name, "scheme.update", str(path.name), "ok",
                            {"categories": len(scheme.categories)})
    return {"categories": len(scheme.categories), "restart_needed": True}


def status(system: Dangan, actor: Actor) -> dict:
    _require(system, actor, "system.status", "system.status")
    cfg = system.settings
    with system.db.read() as s:
        by_status = dict(s.execute(select(Record.status, func.count()).group_by(Record.status)).all())
        users = s.execute(select(func.count()).select_from(User)).scalar_one()
        head = s.get(AuditHead, 1)
        outbox = s.execute(select(func.count()).select_from(Outbox)).scalar_one()
        jobs = dict(s.execute(select(IngestJob.state, func.count()).group_by(IngestJob.state)).all())
    disk = shutil.disk_usage(cfg.home)
    return {
        "version": __version__, "home": str(cfg.home), "database": system.db.dialect,
        "storage": "s3" if cfg.store_url.startswith(("s3://", "http")) else "filesystem",
        "search": cfg.search_backend, "cipher_suite": cfg.cipher_suite,
        "kek_active": system.keyring.active_id, "kek_count": len(list(system.keyring.ids)),
        "records": by_status, "users": users, "audit_entries": head.last_id if head else 0,
        "audit_head": head.last_hash if head else None, "outbox_pending": outbox, "ingest_jobs": jobs,
        "disk_free_gb": round(disk.free / 1024**3, 1), "disk_total_gb": round(disk.total / 1024**3, 1),
    }
