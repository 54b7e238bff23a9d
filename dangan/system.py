"""The composition root: configuration in, concrete backends and services out.

The CLI and the web app both start here, so they can never behave differently.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import shutil
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from dangan.archive.audit import AuditLog, ChainReport
from dangan.archive.db import Database
from dangan.archive.derived_keys import BLIND_INDEX, CLASSIFIER_CACHE
from dangan.archive.keyring import Keyring
from dangan.archive.models import Meta, Record
from dangan.archive.permissions import Actor
from dangan.archive.projects import ProjectsService
from dangan.archive.records import RecordsService
from dangan.archive.rekey import KeysService
from dangan.archive.scheme import Scheme, load_scheme
from dangan.archive.storage import ObjectStore, open_store
from dangan.archive.users import UsersService, create_user
from dangan.backup.service import BackupService
from dangan.config import DEFAULT_CONFIG_TEXT, Settings, load_settings
from dangan.errors import DanganError, InvalidInput, PermissionDenied
from dangan.loans.custody import CustodyService
from dangan.loans.rules import load_rules
from dangan.loans.service import LoansService
from dangan.retention.service import RetentionService
from dangan.search.status import RecordStatus

if TYPE_CHECKING:  # the feature services import this module's Dangan
    from dangan.handover.service import HandoverService
    from dangan.integrity.service import VerifyService
    from dangan.search.service import SearchService


@dataclass
class Dangan:
    """One archive: its settings, backends and services."""

    settings: Settings
    db: Database
    store: ObjectStore
    keyring: Keyring
    scheme: Scheme

    @cached_property
    def audit(self) -> AuditLog:
        return AuditLog(self.keyring.audit_key)

    @cached_property
    def records(self) -> RecordsService:
        service = RecordsService(self.db, self.store, self.keyring, self.scheme, self.audit,
                                 self.settings.cipher_suite)
        service.grants = lambda actor, rec, action: self.loans.grants(actor, rec, action)
        service.holds = lambda ids: self.retention.holds_of(ids)  # every view of a record shows its hold
        return service

    @cached_property
    def loans(self) -> LoansService:
        return LoansService(self.db, self.audit, self.records, load_rules(self.settings.config_path))

    @cached_property
    def custody(self) -> CustodyService:
        return CustodyService(self.db, self.audit, self.records)

    @cached_property
    def retention(self) -> RetentionService:
        return RetentionService(self.db, self.store, self.audit, self.records, self.scheme,
                                on_loan=lambda ids: self.loans.records_out(ids),
                                index=lambda: self.search_service.backend,
                                search=lambda actor, q, offset, limit: [h["archive_no"] for h in self.search_service
                                                                        .search(actor, q, offset=offset, limit=limit)["hits"]])

    @cached_property
    def record_status(self) -> RecordStatus:
        """The status search shows: a hold wins over a loan, both over `Record.status`."""
        return RecordStatus([("on_hold", self.retention.held_ids), ("on_loan", self.loans.out_ids)])

    @cached_property
    def users(self) -> UsersService:
        return UsersService(self.db, self.audit)

    @cached_property
    def projects(self) -> ProjectsService:
        return ProjectsService(self.db, self.audit, self.scheme)

    @cached_property
    def verify(self) -> VerifyService:
        from dangan.integrity.service import VerifyService

        return VerifyService(self)

    @cached_property
    def handover(self) -> HandoverService:
        from dangan.handover.service import HandoverService

        return HandoverService(self)

    @cached_property
    def search_service(self) -> SearchService:
        from dangan.search.backend import open_backend
        from dangan.search.service import SearchService

        cfg = self.settings
        if cfg.search_backend == "elasticsearch":
            return SearchService(self, open_backend("elasticsearch", url=cfg.elasticsearch_url,
                                                    index=cfg.elasticsearch_index,
                                                    **elastic_client_options(os.environ)))
        try:
            return SearchService(self, open_backend("embedded", path=str(cfg.index_path)))
        except InvalidInput:
            from dangan.search.embedded import _VERSION_FILE

            if not (cfg.index_path / _VERSION_FILE).exists():
                raise  # not an index of ours: leave it alone
        # an index built by an older version: the database is the source of truth, rebuild it
        shutil.rmtree(cfg.index_path)
        service = SearchService(self, open_backend("embedded", path=str(cfg.index_path)))
        service.reindex()
        return service

    @cached_property
    def backups(self) -> BackupService:
        return BackupService(self)

    def actor(self, name: str | None) -> Actor:
        return self.users.actor(name)

    @cached_property
    def keys(self) -> KeysService:
        from dangan.ingest.learning import forget_cached  # the classifier (numpy): not for every command

        return KeysService(self.db, self.keyring, self.records, self.audit, lambda: forget_cached(self))

    def derived_key(self, label: str) -> bytes:
        """The current key of one purpose: "blind-index", "model" (the classifier cache) —
        generations in dangan/archive/derived_keys.py; any other label a fixed derivation
        from the audit key."""
        purpose = {"blind-index": BLIND_INDEX, "model": CLASSIFIER_CACHE}.get(label)
        if purpose is None:
            return hmac.new(self.keyring.audit_key, f"dangan {label} key v1".encode(), hashlib.sha256).digest()
        return self.purpose_key(purpose)[1]

    def purpose_key(self, purpose: str) -> tuple[int, bytes]:
        """(generation, key) of a purpose key now; read each time, so a switch made by
        another process is seen at once."""
        with self.db.read() as s:
            return self.records.derived.current_key(s, purpose)

    @property
    def blind_key(self) -> bytes:
        return self.purpose_key(BLIND_INDEX)[1]

    # -- audit ----------------------------------------------------------------------

    def verify_audit(self, actor: Actor) -> ChainReport:
        self._require(actor, "audit.verify", "audit.verify")
        with self.db.session() as s:
            report = self.audit.verify(s)
        with self.db.session() as s:
            self.audit.append(s, actor.name, "audit.verify", None, "ok" if report.ok else "failed",
                              {"entries": report.entries, "first_bad": report.first_bad})
        return report

    def audit_log(self, actor: Actor, action: str | None = None, since: dt.date | None = None,
                  limit: int | None = None) -> list[dict]:
        self._require(actor, "audit.read", "audit.read")
        with self.db.session() as s:
            rows = [{"id": e.id, "ts": e.ts, "actor": e.actor, "action": e.action,
                     "target": e.target, "outcome": e.outcome, "detail": e.detail, "hash": e.hash}
                    for e in self.audit.entries(s, action=action, since=since, limit=limit)]
            self.audit.append(s, actor.name, "audit.read", None, "ok",
                              {"action": action, "since": since, "rows": len(rows)})
        return rows

    def _require(self, actor: Actor, right: str, action: str) -> None:
        if not actor.can(right):
            with self.db.session() as s:
                self.audit.append(s, actor.name, action, None, "denied")
            raise PermissionDenied(f"用户 {actor.name} 无权执行此操作（{action}）。")

    # -- keys -----------------------------------------------------------------------

    def rotate_keys(self, actor: Actor) -> dict:
        """New KEK; every DEK re-wrapped under it; old KEKs retired once unused."""
        self._require(actor, "keys.rotate", "keys.rotate")
        old = self.keyring.active_id
        external = self.keyring.source != "file"
        # An external keyring (DANGAN_KEK) is rotated where it lives: the operator sets the new
        # key and lists the old in DANGAN_KEK_PREVIOUS; here every data key is re-wrapped.
        new = old if external else self.keyring.rotate()
        count = self.records.rewrap_all(new)
        with self.db.session() as s:
            purpose_keys = self.records.derived.rewrap(s, new)  # blind-index / classifier-cache keys
            still_used = set(s.execute(select(Record.kek_id).distinct()).scalars()) | self.records.derived.kek_ids(s)
            unused = [k for k in self.keyring.ids if k != new and k not in still_used]
            for kek_id in unused if not external else []:
                self.keyring.retire(kek_id)
            _remember_fingerprint(s, self.keyring)
            self.audit.append(s, actor.name, "keys.rotate", new, "ok",
                              {"previous": old, "rewrapped": count, "purpose_keys": purpose_keys, "unused": unused})
        data = {"previous": old, "active": new, "rewrapped": count, "purpose_keys": purpose_keys}
        if external:
            data["removable"] = unused  # no data key needs them: drop them from DANGAN_KEK_PREVIOUS
        return data

    def close(self) -> None:
        self.db.dispose()


def elastic_client_options(env: dict | os._Environ) -> dict:
    """Elasticsearch with security on: TLS (https:// URL, CA file) and an API key or a user
    and password, from the environment only (never the config file). The API key is the
    `encoded` value Elasticsearch returns, or its `id:api_key` pair."""
    options: dict = {}
    if env.get("DANGAN_ES_API_KEY"):
        key = env["DANGAN_ES_API_KEY"].strip()
        options["api_key"] = tuple(key.split(":", 1)) if ":" in key else key
    elif env.get("DANGAN_ES_USERNAME"):
        options["basic_auth"] = (env["DANGAN_ES_USERNAME"], env.get("DANGAN_ES_PASSWORD", ""))
    if env.get("DANGAN_ES_CA_CERTS"):
        options["ca_certs"] = env["DANGAN_ES_CA_CERTS"]
    return options


def _remember_fingerprint(s: Session, keyring: Keyring) -> None:
    known = s.get(Meta, "kek_fingerprints")
    prints = set(known.value.split(",")) if known else set()
    prints.add(keyring.fingerprint(keyring.active_id))
    if known:
        known.value = ",".join(sorted(prints))
    else:
        s.add(Meta(key="kek_fingerprints", value=",".join(sorted(prints))))


def _check_key_matches(db: Database, keyring: Keyring) -> None:
    with db.session() as s:
        known = s.get(Meta, "kek_fingerprints")
        if known is None:
            return
        prints = known.value.split(",")
        if not any(keyring.fingerprint(k) in prints for k in keyring.ids):  # (a rotated key: an older one known)
            raise DanganError("密钥与该档案库不匹配：这个数据目录是用另一把密钥初始化的。"
                              "请提供原来的密钥文件或 DANGAN_KEK。")


def open_dangan(home: str | os.PathLike | None = None, settings: Settings | None = None) -> Dangan:
    """Open an initialised archive; refuse clearly if it is not one."""
    settings = settings or load_settings(home)
    if not settings.keyring_path.exists() and not os.environ.get("DANGAN_KEK"):
        raise DanganError(f"数据目录 {settings.home} 尚未初始化：请先运行 dangan init。")
    db = Database(settings.db_url)
    if not db.is_initialised():
        raise DanganError(f"数据目录 {settings.home} 的数据库尚未初始化：请先运行 dangan init。")
    keyring = Keyring.load(settings.keyring_path)
    _check_key_matches(db, keyring)
    scheme = load_scheme(settings.scheme_path if settings.scheme_path.exists() else None)
    return Dangan(settings, db, open_store(settings.store_url), keyring, scheme)


def init_archive(home: str | os.PathLike | None, admin: str, security: str, auditor: str,
                 passwords: dict[str, str] | None = None) -> tuple[Dangan, bool]:
    """Create data directory, config, scheme, key file, database and the 三员 accounts.

    Idempotent: on an existing archive it checks the key, upgrades the schema and returns
    `created=False`; it refuses if the key differs or the 三员 names differ.
    """
    names = [admin, security, auditor]
    if len(set(names)) != 3:
        raise DanganError("三员分立：系统管理员、安全保密员和安全审计员必须是三个不同的人。")
    settings = load_settings(home)
    root = settings.home
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    if not settings.config_path.exists():
        settings.config_path.write_text(DEFAULT_CONFIG_TEXT, encoding="utf-8")
        settings = load_settings(root)
    if not settings.scheme_path.exists():
        settings.scheme_path.write_text(load_scheme(None).source_text, encoding="utf-8")
    load_scheme(settings.scheme_path)  # validate an edited scheme early
    db = Database(settings.db_url)
    existed = db.is_initialised()
    if settings.keyring_path.exists() or os.environ.get("DANGAN_KEK"):
        keyring = Keyring.load(settings.keyring_path)
    elif existed:
        raise DanganError(f"数据库已存在但密钥文件 {settings.keyring_path} 缺失：请恢复原密钥，不能重新生成。")
    else:
        keyring = Keyring.create(settings.keyring_path)
    db.migrate()
    _check_key_matches(db, keyring)
    system = Dangan(settings, db, open_store(settings.store_url), keyring, load_scheme(settings.scheme_path))
    wanted = {"admin": admin, "security": security, "auditor": auditor}
    with db.session() as s:
        holders = s.get(Meta, "three_officers")
        if holders is not None:
            recorded = dict(part.split("=", 1) for part in holders.value.split(","))
            if recorded != wanted:
                have = "、".join(f"{k}={v}" for k, v in recorded.items())
                raise DanganError(f"档案库已初始化，三员为 {have}；如需变更请由安全保密员调整账户。")
            return system, False
        for role, name in wanted.items():
            create_user(s, name=name, roles=[role], clearance="public" if role != "security" else "internal",
                        department=None, categories=None,
                        password=(passwords or {}).get(name), created_by="system")
        s.add(Meta(key="three_officers", value=",".join(f"{k}={v}" for k, v in wanted.items())))
        s.add(Meta(key="created_at", value=dt.datetime.now(dt.UTC).isoformat(timespec="seconds")))
        _remember_fingerprint(s, keyring)
        system.audit.append(s, "system", "archive.init", str(root), "ok", wanted)
    return system, True
