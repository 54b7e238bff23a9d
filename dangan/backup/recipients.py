"""Recipient keys for backups: an X25519 key pair whose public half (the recipient) seals
a backup's keyring on the archive host, while the private half (the identity) stays
offline. A nightly backup then needs no passphrase on the machine it runs on.

The public key's one-line form is ``dangan-x25519:`` + base64url(key ‖ 4 checksum bytes),
so a truncated or mistyped key is refused instead of sealing for nobody. A PEM public key
(``openssl pkey -pubout`` of an X25519 key) is accepted too. Identities are PKCS#8 PEM
files, optionally passphrase-protected.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from dangan.errors import Conflict, InvalidInput

PREFIX = "dangan-x25519:"
MIN_PASSPHRASE = 8


def _raw(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class Recipient:
    """A public key a backup can be sealed for."""

    key: X25519PublicKey

    @property
    def raw(self) -> bytes:
        return _raw(self.key)

    @property
    def fingerprint(self) -> str:
        """A short name for the key (not secret): names the stanza an identity opens."""
        return "x25519:" + hashlib.sha256(self.raw).hexdigest()[:16]

    @property
    def text(self) -> str:
        raw = self.raw
        return PREFIX + base64.urlsafe_b64encode(raw + hashlib.sha256(raw).digest()[:4]).decode().rstrip("=")


@dataclass(frozen=True)
class Identity:
    """The private key that opens what was sealed for its recipient."""

    key: X25519PrivateKey

    @property
    def recipient(self) -> Recipient:
        return Recipient(self.key.public_key())


def new_identity() -> Identity:
    return Identity(X25519PrivateKey.generate())


def identity_pem(identity: Identity, passphrase: str | None = None) -> bytes:
    if passphrase is not None and len(passphrase) < MIN_PASSPHRASE:
        raise InvalidInput(f"私钥口令太短：至少 {MIN_PASSPHRASE} 个字符")
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode("utf-8")) if passphrase
        else serialization.NoEncryption())
    return identity.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)


def _checked(key: X25519PublicKey, shown: str) -> Recipient:
    """Refuse low-order points: a key no exchange works with would seal for nobody."""
    try:
        X25519PrivateKey.generate().exchange(key)
    except ValueError:
        raise InvalidInput(f"{shown} 不是有效的收件人公钥（X25519 弱公钥）") from None
    return Recipient(key)


def parse_recipient_text(text: str) -> Recipient:
    """The one-line form; InvalidInput for anything else (the message never echoes a secret)."""
    text = text.strip()
    if not text.startswith(PREFIX):
        raise InvalidInput(f"不是 Dangan 收件人公钥：应以 {PREFIX} 开头")
    body = text[len(PREFIX):]
    try:
        blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        blob = b""
    if len(blob) != 36 or hashlib.sha256(blob[:32]).digest()[:4] != blob[32:]:
        raise InvalidInput("收件人公钥无效：长度或校验码不符（复制时缺了字符？）")
    return _checked(X25519PublicKey.from_public_bytes(blob[:32]), "该公钥")


def parse_recipient(value: str, base: Path | None = None) -> Recipient:
    """A recipient given as its one-line form, a .pub file holding it, or a PEM public key
    file; a relative path is looked up under `base` (the data directory) first."""
    value = str(value).strip()
    if not value:
        raise InvalidInput("收件人公钥为空")
    if value.startswith(PREFIX):
        return parse_recipient_text(value)
    path = Path(value).expanduser()
    if base is not None and not path.is_absolute() and (base / path).is_file():
        path = base / path
    if not path.is_file():
        raise InvalidInput(f"收件人 {value} 既不是公钥（{PREFIX}…）也不是公钥文件")
    data = path.read_bytes()[:65536]
    if b"PRIVATE KEY" in data:
        raise InvalidInput(f"{path.name} 是私钥，不是公钥：请给出 .pub 文件（私钥应离线保管）")
    if b"-----BEGIN PUBLIC KEY-----" in data:
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError:
            raise InvalidInput(f"{path.name} 不是可读的 PEM 公钥") from None
        if not isinstance(key, X25519PublicKey):
            raise InvalidInput(f"{path.name} 不是 X25519 公钥（收件人须是 X25519 密钥）")
        return _checked(key, path.name)
    lines = [ln.strip() for ln in data.decode("utf-8", "replace").splitlines()
             if ln.strip() and not ln.lstrip().startswith("#")]
    if len(lines) != 1:
        raise InvalidInput(f"{path.name} 不是收件人公钥文件（应有一行 {PREFIX}…）")
    return parse_recipient_text(lines[0])


def load_identity(path: str | os.PathLike, passphrase: Callable[[], str | None] | None = None) -> Identity:
    """The identity in a PEM file; `passphrase` is asked only if the file is protected."""
    p = Path(path).expanduser()
    try:
        data = p.read_bytes()[:65536]
    except OSError:
        raise InvalidInput(f"无法读取私钥文件 {p}") from None
    if b"PRIVATE KEY-----" not in data:
        raise InvalidInput(f"{p.name} 不是私钥文件（应为 PEM 格式的 X25519 私钥）")
    secret: bytes | None = None
    if b"ENCRYPTED PRIVATE KEY" in data:
        given = passphrase() if passphrase else None
        if not given:
            raise InvalidInput(f"私钥文件 {p.name} 有口令保护：请设置 DANGAN_IDENTITY_PASSPHRASE")
        secret = given.encode("utf-8")
    try:
        key = serialization.load_pem_private_key(data, password=secret)
    except (ValueError, TypeError):
        if secret is not None:
            raise InvalidInput(f"私钥文件 {p.name} 的口令错误（或文件已损坏）") from None
        raise InvalidInput(f"{p.name} 不是可读的私钥文件") from None
    if not isinstance(key, X25519PrivateKey):
        raise InvalidInput(f"{p.name} 不是 X25519 私钥（备份收件人密钥须是 X25519）")
    return Identity(key)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(path, mode)  # whatever the umask


def write_key_pair(private_path: str | os.PathLike, public_path: str | os.PathLike | None = None,
                   passphrase: str | None = None) -> tuple[Identity, Path, Path]:
    """A new identity in `private_path` (0600) and its recipient line in the .pub file;
    refuses to overwrite either, and leaves neither behind if one cannot be written."""
    priv = Path(private_path).expanduser().absolute()
    pub = Path(public_path).expanduser().absolute() if public_path else priv.with_suffix(".pub")
    if priv.suffix == ".pub" or priv.resolve() == pub.resolve():
        raise InvalidInput("私钥文件名不能以 .pub 结尾（.pub 是公钥文件）")
    for path in (priv, pub):
        if path.exists():
            raise Conflict(f"{path} 已存在，拒绝覆盖")
        if not path.parent.is_dir():
            raise InvalidInput(f"目录 {path.parent} 不存在")
    identity = new_identity()
    pem = identity_pem(identity, passphrase)
    line = identity.recipient.text
    _write_new(priv, pem, 0o600)
    try:
        _write_new(pub, (f"# Dangan backup recipient {identity.recipient.fingerprint}\n{line}\n").encode(), 0o644)
    except BaseException:
        priv.unlink(missing_ok=True)
        raise
    return identity, priv, pub
