"""A small secret (the keyring) sealed under a passphrase and/or for recipient keys.

Version 1 (a passphrase only, as before): scrypt, then AES-256-GCM over the secret.
Version 2 (any recipient): the secret is sealed once under a random file key with
AES-256-GCM, and the file key is wrapped in one stanza per way in — X25519 ephemeral-static
ECDH + HKDF-SHA256 + AES-256-GCM for each recipient (age-like), scrypt + AES-256-GCM for a
passphrase — so any one of them opens it. The label and every stanza are bound as
associated data of the secret, so a changed stanza is tampering, not a wrong key.

Each document names its scheme and parameters, so a stronger setting later still opens old
backups. A passphrase-only seal stays version 1, which older Dangan versions also open.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from dangan.backup.recipients import Identity, Recipient
from dangan.errors import InvalidInput

FORMAT = "dangan-sealed"
SCRYPT_N = 1 << 15
SCRYPT_R = 8
SCRYPT_P = 1
MIN_PASSPHRASE = 8
SCHEME_SCRYPT = "scrypt+aes-256-gcm"
SCHEME_X25519 = "x25519+hkdf-sha256+aes-256-gcm"
_HKDF_INFO = b"dangan-sealed v2 x25519"

_BAD_FORMAT = "备份中的密钥文件格式错误（不是 Dangan 加密密钥文件）"
_TAMPERED = "备份中的密钥文件已损坏或被篡改：无法解开密钥"


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def _unb64(s: object) -> bytes:
    return base64.b64decode(str(s), validate=True)


def _key(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def _kdf_key(kdf: object, passphrase: str) -> bytes:
    """The scrypt key a stored document asks for, within sane bounds (a tampered file must
    not make restore allocate gigabytes)."""
    if not isinstance(kdf, dict) or kdf.get("name") != "scrypt":
        raise ValueError("kdf")
    n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
    if not (2 <= n <= 1 << 20 and 1 <= r <= 32 and 1 <= p <= 16):
        raise ValueError("scrypt parameters")
    return _key(passphrase, _unb64(kdf["salt"]), n, r, p)


def _check_passphrase(passphrase: str) -> None:
    if len(passphrase) < MIN_PASSPHRASE:
        raise InvalidInput(f"备份口令太短：至少 {MIN_PASSPHRASE} 个字符")


def _wrap_aad(scheme: str, label: str) -> bytes:
    return f"{FORMAT} v2\n{scheme}\n{label}".encode()


def _body_aad(label: str, stanzas: list) -> bytes:
    return json.dumps({"label": label, "stanzas": stanzas}, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True).encode()


def _x25519_key(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient, info=_HKDF_INFO).derive(shared)


def _x25519_stanza(file_key: bytes, recipient: Recipient, label: str) -> dict:
    eph = X25519PrivateKey.generate()
    eph_pub = eph.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    wrap_key = _x25519_key(eph.exchange(recipient.key), eph_pub, recipient.raw)
    nonce = secrets.token_bytes(12)
    return {"scheme": SCHEME_X25519, "recipient": recipient.fingerprint, "ephemeral": _b64(eph_pub),
            "nonce": _b64(nonce), "wrapped": _b64(AESGCM(wrap_key).encrypt(nonce, file_key, _wrap_aad(SCHEME_X25519, label)))}


def _scrypt_stanza(file_key: bytes, passphrase: str, label: str) -> dict:
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    key = _key(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return {"scheme": SCHEME_SCRYPT,
            "kdf": {"name": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P, "salt": _b64(salt)},
            "nonce": _b64(nonce), "wrapped": _b64(AESGCM(key).encrypt(nonce, file_key, _wrap_aad(SCHEME_SCRYPT, label)))}


def seal(data: bytes, passphrase: str | None, label: str, recipients: Sequence[Recipient] = ()) -> bytes:
    """The sealed JSON document; `label` is bound as associated data. Any one of the
    passphrase and the recipients' identities opens it."""
    if passphrase is not None:
        _check_passphrase(passphrase)
    if not recipients:
        if passphrase is None:
            raise InvalidInput("加密密钥文件需要备份口令或收件人公钥")
        return _seal_v1(data, passphrase, label)
    file_key = secrets.token_bytes(32)
    unique = {r.fingerprint: r for r in recipients}
    stanzas = [_x25519_stanza(file_key, r, label) for r in unique.values()]
    if passphrase is not None:
        stanzas.append(_scrypt_stanza(file_key, passphrase, label))
    nonce = secrets.token_bytes(12)
    box = AESGCM(file_key).encrypt(nonce, data, _body_aad(label, stanzas))
    doc = {"format": FORMAT, "version": 2, "label": label, "stanzas": stanzas,
           "cipher": "aes-256-gcm", "nonce": _b64(nonce), "ciphertext": _b64(box)}
    return (json.dumps(doc, indent=1) + "\n").encode()


