"""The object store interface: one suite run against the filesystem store and a real
MinIO (scripts/minio.sh); the tests about files and directories run on the filesystem."""

from __future__ import annotations

import io
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dangan.archive.crypto import Encryptor, decrypt_chunks, new_dek
from dangan.archive.storage import FilesystemStore, ObjectStore, open_store
from dangan.errors import Conflict, InvalidInput, NotFound

KEY = "records/R2024000001/original"


@pytest.fixture(params=["filesystem", "minio"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "filesystem":
        return FilesystemStore(tmp_path / "objects")
    return open_store(request.getfixturevalue("s3_url"))


@pytest.fixture
def fs_store(tmp_path: Path) -> FilesystemStore:
    return FilesystemStore(tmp_path / "objects")


def all_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def leftovers(store: ObjectStore) -> list[str]:
    """Everything the store holds: files (temp files included) or objects plus unfinished
    multipart uploads."""
    if isinstance(store, FilesystemStore):
        return all_files(store.root)
    from dangan.archive.storage_s3 import S3Store

    assert isinstance(store, S3Store)
    store.ensure_bucket()
    uploads = store.client._list_multipart_uploads(store.bucket).uploads
    return sorted(store.keys()) + [f"upload:{u.object_name}" for u in uploads]


def failing_after(pieces: list[bytes], exc: BaseException) -> Iterator[bytes]:
    yield from pieces
    raise exc


# --- basics -----------------------------------------------------------------------------


def test_put_then_get_returns_the_same_bytes(store: ObjectStore) -> None:
    assert store.put(KEY, [b"abc", b"", b"def"]) == 6
    assert b"".join(store.get(KEY)) == b"abcdef"
    assert store.exists(KEY)
    assert store.size(KEY) == 6


def test_empty_object_is_an_object(store: ObjectStore) -> None:
    store.put(KEY, [])
    assert store.exists(KEY) and store.size(KEY) == 0
    assert store.get_bytes(KEY) == b""


def test_get_streams_in_chunks(store: ObjectStore) -> None:
    data = os.urandom(3 * (1 << 20) + 5)
    store.put_bytes(KEY, data)
    pieces = list(store.get(KEY))
    assert len(pieces) == 4 and max(map(len, pieces)) <= 1 << 20
    assert b"".join(pieces) == data


def test_put_replaces_an_existing_object(store: ObjectStore) -> None:
    store.put_bytes(KEY, b"old")
    store.put_bytes(KEY, b"new contents")
    assert store.get_bytes(KEY) == b"new contents"


def test_objects_are_private_files(fs_store: FilesystemStore) -> None:
    fs_store.put_bytes(KEY, b"secret ciphertext")
    path = fs_store.root / KEY
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_missing_object_is_not_found_when_asked(store: ObjectStore) -> None:
    with pytest.raises(NotFound, match="不存在"):
        store.get(KEY)  # raised by the call itself, not on first read
    with pytest.raises(NotFound):
        store.size(KEY)
    assert not store.exists(KEY)


def test_delete_is_idempotent_and_prunes_empty_directories(fs_store: FilesystemStore) -> None:
    fs_store.put_bytes(KEY, b"x")
    fs_store.put_bytes("records/R2/original", b"y")
    fs_store.delete(KEY)
    fs_store.delete(KEY)
    fs_store.delete("never/was/here")
    assert not fs_store.exists(KEY)
    assert not (fs_store.root / "records" / "R2024000001").exists()
    assert fs_store.get_bytes("records/R2/original") == b"y"


def test_a_prefix_is_not_an_object(store: ObjectStore) -> None:
    store.put_bytes(KEY, b"x")
    assert not store.exists("records")
    with pytest.raises(NotFound):
        store.get("records/R2024000001")
    store.delete("records")  # not an object: nothing happens
    assert store.exists(KEY)


def test_key_that_is_another_keys_prefix_is_a_conflict(fs_store: FilesystemStore) -> None:
    fs_store.put_bytes("a/b", b"x")
    with pytest.raises(Conflict):
        fs_store.put_bytes("a", b"y")
    with pytest.raises(Conflict):
        fs_store.put_bytes("a/b/c", b"z")
    assert fs_store.get_bytes("a/b") == b"x"
    assert list(fs_store.keys()) == ["a/b"]


# --- atomicity --------------------------------------------------------------------------


def test_failed_put_leaves_nothing(store: ObjectStore) -> None:
    with pytest.raises(RuntimeError, match="scanner unplugged"):
        store.put(KEY, failing_after([b"a" * 1000, b"b" * 1000], RuntimeError("scanner unplugged")))
    assert not store.exists(KEY)
    assert list(store.keys()) == []
    assert leftovers(store) == []


def test_failed_put_keeps_the_earlier_object(store: ObjectStore) -> None:
    store.put_bytes(KEY, b"the original scan")
    with pytest.raises(KeyboardInterrupt):
        store.put(KEY, failing_after([b"half of a new"], KeyboardInterrupt()))
    assert store.get_bytes(KEY) == b"the original scan"
    assert leftovers(store) == [KEY]


def test_failed_encryption_mid_stream_leaves_nothing(store: ObjectStore) -> None:
    class Broken(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
            raise OSError("read error on the scanner share")

    enc = Encryptor("aes256gcm-sha256", new_dek(), b"R1|original", segment_size=64)
    with pytest.raises(OSError, match="scanner share"):
        store.put(KEY, enc.chunks(Broken()))
    assert leftovers(store) == []


def test_leftover_temp_files_are_invisible_and_swept(fs_store: FilesystemStore) -> None:
    fs_store.put_bytes(KEY, b"x")
    # What a crash between write and rename leaves behind:
    old = fs_store.root / "records" / "R2024000001" / ".original.0123456789abcdef~tmp"
    old.write_bytes(b"half")
    fresh = fs_store.root / "records" / "R2024000001" / ".original.fedcba9876543210~tmp"
    fresh.write_bytes(b"in progress")
    an_hour_ago = time.time() - 3700
    os.utime(old, (an_hour_ago, an_hour_ago))
    assert list(fs_store.keys()) == [KEY]
    assert fs_store.sweep_temp(older_than_seconds=3600) == 1
    assert not old.exists() and fresh.exists()
    assert fs_store.sweep_temp(older_than_seconds=0) == 1
    assert all_files(fs_store.root) == [KEY]


# --- keys -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "", "/", "/etc/passwd", "../outside", "records/../../etc/passwd", "a/..", "a/./b", ".",
        "..", "a//b", "a/", "a\\b", "a b", "a\x00b", "档案/1", "a/~tmp", "a:b", "a\nb",
        "x" * 201, "a/" * 600 + "a",
    ],
)
def test_hostile_keys_are_refused(store: ObjectStore, key: str) -> None:
    with pytest.raises(InvalidInput):
        store.put_bytes(key, b"x")
    for call in (store.get, store.exists, store.size, store.delete):
        with pytest.raises(InvalidInput):
            call(key)
    assert leftovers(store) == []


@pytest.mark.parametrize("key", ["a", "A-01-001-0101", "records/R1/original", "x.y_z-1/.hidden", "..a/b.."])
def test_ordinary_keys_are_accepted(store: ObjectStore, key: str) -> None:
    store.put_bytes(key, b"ok")
    assert store.get_bytes(key) == b"ok"
    assert list(store.keys()) == [key]


def test_keys_lists_in_sorted_order_like_s3(store: ObjectStore) -> None:
    for key in ["records/R2/original", "records/R10/text", "a-c", "a/b", "records/R1/text", "records/R1/original"]:
        store.put_bytes(key, b"x")
    assert list(store.keys()) == sorted(
        ["records/R2/original", "records/R10/text", "a-c", "a/b", "records/R1/text", "records/R1/original"]
    )


def test_keys_filters_by_plain_string_prefix(store: ObjectStore) -> None:
    for key in ["records/R1/original", "records/R1/text", "records/R10/original", "records/R2/original", "tmp/x"]:
        store.put_bytes(key, b"x")
    assert list(store.keys("records/R1/")) == ["records/R1/original", "records/R1/text"]
    assert list(store.keys("records/R1")) == ["records/R1/original", "records/R1/text", "records/R10/original"]
    assert list(store.keys("records/R1/t")) == ["records/R1/text"]
    assert list(store.keys("records/R1/text")) == ["records/R1/text"]
    assert list(store.keys("nothing/")) == []
    assert len(list(store.keys())) == 5


def test_keys_refuses_a_hostile_prefix(store: ObjectStore) -> None:
    with pytest.raises(InvalidInput):
        list(store.keys("../"))


# --- composition ------------------------------------------------------------------------


def test_encrypted_object_round_trips_through_the_store(store: ObjectStore) -> None:
    dek, aad = new_dek(), b"R1|original"
    data = os.urandom(3 * 4096 + 17)
    enc = Encryptor("aes256gcm-sha256", dek, aad, segment_size=4096)
    stored = store.put(KEY, enc.chunks(io.BytesIO(data)))
    assert stored == store.size(KEY)
    assert b"".join(decrypt_chunks("aes256gcm-sha256", dek, store.get(KEY), aad)) == data


def test_open_store_from_a_path_or_file_url(tmp_path: Path) -> None:
    for spec in (str(tmp_path / "a"), tmp_path / "b", f"file://{tmp_path}/c", f"file://localhost{tmp_path}/d"):
        s = open_store(spec)
        assert isinstance(s, FilesystemStore) and isinstance(s, ObjectStore)
        s.put_bytes("k", b"v")
    assert (tmp_path / "c" / "k").read_bytes() == b"v"
    assert (tmp_path / "d" / "k").read_bytes() == b"v"


def test_open_store_decodes_file_url_escapes(tmp_path: Path) -> None:
    s = open_store(f"file://{tmp_path}/with%20space")
    assert isinstance(s, FilesystemStore)
    assert s.root == tmp_path / "with space"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("s3://key:secret@archive-bucket/objects", "不能写凭据"),
        ("s3://ab", "至少 3 个字符"),
        ("s3://archive?endpoint=ftp://x", "服务地址"),
        ("s3://archive?colour=blue", "未知参数"),
        ("http://example.com/x", "不支持"),
        ("file://otherhost/x", "本机"),
        ("", "不能为空"),
    ],
)
def test_open_store_refuses_what_it_cannot_open(spec: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        open_store(spec)


def test_a_full_disk_is_a_clear_error_and_leaves_nothing(fs_store: FilesystemStore,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from dangan.archive.storage import StoreFull

    real_write = os.write

    def full(fd: int, data: bytes) -> int:
        if len(data) > 100:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    fs_store.put_bytes("records/R1/original", b"earlier")
    monkeypatch.setattr(os, "write", full)
    with pytest.raises(StoreFull, match="空间已满"):
        fs_store.put("records/R2/original", [b"x" * 4096])
    monkeypatch.setattr(os, "write", real_write)
    assert all_files(fs_store.root) == ["records/R1/original"]


def test_a_full_disk_fails_the_ingest_cleanly(sqlite_system, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from dangan.archive.models import Record
    from dangan.archive.records import RecordInput
    from dangan.archive.storage import StoreFull

    real_write = os.write

    def full(fd: int, data: bytes) -> int:
        if len(data) > 1000:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(StoreFull):
        sqlite_system.records.create(sqlite_system.actor("wang"), io.BytesIO(os.urandom(50_000)),
                                     RecordInput(original_name="a.pdf", media_type="application/pdf", title="x",
                                                 category="maintenance", location="A-01"))
    monkeypatch.setattr(os, "write", real_write)
    with sqlite_system.db.read() as s:
        assert s.query(Record).count() == 0
    assert list(sqlite_system.store.keys("records/")) == []
