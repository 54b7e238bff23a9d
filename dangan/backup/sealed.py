"""A small secret (the keyring) sealed under a passphrase: scrypt, then AES-256-GCM.

The sealed document names its KDF and parameters, so a stronger setting later still opens
old backups. A wrong passphrase and a tampered file are the same failure: the GCM tag.
"""

from __future__ import annotations

import base64
import json
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from dangan.errors import InvalidInput

FORMAT = "dangan-sealed"
SCRYPT_N = 1 << 15
SCRYPT_R = 8
SCRYPT_P = 1
MIN_PASSPHRASE = 8


def _key(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def seal(data: bytes, passphrase: str, label: str) -> bytes:
    """The sealed JSON document; `label` is bound as associated data."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise InvalidInput(f"备份口令太短：至少 {MIN_PASSPHRASE} 个字符")
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    key = _key(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    box = AESGCM(key).encrypt(nonce, data, label.encode())
    doc = {"format": FORMAT, "version": 1, "label": label,
           "kdf": {"name": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P,
                   "salt": base64.b64encode(salt).decode()},
           "cipher": "aes-256-gcm", "nonce": base64.b64encode(nonce).decode(),
           "ciphertext": base64.b64encode(box).decode()}
    return (json.dumps(doc, indent=1) + "\n").encode()


def unseal(blob: bytes, passphrase: str) -> bytes:
    try:
        doc = json.loads(blob)
        if doc.get("format") != FORMAT or doc["kdf"]["name"] != "scrypt":
            raise ValueError
        kdf = doc["kdf"]
        key = _key(passphrase, base64.b64decode(kdf["salt"]), int(kdf["n"]), int(kdf["r"]), int(kdf["p"]))
        nonce = base64.b64decode(doc["nonce"])
        box = base64.b64decode(doc["ciphertext"])
        label = str(doc["label"]).encode()
    except (ValueError, KeyError, TypeError):
        raise InvalidInput("备份中的密钥文件格式错误（不是 Dangan 加密密钥文件）") from None
    try:
        return AESGCM(key).decrypt(nonce, box, label)
    except InvalidTag:
        raise InvalidInput("备份口令错误（或备份中的密钥文件已损坏）：无法解开密钥") from None