def _seal_v1(data: bytes, passphrase: str, label: str) -> bytes:
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    key = _key(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    box = AESGCM(key).encrypt(nonce, data, label.encode())
    doc = {"format": FORMAT, "version": 1, "label": label,
           "kdf": {"name": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P, "salt": _b64(salt)},
           "cipher": "aes-256-gcm", "nonce": _b64(nonce), "ciphertext": _b64(box)}
    return (json.dumps(doc, indent=1) + "\n").encode()


def _doc(blob: bytes) -> dict:
    try:
        doc = json.loads(blob)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput(_BAD_FORMAT) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") not in (1, 2):
        raise InvalidInput(_BAD_FORMAT)
    return doc


def recipients_of(blob: bytes) -> list[str]:
    """What opens a sealed document: "passphrase" and/or recipient fingerprints."""
    doc = _doc(blob)
    if doc["version"] == 1:
        return ["passphrase"]
    return ["passphrase" if s.get("scheme") == SCHEME_SCRYPT else str(s.get("recipient"))
            for s in doc.get("stanzas", []) if isinstance(s, dict)]


def unseal(blob: bytes, passphrase: str | None = None, identity: Identity | None = None) -> bytes:
    """The secret; InvalidInput with one sentence for a wrong key, a key this document was
    not sealed for, tampering, or a document that is not one."""
    doc = _doc(blob)
    if doc["version"] == 1:
        if not passphrase:
            raise InvalidInput("该备份的密钥只用口令加密：请设置 DANGAN_BACKUP_PASSPHRASE")
        return _unseal_v1(doc, passphrase)
    try:
        label = str(doc["label"])
        stanzas = list(doc["stanzas"])
        nonce, box = _unb64(doc["nonce"]), _unb64(doc["ciphertext"])
        if doc.get("cipher") != "aes-256-gcm" or not all(isinstance(s, dict) for s in stanzas):
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise InvalidInput(_BAD_FORMAT) from None
    if identity is None and not passphrase:
        raise InvalidInput("恢复需要收件人私钥（--identity）或备份口令（DANGAN_BACKUP_PASSPHRASE）")
    file_key: bytes | None = None
    errors: list[str] = []
    if identity is not None:
        file_key = _open_x25519(stanzas, identity, label, errors)
    if file_key is None and passphrase:
        file_key = _open_scrypt(stanzas, passphrase, label, errors)
    if file_key is None:
        raise InvalidInput(errors[0] if errors else _TAMPERED)
    try:
        return AESGCM(file_key).decrypt(nonce, box, _body_aad(label, stanzas))
    except (InvalidTag, ValueError):
        raise InvalidInput(_TAMPERED) from None


def _open_x25519(stanzas: list[dict], identity: Identity, label: str, errors: list[str]) -> bytes | None:
    me = identity.recipient
    mine = [s for s in stanzas if s.get("scheme") == SCHEME_X25519 and s.get("recipient") == me.fingerprint]
    if not mine:
        names = [str(s.get("recipient")) for s in stanzas if s.get("scheme") == SCHEME_X25519]
        errors.append(f"该备份的密钥不是为这把私钥（{me.fingerprint}）加密的：它的收件人是 "
                      f"{'、'.join(names) or '无（只能用口令）'}")
        return None
    for s in mine:
        try:
            eph = _unb64(s["ephemeral"])
            wrap_key = _x25519_key(identity.key.exchange(X25519PublicKey.from_public_bytes(eph)), eph, me.raw)
            return AESGCM(wrap_key).decrypt(_unb64(s["nonce"]), _unb64(s["wrapped"]), _wrap_aad(SCHEME_X25519, label))
        except (InvalidTag, ValueError, KeyError, TypeError):
            continue
    errors.append(_TAMPERED)
    return None


def _open_scrypt(stanzas: list[dict], passphrase: str, label: str, errors: list[str]) -> bytes | None:
    ours = [s for s in stanzas if s.get("scheme") == SCHEME_SCRYPT]
    if not ours:
        errors.append("该备份的密钥没有用口令加密：请用 --identity 指定收件人私钥")
        return None
    for s in ours:
        try:
            key = _kdf_key(s["kdf"], passphrase)
            return AESGCM(key).decrypt(_unb64(s["nonce"]), _unb64(s["wrapped"]), _wrap_aad(SCHEME_SCRYPT, label))
        except (InvalidTag, ValueError, KeyError, TypeError):
            continue
    errors.append("备份口令错误（或备份中的密钥文件已损坏）：无法解开密钥")
    return None


def _unseal_v1(doc: dict, passphrase: str) -> bytes:
    try:
        key = _kdf_key(doc["kdf"], passphrase)
        nonce = _unb64(doc["nonce"])
        box = _unb64(doc["ciphertext"])
        label = str(doc["label"]).encode()
    except (ValueError, KeyError, TypeError):
        raise InvalidInput(_BAD_FORMAT) from None
    try:
        return AESGCM(key).decrypt(nonce, box, label)
    except InvalidTag:
        raise InvalidInput("备份口令错误（或备份中的密钥文件已损坏）：无法解开密钥") from None
