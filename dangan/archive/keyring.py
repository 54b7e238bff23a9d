"""Where the key-encryption keys (KEKs) live.

By default a JSON key file (``keyring.json`` in the data directory, mode 0600) holds the
KEKs by id, which one is active, and a separate audit MAC key. The audit key is not
rotated with the KEKs: it signs the audit chain, and re-signing history would defeat the
chain's purpose. Alternatively the environment variable ``DANGAN_KEK`` (base64 of 32
bytes) supplies the one KEK and the audit key is derived from it, for deployments that
keep secrets in a secret manager rather than on disk; it then takes precedence over the
file.

Key material never appears in ``repr``, logs or error messages; what may be shown or
stored is the fingerprint, a key check value.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import json
import os
import re
import secrets
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from dangan.archive.crypto import KEK_SIZE, key_check_value
from dangan.errors import Conflict, DanganError, InvalidInput, NotFound

try:  # POSIX only: serialises rotations by concurrent processes
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

KEYRING_FILENAME = "keyring.json"
ENV_VAR = "DANGAN_KEK"
PREVIOUS_VAR = "DANGAN_KEK_PREVIOUS"
AUDIT_VAR = "DANGAN_AUDIT_KEY"
FORMAT = "dangan-keyring"
FORMAT_VERSION = 1
AUDIT_KEY_SIZE = 32
_ENV_AUDIT_INFO = b"dangan audit mac key v1"
_KEK_ID = re.compile(r"k(\d+)")
_CHMOD_HINT = "请执行 chmod 600 {path}"


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


def _unb64(text: object, size: int, what: str, path: Path) -> bytes:
    """Decode a key from the file; the message names the field, never the value."""
    try:
        key = base64.b64decode(str(text), validate=True) if isinstance(text, str) else b""
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != size:
        raise InvalidInput(f"密钥文件 {path} 格式错误：{what} 不是 {size} 字节密钥的 base64 编码")
    return key


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class Keyring:
    """The KEKs by id, the active one, and the audit MAC key. Build with create() or load()."""

    def __init__(self, keks: Mapping[str, bytes], active_id: str, audit_key: bytes, *,
                 path: Path | None = None, created: Mapping[str, str] | None = None,
                 source: str = "file", audit_source: str = "file") -> None:
        if active_id not in keks:
            raise InvalidInput(f"活动密钥 {active_id} 不在密钥环中")
        self._keks = dict(keks)
        self._created = dict(created or {})
        self._active = active_id
        self._audit_key = audit_key
        self.path = path
        self.source = source  # "file" or "env"
        self.audit_source = audit_source  # "file", "DANGAN_AUDIT_KEY" or "derived from the oldest KEK"

    # --- construction ----------------------------------------------------------------

    @classmethod
    def create(cls, path: str | os.PathLike[str]) -> Keyring:
        """A new key file with one KEK (k1) and an audit key; an existing file is never replaced."""
        p = Path(path)
        if p.exists():
            raise Conflict(f"密钥文件 {p} 已存在，拒绝覆盖：覆盖会让已加密的档案永远无法解密")
        ring = cls({"k1": secrets.token_bytes(KEK_SIZE)}, "k1", secrets.token_bytes(AUDIT_KEY_SIZE),
                   path=p, created={"k1": _now()})
        ring._write(exclusive=True)
        return ring

    @classmethod
    def load(cls, path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Keyring:
        """The keyring from ``DANGAN_KEK`` if set in `env` (default os.environ), else from the file."""
        env = os.environ if env is None else env
        if env.get(ENV_VAR):
            previous = [v for v in re.split(r"[\s,]+", env.get(PREVIOUS_VAR, "")) if v]
            return cls.from_env(env[ENV_VAR], previous=previous, audit=env.get(AUDIT_VAR) or None)
        return cls._read(Path(path))

    @classmethod
    def from_env(cls, value: str, previous: list[str] | None = None, audit: str | None = None) -> Keyring:
        """The active KEK given as base64 (``openssl rand -base64 32``), plus earlier KEKs
        kept for unwrapping (``DANGAN_KEK_PREVIOUS``, newest first) until `dangan keys
        rotate` has re-wrapped every data key under the active one.

        The audit key is ``DANGAN_AUDIT_KEY`` if given (recommended: it then never depends
        on a KEK), else derived from the OLDEST KEK listed — so a rotation that keeps the
        first key in ``DANGAN_KEK_PREVIOUS`` keeps the audit chain verifiable."""

        def decode(text: str, var: str) -> bytes:
            hint = f"环境变量 {var} 必须是 32 字节随机密钥的 base64 编码（可用 openssl rand -base64 32 生成）"
            try:
                key = base64.b64decode(text.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise InvalidInput(hint) from None
            if len(key) != KEK_SIZE:
                raise InvalidInput(hint)
            return key

        kek = decode(value, ENV_VAR)
        older = [decode(v, PREVIOUS_VAR) for v in previous or []]
        if audit:
            audit_key = decode(audit, AUDIT_VAR)
        else:
            audit_key = HKDF(hashes.SHA256(), AUDIT_KEY_SIZE, None, _ENV_AUDIT_INFO).derive((older or [kek])[-1])
        kek_id = "env-" + key_check_value(kek)[:8]
        keks = {"env-" + key_check_value(k)[:8]: k for k in older}
        keks[kek_id] = kek
        return cls(keks, kek_id, audit_key, source="env",
                   audit_source=AUDIT_VAR if audit else "derived from the oldest KEK")

    @classmethod
    def _read(cls, path: Path) -> Keyring:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise NotFound(
                f"找不到密钥文件 {path}：请先运行 dangan init 创建，或设置环境变量 {ENV_VAR}"
            ) from None
        except OSError as exc:
            raise DanganError(f"无法读取密钥文件 {path}：{exc.strerror}") from None
        if not stat.S_ISREG(st.st_mode):
            raise InvalidInput(f"密钥文件 {path} 不是普通文件")
        if os.name == "posix" and st.st_mode & 0o077:
            raise InvalidInput(
                f"密钥文件 {path} 的权限是 {stat.S_IMODE(st.st_mode):04o}，其他用户也能读取："
                + _CHMOD_HINT.format(path=path)
            )
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise DanganError(f"无法读取密钥文件 {path}：{exc.strerror}") from None
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise InvalidInput(f"密钥文件 {path} 格式错误：不是有效的 JSON，请从备份恢复") from None
        return cls._from_doc(doc, path)

    @classmethod
    def _from_doc(cls, doc: object, path: Path) -> Keyring:
        def bad(why: str) -> InvalidInput:
            return InvalidInput(f"密钥文件 {path} 格式错误：{why}，请从备份恢复")

        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise bad("不是 Dangan 密钥文件")
        if doc.get("version") != FORMAT_VERSION:
            raise bad(f"版本 {doc.get('version')!r} 无法识别")
        entries = doc.get("keks")
        if not isinstance(entries, dict) or not entries:
            raise bad("没有任何密钥")
        keks: dict[str, bytes] = {}
        created: dict[str, str] = {}
        for kek_id, entry in entries.items():
            if not _KEK_ID.fullmatch(str(kek_id)) or not isinstance(entry, dict):
                raise bad(f"密钥条目 {str(kek_id)[:20]!r} 不合法")
            keks[kek_id] = _unb64(entry.get("key"), KEK_SIZE, f"密钥 {kek_id}", path)
            created[kek_id] = str(entry.get("created", ""))
        active = doc.get("active")
        if active not in keks:
            raise bad("活动密钥不在密钥列表中")
        audit = _unb64(doc.get("audit_key"), AUDIT_KEY_SIZE, "审计密钥", path)
        return cls(keks, active, audit, path=path, created=created)

    # --- reading ---------------------------------------------------------------------

    def __repr__(self) -> str:
        where = f"path={str(self.path)!r}" if self.path else f"source={self.source!r}"
        return f"Keyring({where}, active={self._active!r}, keks={sorted(self._keks)!r})"

    @property
    def active_id(self) -> str:
        """The KEK that wraps new data keys."""
        return self._active

    @property
    def ids(self) -> list[str]:
        """All KEK ids still held, oldest first."""
        return sorted(self._keks, key=_id_order)

    def __contains__(self, kek_id: object) -> bool:
        return kek_id in self._keks

    def kek(self, kek_id: str | None) -> bytes:
        """The KEK with this id; NotFound if it was never here or has been retired (None:
        a crypto-shredded record, whose key is gone)."""
        if kek_id is not None and kek_id in self._keks:
            return self._keks[kek_id]
        raise NotFound(f"密钥 {kek_id} 不在密钥环中：可能已被停用，或密钥文件不是加密这些档案时用的那一份")

    @property
    def active_kek(self) -> bytes:
        return self._keks[self._active]

    @property
    def audit_key(self) -> bytes:
        """The HMAC key of the audit chain (never rotated)."""
        return self._audit_key

    def fingerprint(self, kek_id: str) -> str:
        """Key check value of a KEK: safe to store, reveals a swapped key file later."""
        return key_check_value(self.kek(kek_id))

    def audit_fingerprint(self) -> str:
        """Key check value of the audit key."""
        return key_check_value(self._audit_key)

    def created(self, kek_id: str) -> str | None:
        """When the KEK was created (ISO 8601 UTC), if known."""
        self.kek(kek_id)
        return self._created.get(kek_id) or None

    # --- changing --------------------------------------------------------------------

    def rotate(self) -> str:
        """Add a new KEK and make it active; older KEKs stay until retired. Returns its id.

        Data keys wrapped under older KEKs keep working; re-wrapping them is the caller's
        job (it owns the database), and `retire` the old KEK once none is left.
        """
        with self._locked():
            kek_id = f"k{max((_id_order(k)[0] for k in self._keks), default=0) + 1}"
            self._keks[kek_id] = secrets.token_bytes(KEK_SIZE)
            self._created[kek_id] = _now()
            previous = self._active
            self._active = kek_id
            try:
                self._write()
            except BaseException:
                del self._keks[kek_id]
                self._active = previous
                raise
        return kek_id

    def retire(self, kek_id: str) -> None:
        """Remove a KEK for good (crypto-shredding what it alone wraps); not the active one."""
        with self._locked():
            self.kek(kek_id)
            if kek_id == self._active:
                raise Conflict(f"密钥 {kek_id} 正在使用，不能停用：请先轮换密钥 (dangan keys rotate)")
            key = self._keks.pop(kek_id)
            created = self._created.pop(kek_id, None)
            try:
                self._write()
            except BaseException:
                self._keks[kek_id] = key
                if created is not None:
                    self._created[kek_id] = created
                raise

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise changes with other processes and start from the file's current state."""
        if self.source != "file" or self.path is None:
            raise InvalidInput(
                f"密钥来自环境变量 {ENV_VAR}，不能在这里轮换或停用：请在密钥管理处更换该变量"
            )
        if fcntl is None:  # pragma: no cover - Windows
            yield
            return
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            current = self._read(self.path)  # another process may have rotated meanwhile
            self._keks, self._created, self._active = current._keks, current._created, current._active
            self._audit_key = current._audit_key
            yield
        finally:
            os.close(fd)

    def _document(self) -> dict[str, object]:
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "active": self._active,
            "keks": {k: {"key": _b64(self._keks[k]), "created": self._created.get(k, "")} for k in self.ids},
            "audit_key": _b64(self._audit_key),
        }

    def _write(self, *, exclusive: bool = False) -> None:
        """Write atomically: 0600 temp file, fsync, rename (link for create), fsync the dir."""
        assert self.path is not None
        path = self.path
        if not path.parent.is_dir():
            raise NotFound(f"密钥文件所在目录 {path.parent} 不存在")
        data = (json.dumps(self._document(), indent=2) + "\n").encode()
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            try:
                if hasattr(os, "fchmod"):
                    os.fchmod(fd, 0o600)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            if exclusive:
                try:
                    os.link(tmp, path)  # fails if the file appeared meanwhile: never overwrite
                except FileExistsError:
                    raise Conflict(f"密钥文件 {path} 已存在，拒绝覆盖") from None
                except OSError:  # a filesystem without hard links
                    if path.exists():
                        raise Conflict(f"密钥文件 {path} 已存在，拒绝覆盖") from None
                    os.replace(tmp, path)
            else:
                os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        _fsync_dir(path.parent)


def _id_order(kek_id: str) -> tuple[int, str]:
    m = _KEK_ID.fullmatch(kek_id)
    return (int(m.group(1)) if m else 0, kek_id)
