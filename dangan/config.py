"""Configuration: one TOML file in the data directory plus environment variables.

Every setting has a safe default, so an empty data directory is a working embedded
archive. Environment variables win over the file so containers can be configured
without editing it; the file wins over the defaults.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from dangan.errors import InvalidInput

CONFIG_NAME = "dangan.toml"

DEFAULT_CONFIG_TEXT = """\
# Dangan configuration. Every setting may also be given as an environment variable
# (named in the comment); the environment wins over this file.

[database]
# DANGAN_DATABASE_URL. Empty: SQLite in the data directory.
# PostgreSQL: "postgresql+psycopg://user:password@host:5432/dangan"
url = ""

[storage]
# DANGAN_STORAGE_URL. Empty: the filesystem store in <data>/objects.
url = ""

[keys]
# DANGAN_KEYRING_FILE. Empty: keyring.json in the data directory. A path elsewhere (another
# disk, a mounted secret) keeps the key apart from the data and from backups of it.
file = ""

[crypto]
# DANGAN_CIPHER_SUITE: "aes256gcm-sha256" (default) or "sm4gcm-sm3" (国密).
suite = "aes256gcm-sha256"

[search]
# DANGAN_SEARCH_BACKEND: "embedded" (default, no server) or "elasticsearch".
backend = "embedded"
# DANGAN_ES_URL
elasticsearch_url = "http://127.0.0.1:9200"
elasticsearch_index = "dangan"
# DANGAN_SEARCH_WITHHOLD_TEXT_FROM: "none" (default) or a level (public, internal,
# confidential, secret). Records at or above it keep no text in the index's stored
# fields (still searchable; their snippets come from the decrypted text of the hits on
# the page). Run `dangan search reindex` after changing it.
withhold_text_from = "none"

[ingest]
# DANGAN_OCR_ENGINE: "cascade" (tesseract first, RapidOCR where it is unsure), "tesseract" or "rapidocr".
ocr_engine = "cascade"
# DANGAN_INGEST_WORKERS: OCR processes; 0 = one per core.
workers = 0
# Below this classification confidence a record waits in the 待分类 queue.
classify_threshold = 0.6
# Refuse PDFs with JavaScript, launch actions or embedded files.
refuse_active_content = true
# Largest image accepted, in megapixels per page (decompression-bomb guard).
max_megapixels = 200

[web]
host = "127.0.0.1"
port = 8000
# DANGAN_WEB_HAND_OFF: who works a batch uploaded on 采集 / POST /api/v1/uploads.
# "thread" (default): a background thread of the web process, no worker needed;
# "queue": the web app only spools and queues it for `dangan worker` processes.
hand_off = "thread"

