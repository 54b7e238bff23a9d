"""Backups sealed for recipient keys (X25519 + HKDF-SHA256 + AES-256-GCM): the archive host
holds only public keys, the offline private key (identity) opens the backup; any one of
several recipients or the passphrase opens it; a wrong identity, a tampered file and a key
that is not a public key are refused with one sentence, nothing restored."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dangan.backup.recipients import (
    PREFIX,
    Identity,
    load_identity,
    new_identity,
    parse_recipient,
    parse_recipient_text,
    write_key_pair,
)
from dangan.backup.sealed import recipients_of, seal, unseal
from dangan.backup.service import restore
from dangan.config import load_settings
from dangan.errors import InvalidInput
from dangan.system import open_dangan
from tests.backup.conftest import PASS

LABEL = "dangan keyring"


def sealed_file(bak: Path, snapshot: str) -> Path:
    return bak / "snapshots" / snapshot / "keyring.sealed"


def key_strings(ring: object) -> list[bytes]:
    """Every key in a keyring document, as stored (base64) and as raw bytes."""
    out: list[bytes] = []
    if isinstance(ring, dict):
        for v in ring.values():
            out += key_strings(v)
    elif isinstance(ring, list):
        for v in ring:
            out += key_strings(v)
    elif isinstance(ring, str) and len(ring) >= 40:
        try:
            raw = base64.b64decode(ring, validate=True)
        except ValueError:
            return out
        if len(raw) >= 32:
            out += [ring.encode(), raw, raw.hex().encode()]
    return out


def test_a_backup_sealed_for_a_recipient_restores_with_its_identity_and_every_record_verifies(
        system, add_record, tmp_path: Path, elsewhere: Path) -> None:
    numbers = [add_record() for _ in range(4)]
    identity = new_identity()
    report = system.backups.backup(system.actor("root"), str(tmp_path / "bak"), None,
                                   recipients=[identity.recipient])
    assert report.keyring == "sealed" and report.sealed_for == [identity.recipient.fingerprint]
    entry = system.audit_log(system.actor("audit1"), action="backup.create")[0]
    assert json.loads(entry["detail"])["sealed_for"] == [identity.recipient.fingerprint]

    with pytest.raises(InvalidInput, match="--identity"):
        restore(str(tmp_path / "bak"), elsewhere, "root", None)  # no passphrase opens it
    assert not elsewhere.exists()
    restored = restore(str(tmp_path / "bak"), elsewhere, "root", None, identity=identity)
    assert restored.objects_restored == 8 and restored.keyring == identity.recipient.fingerprint
    copy = open_dangan(elsewhere)
    try:
        results = copy.records.verify(copy.actor("audit1"))
        assert sorted(r["archive_no"] for r in results) == sorted(numbers)
        assert all(r["ok"] for r in results), results
        assert copy.verify_audit(copy.actor("audit1")).ok
    finally:
        copy.close()


def test_a_wrong_identity_or_a_tampered_keyring_is_refused_and_nothing_is_restored(
        system, add_record, tmp_path: Path, elsewhere: Path) -> None:
    add_record()
    right, wrong = new_identity(), new_identity()
    report = system.backups.backup(system.actor("root"), str(tmp_path / "bak"), None, recipients=[right.recipient])
    with pytest.raises(InvalidInput, match=f"不是为这把私钥（{wrong.recipient.fingerprint}）.*"
                                           f"{right.recipient.fingerprint}") as err:
        restore(str(tmp_path / "bak"), elsewhere, "root", None, identity=wrong)
    assert "\n" not in str(err.value)
    assert not elsewhere.exists()

    path = sealed_file(tmp_path / "bak", report.snapshot)
    doc = json.loads(path.read_bytes())
    box = bytearray(base64.b64decode(doc["ciphertext"]))
    box[-1] ^= 0x80
    path.write_text(json.dumps(dict(doc, ciphertext=base64.b64encode(bytes(box)).decode())))
    with pytest.raises(InvalidInput, match="已损坏或被篡改"):
        restore(str(tmp_path / "bak"), elsewhere, "root", None, identity=right)
    assert not elsewhere.exists()


def test_each_of_two_recipients_opens_the_backup(sqlite_system, tmp_path: Path) -> None:
    system = sqlite_system
    a, b = new_identity(), new_identity()
    report = system.backups.backup(system.actor("root"), str(tmp_path / "bak"), None,
                                   recipients=[a.recipient, b.recipient, a.recipient])
    assert report.sealed_for == [a.recipient.fingerprint, b.recipient.fingerprint]  # duplicates once
    blob = sealed_file(tmp_path / "bak", report.snapshot).read_bytes()
    ring = system.settings.keyring_path.read_bytes()
    assert unseal(blob, identity=a) == ring and unseal(blob, identity=b) == ring
    with pytest.raises(InvalidInput, match="没有用口令加密"):
        unseal(blob, passphrase=PASS)


def test_passphrase_and_recipient_together_either_one_opens_it(system, add_record, tmp_path: Path,
                                                               elsewhere: Path) -> None:
    number = add_record()
    identity = new_identity()
    report = system.backups.backup(system.actor("root"), str(tmp_path / "bak"), PASS,
                                   recipients=[identity.recipient])
    assert report.sealed_for == [identity.recipient.fingerprint, "passphrase"]
    blob = sealed_file(tmp_path / "bak", report.snapshot).read_bytes()
    assert unseal(blob, identity=identity) == system.settings.keyring_path.read_bytes()
    with pytest.raises(InvalidInput, match="口令错误"):
        unseal(blob, passphrase="not the passphrase")
    stranger = new_identity()  # a key it was not sealed for: the passphrase still opens it
    restored = restore(str(tmp_path / "bak"), elsewhere, "root", PASS, identity=stranger)
    assert restored.keyring == "passphrase"
    copy = open_dangan(elsewhere)
    try:
        assert [r["ok"] for r in copy.records.verify(copy.actor("audit1"), [number])] == [True]
    finally:
        copy.close()


def test_the_sealed_keyring_holds_no_key_bytes_in_the_clear(sqlite_system, tmp_path: Path) -> None:
    system = sqlite_system
    identity = new_identity()
    _, priv, pub = write_key_pair(tmp_path / "backup-key.pem")
    report = system.backups.backup(system.actor("root"), str(tmp_path / "bak"), PASS,
                                   recipients=[identity.recipient, parse_recipient(str(pub))])
    blob = sealed_file(tmp_path / "bak", report.snapshot).read_bytes()
    secrets = key_strings(json.loads(system.settings.keyring_path.read_bytes()))
    assert len(secrets) >= 6  # at least a KEK and the audit key, each in three spellings
    for secret in secrets:
        assert secret not in blob
    raw_private = identity.key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                             serialization.NoEncryption())
    assert raw_private not in blob and base64.b64encode(raw_private) not in blob
    assert b"PRIVATE" not in pub.read_bytes()
    assert priv.stat().st_mode & 0o777 == 0o600
    doc = json.loads(blob)
    assert doc["version"] == 2 and doc["label"] == LABEL
    assert [s["scheme"] for s in doc["stanzas"]] == ["x25519+hkdf-sha256+aes-256-gcm"] * 2 + ["scrypt+aes-256-gcm"]


def test_a_tampered_sealed_keyring_is_refused_with_one_sentence() -> None:
    a, b = new_identity(), new_identity()
    blob = seal(b'{"secret": 1}', None, LABEL, [a.recipient, b.recipient])
    doc = json.loads(blob)

    body = json.loads(blob)
    box = bytearray(base64.b64decode(body["ciphertext"]))
    box[3] ^= 1
    body["ciphertext"] = base64.b64encode(bytes(box)).decode()
    other = json.loads(blob)
    other["stanzas"][1]["ephemeral"] = base64.b64encode(bytes(32 * [9])).decode()  # b's stanza, not a's
    relabelled = dict(doc, label="another label")
    for bad in (body, other, relabelled):
        with pytest.raises(InvalidInput, match="已损坏或被篡改") as err:
            unseal(json.dumps(bad).encode(), identity=a)
        assert "\n" not in str(err.value)
    for junk in (b"not json", b'{"format": "zip"}', blob[: len(blob) // 2]):
        with pytest.raises(InvalidInput, match="格式错误"):
            unseal(junk, identity=a)
    assert unseal(blob, identity=b) == b'{"secret": 1}'


def test_a_public_key_that_is_not_one_is_refused(tmp_path: Path) -> None:
    good = new_identity().recipient.text
    assert parse_recipient_text(good).text == good
    cases = {
        good[:-2]: "校验码",                                      # a truncated copy
        good[:-1] + ("A" if good[-1] != "A" else "B"): "校验码",   # one character wrong
        "ssh-ed25519 AAAAC3Nza": "既不是公钥",
    }
    for text, why in cases.items():
        with pytest.raises(InvalidInput, match=why):
            parse_recipient(text)
    zero = PREFIX + base64.urlsafe_b64encode(bytes(32) + hashlib.sha256(bytes(32)).digest()[:4]
                                             ).decode().rstrip("=")
    with pytest.raises(InvalidInput, match="弱公钥"):
        parse_recipient(zero)

    _, priv, _ = write_key_pair(tmp_path / "k.pem")
    with pytest.raises(InvalidInput, match="是私钥，不是公钥"):
        parse_recipient(str(priv))
    ed = tmp_path / "ed.pub"
    ed.write_bytes(Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(InvalidInput, match="不是 X25519 公钥"):
        parse_recipient(str(ed))
    junk = tmp_path / "junk.pub"
    junk.write_text("hello\nworld\n")
    with pytest.raises(InvalidInput, match="不是收件人公钥文件"):
        parse_recipient(str(junk))
    pem = tmp_path / "x.pem.pub"  # a PEM public key (openssl pkey -pubout) is accepted
    ident = new_identity()
    pem.write_bytes(ident.key.public_key().public_bytes(serialization.Encoding.PEM,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo))
    assert parse_recipient(str(pem)).fingerprint == ident.recipient.fingerprint


def test_an_identity_file_is_0600_refuses_overwrite_and_may_be_passphrase_protected(tmp_path: Path) -> None:
    identity, priv, pub = write_key_pair(tmp_path / "key.pem", passphrase="a long key passphrase")
    assert pub == tmp_path / "key.pub" and priv.stat().st_mode & 0o777 == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in priv.read_bytes()
    assert parse_recipient(str(pub)).fingerprint == identity.recipient.fingerprint
    with pytest.raises(InvalidInput, match="有口令保护"):
        load_identity(priv)
    with pytest.raises(InvalidInput, match="口令错误"):
        load_identity(priv, lambda: "the wrong passphrase")
    opened = load_identity(priv, lambda: "a long key passphrase")
    assert isinstance(opened, Identity) and opened.recipient.fingerprint == identity.recipient.fingerprint
    with pytest.raises(Exception, match="已存在"):
        write_key_pair(priv)
    (tmp_path / "other.pem").write_text("-----BEGIN PUBLIC KEY-----\n")
    with pytest.raises(InvalidInput, match="不是私钥文件"):
        load_identity(tmp_path / "other.pem")


def test_the_configured_recipients_come_from_the_file_or_the_environment(sqlite_system, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    home = sqlite_system.settings.home
    a, b = new_identity(), new_identity()
    (home / "b.pub").write_text(b.recipient.text + "\n")
    (home / "dangan.toml").write_text(f'[backup]\nrecipient = ["{a.recipient.text}", "b.pub"]\n')
    settings = load_settings(home)
    monkeypatch.setattr(sqlite_system, "settings", settings, raising=False)
    assert [r.fingerprint for r in sqlite_system.backups.recipients()] == [a.recipient.fingerprint,
                                                                         b.recipient.fingerprint]
    env = load_settings(home, env={"DANGAN_BACKUP_RECIPIENT": f"{b.recipient.text},{a.recipient.text}"})
    assert env.backup_recipient.split(",")[0] == b.recipient.text
    report = sqlite_system.backups.backup(sqlite_system.actor("root"), str(tmp_path / "bak"), None)
    assert report.sealed_for == [a.recipient.fingerprint, b.recipient.fingerprint]
    assert recipients_of(sealed_file(tmp_path / "bak", report.snapshot).read_bytes()) == report.sealed_for
