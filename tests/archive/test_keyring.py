"""The keyring: a 0600 key file or DANGAN_KEK, rotation, retirement, no leaked keys."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from dangan.archive.crypto import new_dek, unwrap_dek, wrap_dek
from dangan.archive.keyring import KEYRING_FILENAME, Keyring
from dangan.errors import Conflict, DanganError, InvalidInput, NotFound

NO_ENV: dict[str, str] = {}


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / KEYRING_FILENAME


def key_strings(ring: Keyring) -> list[str]:
    """Every way a key might leak into text: hex and base64 of each KEK and the audit key."""
    keys = [ring.kek(k) for k in ring.ids] + [ring.audit_key]
    return [k.hex() for k in keys] + [base64.b64encode(k).decode() for k in keys]


def test_create_writes_a_0600_file_with_one_active_kek(path: Path) -> None:
    ring = Keyring.create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ring.active_id == "k1"
    assert len(ring.kek("k1")) == 32
    assert len(ring.audit_key) == 32
    assert ring.audit_key != ring.kek("k1")


def test_create_refuses_to_overwrite_an_existing_file(path: Path) -> None:
    ring = Keyring.create(path)
    with pytest.raises(Conflict, match="拒绝覆盖"):
        Keyring.create(path)
    assert Keyring.load(path, env=NO_ENV).kek("k1") == ring.kek("k1")


def test_create_leaves_no_temp_files(path: Path) -> None:
    Keyring.create(path)
    assert sorted(p.name for p in path.parent.iterdir()) == [KEYRING_FILENAME]


def test_load_returns_the_same_keys(path: Path) -> None:
    ring = Keyring.create(path)
    again = Keyring.load(path, env=NO_ENV)
    assert again.active_id == ring.active_id
    assert again.kek("k1") == ring.kek("k1")
    assert again.audit_key == ring.audit_key
    assert again.fingerprint("k1") == ring.fingerprint("k1")


def test_missing_file_says_how_to_create_one(path: Path) -> None:
    with pytest.raises(NotFound, match="dangan init"):
        Keyring.load(path, env=NO_ENV)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_group_or_world_readable_file_is_refused_with_chmod_hint(path: Path, mode: int) -> None:
    Keyring.create(path)
    path.chmod(mode)
    with pytest.raises(InvalidInput, match="chmod 600"):
        Keyring.load(path, env=NO_ENV)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_unreadable_file_is_a_clear_error(path: Path) -> None:
    Keyring.create(path)
    path.chmod(0o200)
    try:
        if os.geteuid() != 0:
            with pytest.raises(DanganError, match="无法读取"):
                Keyring.load(path, env=NO_ENV)
            return
        # root reads anything: load it in a child without the capabilities that let it
        probe = ("import sys\nfrom dangan.archive.keyring import Keyring\nfrom dangan.errors import DanganError\n"
                 "try:\n    Keyring.load(sys.argv[1], env={})\nexcept DanganError as e:\n    print(e)\n")
        out = subprocess.run(["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--inh-caps=-all",
                              sys.executable, "-c", probe, str(path)], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and "无法读取" in out.stdout, (out.stdout, out.stderr)
    finally:
        path.chmod(0o600)


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b"[]",
        b'{"format": "something-else"}',
        b'{"format": "dangan-keyring", "version": 1, "keks": {}, "active": "k1"}',
        b'{"format": "dangan-keyring", "version": 1, "keks": {"k1": {"key": "AAAA"}}, "active": "k1", "audit_key": ""}',
        b'{"format": "dangan-keyring", "version": 99}',
    ],
)
def test_malformed_file_is_refused(path: Path, content: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, content)
    os.close(fd)
    with pytest.raises(InvalidInput, match="格式错误"):
        Keyring.load(path, env=NO_ENV)


def test_active_id_must_name_a_kek(path: Path) -> None:
    Keyring.create(path)
    doc = json.loads(path.read_text())
    doc["active"] = "k9"
    path.write_text(json.dumps(doc))
    with pytest.raises(InvalidInput, match="活动密钥"):
        Keyring.load(path, env=NO_ENV)


def test_unknown_kek_is_not_found(path: Path) -> None:
    ring = Keyring.create(path)
    with pytest.raises(NotFound, match="密钥 k7 不在密钥环中"):
        ring.kek("k7")


def test_rotate_adds_an_active_kek_and_keeps_the_old(path: Path) -> None:
    ring = Keyring.create(path)
    k1 = ring.kek("k1")
    audit = ring.audit_key
    assert ring.rotate() == "k2"
    assert ring.active_id == "k2"
    assert ring.kek("k1") == k1
    assert ring.kek("k2") != k1
    assert ring.audit_key == audit  # the audit chain key is not rotated
    again = Keyring.load(path, env=NO_ENV)
    assert again.active_id == "k2" and again.ids == ["k1", "k2"]
    assert again.kek("k2") == ring.kek("k2")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_rotation_then_rewrap_then_retire(path: Path) -> None:
    ring = Keyring.create(path)
    dek = new_dek()
    wrapped = wrap_dek("aes256gcm-sha256", ring.kek("k1"), dek, b"R1")
    new_id = ring.rotate()
    rewrapped = wrap_dek("aes256gcm-sha256", ring.kek(new_id),
                         unwrap_dek("aes256gcm-sha256", ring.kek("k1"), wrapped, b"R1"), b"R1")
    ring.retire("k1")
    assert ring.ids == ["k2"]
    loaded = Keyring.load(path, env=NO_ENV)
    with pytest.raises(NotFound):
        loaded.kek("k1")
    assert unwrap_dek("aes256gcm-sha256", loaded.kek("k2"), rewrapped, b"R1") == dek
    assert "k1" not in path.read_text()


def test_retiring_the_active_kek_is_refused(path: Path) -> None:
    ring = Keyring.create(path)
    with pytest.raises(Conflict, match="rotate"):
        ring.retire("k1")
    assert Keyring.load(path, env=NO_ENV).ids == ["k1"]


def test_ids_are_never_reused_after_retirement(path: Path) -> None:
    ring = Keyring.create(path)
    ring.rotate()
    ring.retire("k1")
    assert ring.rotate() == "k3"


def test_rotation_by_another_process_is_not_lost(path: Path) -> None:
    first = Keyring.create(path)
    second = Keyring.load(path, env=NO_ENV)
    assert second.rotate() == "k2"
    assert first.rotate() == "k3"  # picks up k2 from the file instead of writing over it
    assert Keyring.load(path, env=NO_ENV).ids == ["k1", "k2", "k3"]


def test_rotation_leaves_no_temp_files(path: Path) -> None:
    ring = Keyring.create(path)
    ring.rotate()
    names = {p.name for p in path.parent.iterdir()}
    assert names <= {KEYRING_FILENAME, KEYRING_FILENAME + ".lock"}


def test_fingerprint_is_a_short_stable_check_value(path: Path) -> None:
    ring = Keyring.create(path)
    fp = ring.fingerprint("k1")
    assert len(fp) == 16 and int(fp, 16) >= 0
    assert fp not in ring.kek("k1").hex()
    ring.rotate()
    assert ring.fingerprint("k2") != fp
    assert Keyring.load(path, env=NO_ENV).fingerprint("k1") == fp


def test_key_material_never_appears_in_repr_or_errors(path: Path) -> None:
    ring = Keyring.create(path)
    ring.rotate()
    texts = [repr(ring), str(ring)]
    for call in (lambda: ring.kek("nope"), lambda: ring.retire("k2")):
        with pytest.raises(DanganError) as info:
            call()
        texts.append(str(info.value))
    doc = json.loads(path.read_text())
    doc["keks"]["k1"]["key"] = doc["keks"]["k1"]["key"][:-4]  # truncated key in the file
    path.write_text(json.dumps(doc))
    with pytest.raises(InvalidInput) as info:
        Keyring.load(path, env=NO_ENV)
    texts.append(str(info.value))
    for text in texts:
        for secret in key_strings(ring):
            assert secret not in text


# --- DANGAN_KEK -------------------------------------------------------------------------


def env_with_key(key: bytes) -> dict[str, str]:
    return {"DANGAN_KEK": base64.b64encode(key).decode()}


def test_env_kek_is_used_without_a_file(path: Path) -> None:
    key = os.urandom(32)
    ring = Keyring.load(path, env=env_with_key(key))
    assert ring.kek(ring.active_id) == key
    assert ring.active_id.startswith("env-") and len(ring.active_id) == 12
    assert ring.source == "env"
    assert len(ring.audit_key) == 32 and ring.audit_key != key


def test_env_kek_gives_stable_id_and_audit_key(path: Path) -> None:
    key = os.urandom(32)
    a, b = Keyring.load(path, env=env_with_key(key)), Keyring.load(path, env=env_with_key(key))
    assert (a.active_id, a.audit_key) == (b.active_id, b.audit_key)
    other = Keyring.load(path, env=env_with_key(os.urandom(32)))
    assert other.active_id != a.active_id


def test_env_kek_takes_precedence_over_the_file(path: Path) -> None:
    Keyring.create(path)
    key = os.urandom(32)
    ring = Keyring.load(path, env=env_with_key(key))
    assert ring.kek(ring.active_id) == key


@pytest.mark.parametrize("value", ["not base64!", base64.b64encode(b"short").decode(), "QUFB" * 20])
def test_malformed_env_kek_is_refused_without_echoing_it(path: Path, value: str) -> None:
    with pytest.raises(InvalidInput, match="openssl rand -base64 32") as info:
        Keyring.load(path, env={"DANGAN_KEK": value})
    assert value not in str(info.value)


def test_env_keyring_cannot_be_rotated_here(path: Path) -> None:
    ring = Keyring.load(path, env=env_with_key(os.urandom(32)))
    with pytest.raises(InvalidInput, match="DANGAN_KEK"):
        ring.rotate()
    assert not path.exists()