[worker]
# Scheduled checks run by `dangan worker` (exactly one worker runs each due occurrence;
# `dangan worker --no-schedule` only ingests). Intervals: "30m", "6h", "1d", or "off".
# DANGAN_WORKER_RUN_AS: who the checks run as. Empty: the auditor named at `dangan init`.
run_as = ""
# DANGAN_WORKER_VERIFY_EVERY: the incremental 四性 run (dangan verify --incremental).
verify_every = "1d"
# DANGAN_WORKER_VERIFY_DUE_DAYS: a record unchecked this long is checked again.
verify_due_days = 365
# DANGAN_WORKER_RETENTION_REPORT_DAY: the monthly due report on this day (1-28), or "off".
retention_report_day = "1"
# DANGAN_WORKER_RETENTION_REPORT_AS: empty = run_as. The report lists what this person may
# see: name an archivist cleared for secret records for a complete one.
retention_report_as = ""
# DANGAN_WORKER_REMIND_EVERY: overdue loan reminders (dangan borrow remind); off by default.
remind_every = "off"
# DANGAN_WORKER_REMIND_AS: empty = run_as; needs the right to lend (an archivist).
remind_as = ""
# DANGAN_WORKER_REPORTS_DIR: where reports are written. Empty: <data>/reports.
reports_dir = ""
# DANGAN_WORKER_NOTIFY: who is told of failed checks and new reports (user names or mail
# addresses, comma-separated; sent as [loans] mail settings say). Empty: the task's person.
notify = ""
[backup]
# DANGAN_BACKUP_RECIPIENT: public keys (made with `dangan keys recipient new`) that
# `dangan backup` seals the keyring for, comma-separated: the one-line form
# "dangan-x25519:…" or a .pub file (relative to this directory). The private key stays
# offline and opens the backup at restore; no passphrase is needed on this host.
recipient = ""
"""


@dataclass(frozen=True)
class Settings:
    """Resolved settings for one data directory."""

    home: Path
    database_url: str = ""
    storage_url: str = ""
    keyring_file: str = ""
    cipher_suite: str = "aes256gcm-sha256"
    search_backend: str = "embedded"
    elasticsearch_url: str = "http://127.0.0.1:9200"
    elasticsearch_index: str = "dangan"
    search_withhold_text_from: str = "none"
    ocr_engine: str = "cascade"
    ingest_workers: int = 0
    classify_threshold: float = 0.6
    refuse_active_content: bool = True
    max_megapixels: int = 200
    web_host: str = "127.0.0.1"
    web_port: int = 8000
    web_hand_off: str = "thread"
    worker_run_as: str = ""
    worker_verify_every: str = "1d"
    worker_verify_due_days: int = 365
    worker_retention_report_day: str = "1"
    worker_retention_report_as: str = ""
    worker_remind_every: str = "off"
    worker_remind_as: str = ""
    worker_reports_dir: str = ""
    worker_notify: str = ""
    backup_recipient: str = ""
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def config_path(self) -> Path:
        return self.home / CONFIG_NAME

    @property
    def keyring_path(self) -> Path:
        return Path(self.keyring_file).expanduser().absolute() if self.keyring_file else self.home / "keyring.json"

    @property
    def scheme_path(self) -> Path:
        return self.home / "scheme.toml"

    @property
    def index_path(self) -> Path:
        return self.home / "index"

    @property
    def withhold_text_level(self) -> int | None:
        """The security level (0–3) from which the index stores no text; None = off."""
        return _LEVELS.get(self.search_withhold_text_from)

    @property
    def reports_path(self) -> Path:
        return Path(self.worker_reports_dir).expanduser().absolute() if self.worker_reports_dir \
            else self.home / "reports"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'dangan.db'}"

    @property
    def store_url(self) -> str:
        return self.storage_url or str(self.home / "objects")


# (section, key) in the file → (field name, environment variable)
_KEYS: dict[tuple[str, str], tuple[str, str]] = {
    ("database", "url"): ("database_url", "DANGAN_DATABASE_URL"),
    ("storage", "url"): ("storage_url", "DANGAN_STORAGE_URL"),
    ("keys", "file"): ("keyring_file", "DANGAN_KEYRING_FILE"),
    ("crypto", "suite"): ("cipher_suite", "DANGAN_CIPHER_SUITE"),
    ("search", "backend"): ("search_backend", "DANGAN_SEARCH_BACKEND"),
    ("search", "elasticsearch_url"): ("elasticsearch_url", "DANGAN_ES_URL"),
    ("search", "elasticsearch_index"): ("elasticsearch_index", "DANGAN_ES_INDEX"),
    ("search", "withhold_text_from"): ("search_withhold_text_from", "DANGAN_SEARCH_WITHHOLD_TEXT_FROM"),
    ("ingest", "ocr_engine"): ("ocr_engine", "DANGAN_OCR_ENGINE"),
    ("ingest", "workers"): ("ingest_workers", "DANGAN_INGEST_WORKERS"),
    ("ingest", "classify_threshold"): ("classify_threshold", "DANGAN_CLASSIFY_THRESHOLD"),
    ("ingest", "refuse_active_content"): ("refuse_active_content", "DANGAN_REFUSE_ACTIVE_CONTENT"),
    ("ingest", "max_megapixels"): ("max_megapixels", "DANGAN_MAX_MEGAPIXELS"),
    ("web", "host"): ("web_host", "DANGAN_WEB_HOST"),
    ("web", "port"): ("web_port", "DANGAN_WEB_PORT"),
    ("web", "hand_off"): ("web_hand_off", "DANGAN_WEB_HAND_OFF"),
    **{("worker", key): (f"worker_{key}", f"DANGAN_WORKER_{key.upper()}")
       for key in ("run_as", "verify_every", "verify_due_days", "retention_report_day", "retention_report_as",
                   "remind_every", "remind_as", "reports_dir", "notify")},
    ("backup", "recipient"): ("backup_recipient", "DANGAN_BACKUP_RECIPIENT"),
}

_CHOICES = {
    "search_backend": {"embedded", "elasticsearch"},
    "ocr_engine": {"tesseract", "rapidocr", "cascade"},
    "cipher_suite": {"aes256gcm-sha256", "sm4gcm-sm3"},
    "web_hand_off": {"thread", "queue"},
    "search_withhold_text_from": {"none", "public", "internal", "confidential", "secret"},
}
_EVERY = (re.compile(r"off|[1-9][0-9]*[mhd]"), "应为 off 或间隔如 30m、6h、1d")
_PATTERNS = {"worker_verify_every": _EVERY, "worker_remind_every": _EVERY,
             "worker_retention_report_day": (re.compile(r"off|[1-9]|1[0-9]|2[0-8]"), "应为 off 或 1 到 28 日")}
#: The security levels by name (as in dangan.archive.permissions.LEVELS).
_LEVELS = {"public": 0, "internal": 1, "confidential": 2, "secret": 3}


def resolve_home(home: str | os.PathLike | None = None, env: Mapping[str, str] | None = None) -> Path:
    """`--home`, else $DANGAN_HOME, else ./dangan-data (CONTRACT.md)."""
    source: Mapping[str, str] = os.environ if env is None else env
    return Path(home or source.get("DANGAN_HOME") or "dangan-data").absolute()


def _coerce(name: str, value: Any, source: str) -> object:
    """`value` is whatever TOML or the environment gave (Any: a wrong type raises
    TypeError/ValueError below and becomes the Chinese error)."""
    kind = {f.name: f.type for f in fields(Settings)}[name]
    try:
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError(text)
    except (TypeError, ValueError):
        raise InvalidInput(f"配置项 {source} 的值 {value!r} 无效：应为 {kind}。") from None
    if isinstance(value, list):  # e.g. [backup] recipient = ["…", "…"]
        value = ",".join(str(v) for v in value)
    value = str(value)
    if name in _PATTERNS and not _PATTERNS[name][0].fullmatch(value.strip()):
        raise InvalidInput(f"配置项 {source} 的值 {value!r} 无效：{_PATTERNS[name][1]}。")
    if name in _CHOICES and value not in _CHOICES[name]:
        choices = "、".join(sorted(_CHOICES[name]))
        raise InvalidInput(f"配置项 {source} 的值 {value!r} 无效：可选 {choices}。")
    return value


def load_settings(home: str | os.PathLike | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read <home>/dangan.toml (if present) and the environment."""
    env = dict(os.environ if env is None else env)
    root = resolve_home(home, env)
    settings = Settings(home=root)
    # Any: each value was coerced to its own field's type by _coerce.
    values: dict[str, Any] = {}
    path = root / CONFIG_NAME
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"配置文件 {path} 无法解析：{exc}。") from None
        for (section, key), (name, _var) in _KEYS.items():
            if key in data.get(section, {}):
                values[name] = _coerce(name, data[section][key], f"{path.name} [{section}] {key}")
    for (_section, _key), (name, var) in _KEYS.items():
        if env.get(var, "") != "":
            values[name] = _coerce(name, env[var], f"环境变量 {var}")
    return replace(settings, **values)
