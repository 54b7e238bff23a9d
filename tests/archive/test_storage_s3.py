"""What only the S3 store does: multipart streaming, Object Lock legal holds, credentials
kept out of the config, retries and a clear error when the server is away. Against the real
MinIO of scripts/minio.sh."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from dangan.archive.storage import open_store
from dangan.archive.storage_s3 import MIN_PART_SIZE, S3Store, StoreUnavailable, read_credentials_file
from dangan.errors import Conflict, InvalidInput

KEY = "records/R1/original"


def pieces(total: int, size: int = 1 << 20) -> Iterator[bytes]:
    block = os.urandom(size)
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        yield block[:n]
        sent += n


def pending_uploads(store: S3Store) -> list[str]:
    return [u.object_name for u in store.client._list_multipart_uploads(store.bucket).uploads]


def test_large_object_streams_as_multipart_and_round_trips(s3_url: str) -> None:
    store = open_store(s3_url + f"?part_size={MIN_PART_SIZE}")
    assert isinstance(store, S3Store)
    data = b"".join(pieces(2 * MIN_PART_SIZE + 12345))
    assert store.put(KEY, iter([data[i:i + 700_000] for i in range(0, len(data), 700_000)])) == len(data)
    assert store.size(KEY) == len(data)
    assert b"".join(store.get(KEY)) == data
    stat = store.client.stat_object(store.bucket, KEY)
    assert stat.etag.endswith("-3")  # three parts: it was never one buffer
    assert pending_uploads(store) == []


def test_multipart_cut_short_leaves_no_object_and_no_upload(s3_url: str) -> None:
    store = open_store(s3_url + f"?part_size={MIN_PART_SIZE}")
    assert isinstance(store, S3Store)
    store.put_bytes(KEY, b"the earlier scan")

    def broken() -> Iterator[bytes]:
        yield from pieces(3 * MIN_PART_SIZE)
        raise OSError("scanner share went away")

    with pytest.raises(OSError, match="scanner share"):
        store.put(KEY, broken())
    assert store.get_bytes(KEY) == b"the earlier scan"
    assert pending_uploads(store) == []


def test_prefix_keeps_archives_apart_in_one_bucket(s3_url: str) -> None:
    a = open_store(s3_url + "/office-a")
    b = open_store(s3_url + "/office-b")
    a.put_bytes(KEY, b"a")
    b.put_bytes(KEY, b"b")
    assert list(a.keys()) == [KEY] and a.get_bytes(KEY) == b"a"
    assert b.get_bytes(KEY) == b"b"


def test_legal_hold_flags_objects_on_an_object_lock_bucket(s3_url: str) -> None:
    store = open_store(s3_url + "?lock=true")
    assert isinstance(store, S3Store)
    store.put_bytes(KEY, b"ciphertext")
    assert store.legal_hold(KEY) is False
    store.set_legal_hold(KEY, True)
    assert store.legal_hold(KEY) is True
    # WORM: while held, the server refuses to remove the stored version
    with pytest.raises(Conflict, match="法律保留"):
        store.delete(KEY)
    assert store.get_bytes(KEY) == b"ciphertext"
    store.set_legal_hold(KEY, False)
    store.delete(KEY)
    assert not store.exists(KEY)
    versions = list(store.client.list_objects(store.bucket, prefix=KEY, include_version=True))
    assert versions == []  # every version gone, not hidden behind a delete marker


def test_lock_asked_of_a_bucket_made_without_it_is_refused(s3_url: str) -> None:
    open_store(s3_url).put_bytes("x", b"1")  # bucket made without object lock
    with pytest.raises(InvalidInput, match="对象锁定"):
        open_store(s3_url + "?lock=true").put_bytes("y", b"2")


def test_legal_hold_is_a_no_op_without_object_lock(s3_url: str) -> None:
    store = open_store(s3_url)
    store.put_bytes(KEY, b"x")
    store.set_legal_hold(KEY, True)
    store.delete(KEY)
    assert not store.exists(KEY)


def test_credentials_come_from_a_private_file(s3_url: str, minio_env: dict[str, str], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    creds = tmp_path / "s3.env"
    creds.write_text(f"access_key = {minio_env['AWS_ACCESS_KEY_ID']}\n"
                     f"secret_key = {minio_env['AWS_SECRET_ACCESS_KEY']}\n")
    creds.chmod(0o644)
    with pytest.raises(InvalidInput, match="chmod 600"):
        read_credentials_file(creds)
    creds.chmod(0o600)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("DANGAN_S3_CREDENTIALS_FILE", str(creds))
    store = open_store(s3_url)
    store.put_bytes(KEY, b"ok")
    assert store.get_bytes(KEY) == b"ok"


def test_wrong_credentials_give_a_clear_refusal(s3_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(InvalidInput, match="拒绝访问"):
        open_store(s3_url + "?retries=0").put_bytes(KEY, b"x")


def test_server_away_is_retried_then_reported_clearly(minio_env: dict[str, str]) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there
    store = open_store(f"s3://archive?endpoint=http://127.0.0.1:{port}&retries=2&backoff=0.01")
    with pytest.raises(StoreUnavailable, match="无法访问"):
        store.put_bytes(KEY, b"x")
    with pytest.raises(StoreUnavailable):
        store.exists(KEY)


def test_crypto_shredding_destroys_a_held_records_content_and_purge_waits_for_release(
        s3_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from dangan.archive.records import RecordInput, object_key
    from dangan.archive.shred import forget_key, purge_objects, remaining_objects
    from dangan.system import init_archive

    monkeypatch.setenv("DANGAN_STORAGE_URL", s3_url + "?lock=true")
    monkeypatch.delenv("DANGAN_DATABASE_URL", raising=False)
    monkeypatch.delenv("DANGAN_KEK", raising=False)
    system, _ = init_archive(tmp_path / "data", "root", "secofficer", "audit1")
    try:
        system.users.add(system.actor("secofficer"), "wang", ["archivist"], "secret")
        created = system.records.create(system.actor("wang"), io.BytesIO(b"%PDF-1.4 owner file" * 100),
                                        RecordInput(original_name="a.pdf", media_type="application/pdf",
                                                    title="业主登记表", category="owner", location="A-01-001-0101",
                                                    text_pages=[{"page": 1, "text": "业主登记"}]))
        keys = [object_key(created.record_id, k) for k in ("original", "text")]
        for key in keys:
            system.store.set_legal_hold(key, True)  # what a Dangan legal hold does
        assert all(system.store.legal_hold(k) for k in keys)
        with system.db.session() as s:
            rec = system.records.find(s, created.archive_no)
            forget_key(s, rec)
        # the content is gone with the key, though WORM keeps the ciphertext for now
        [result] = system.records.verify(system.actor("audit1"), [created.archive_no])
        assert result["checks"]["security"] is not True
        with pytest.raises(Conflict, match="法律保留"):
            purge_objects(system.store, created.record_id)
        for key in keys:
            system.store.set_legal_hold(key, False)  # the hold is released
        purge_objects(system.store, created.record_id)
        assert remaining_objects(system.store, created.record_id) == []
    finally:
        system.close()
