"""Envelope encryption and the segmented object format, for both cipher suites."""

from __future__ import annotations

import hashlib
import io
import os
import tracemalloc
from collections.abc import Iterable, Iterator

import pytest
from cryptography.hazmat.primitives import hashes

from dangan.archive import crypto
from dangan.archive.crypto import (
    HEADER_SIZE,
    TAG_SIZE,
    Encryptor,
    ciphertext_size,
    decrypt_bytes,
    decrypt_chunks,
    encrypt_bytes,
    get_suite,
    new_dek,
    unwrap_dek,
    wrap_dek,
)
from dangan.errors import DanganError, IntegrityError, InvalidInput

SEG = 32  # small segments so every boundary case is a few bytes
AAD = b"R2024000001|original"
NAME = "records/R2024000001/original"


@pytest.fixture(params=crypto.SUITE_NAMES)
def suite(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def dek(suite: str) -> bytes:
    return new_dek(suite)


def seal(suite: str, dek: bytes, data: bytes, aad: bytes = AAD, seg: int = SEG) -> bytes:
    return encrypt_bytes(suite, dek, data, aad, segment_size=seg)


def segments(obj: bytes, seg: int = SEG) -> tuple[bytes, list[bytes]]:
    """Split a stored object into its header and sealed segments."""
    body = obj[HEADER_SIZE:]
    step = seg + TAG_SIZE
    return obj[:HEADER_SIZE], [body[i : i + step] for i in range(0, len(body), step)]


def open_partially(suite: str, dek: bytes, chunks: Iterable[bytes], aad: bytes = AAD) -> tuple[bytes, IntegrityError]:
    """What decrypt yielded before failing, and the failure."""
    out = bytearray()
    with pytest.raises(IntegrityError) as info:
        for piece in decrypt_chunks(suite, dek, chunks, aad, name=NAME):
            out += piece
    return bytes(out), info.value


def sm3_hex(data: bytes) -> str:
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize().hex()


# --- round trips ------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, SEG - 1, SEG, SEG + 1, 5 * SEG, 5 * SEG + 7])
def test_round_trip_at_every_segment_boundary(suite: str, dek: bytes, size: int) -> None:
    data = os.urandom(size)
    obj = seal(suite, dek, data)
    assert len(obj) == ciphertext_size(size, SEG)
    assert decrypt_bytes(suite, dek, obj, AAD) == data


def test_empty_plaintext_is_still_one_sealed_last_segment(suite: str, dek: bytes) -> None:
    obj = seal(suite, dek, b"")
    assert len(obj) == HEADER_SIZE + TAG_SIZE
    assert decrypt_bytes(suite, dek, obj, AAD) == b""


def test_encryptor_reports_size_fixity_sha256_and_suite_digest(suite: str, dek: bytes) -> None:
    data = os.urandom(7 * SEG + 3)
    enc = Encryptor(suite, dek, AAD, segment_size=SEG)
    obj = b"".join(enc.chunks(io.BytesIO(data)))
    assert enc.size == len(data)
    assert enc.sha256 == hashlib.sha256(data).hexdigest()
    expected = hashlib.sha256(data).hexdigest() if get_suite(suite).hash_name == "sha256" else sm3_hex(data)
    assert enc.digest == expected
    assert decrypt_bytes(suite, dek, obj, AAD) == data


def test_hashes_are_unavailable_until_the_stream_is_read(suite: str, dek: bytes) -> None:
    enc = Encryptor(suite, dek, AAD, segment_size=SEG)
    it = enc.chunks(io.BytesIO(b"x" * 100))
    next(it)
    with pytest.raises(DanganError):
        _ = enc.sha256
    it.close()  # abandoning the stream stops the hashing thread cleanly


def test_foreground_and_background_hashing_agree(suite: str, dek: bytes) -> None:
    data = os.urandom(20 * SEG + 5)
    results = []
    for background in (True, False, None):  # None: chosen from the machine's load
        enc = Encryptor(suite, dek, AAD, segment_size=SEG, hash_in_background=background)
        obj = b"".join(enc.chunks(io.BytesIO(data)))
        assert decrypt_bytes(suite, dek, obj, AAD) == data
        assert enc.hashed_in_background in ((True, False) if background is None else (background,))
        results.append((enc.size, enc.sha256, enc.digest))
    assert results[0] == results[1] == results[2]


class Trickle(io.RawIOBase):
    """A pipe-like source that returns at most a few bytes per read."""

    def __init__(self, data: bytes, step: int = 5) -> None:
        self._data, self._pos, self._step = data, 0, step

    def readable(self) -> bool:
        return True

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
        n = min(self._step, len(buf), len(self._data) - self._pos)
        buf[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


class ReadOnly:
    """A source with read() but no readinto()."""

    def __init__(self, data: bytes) -> None:
        self._f = io.BytesIO(data)

    def read(self, n: int = -1) -> bytes:
        return self._f.read(min(n, 3))


@pytest.mark.parametrize("make_source", [Trickle, ReadOnly], ids=["short-reads", "read-only"])
def test_short_reads_still_fill_whole_segments(suite: str, dek: bytes, make_source: type) -> None:
    data = os.urandom(4 * SEG + 9)
    enc = Encryptor(suite, dek, AAD, segment_size=SEG)
    obj = b"".join(enc.chunks(make_source(data)))
    assert len(obj) == ciphertext_size(len(data), SEG)
    assert decrypt_bytes(suite, dek, obj, AAD) == data
    assert enc.size == len(data)


@pytest.mark.parametrize("chunk", [1, 7, SEG + TAG_SIZE, 100, 10_000])
def test_decrypt_accepts_reads_cut_anywhere(suite: str, dek: bytes, chunk: int) -> None:
    data = os.urandom(6 * SEG + 11)
    obj = seal(suite, dek, data)
    pieces = [obj[i : i + chunk] for i in range(0, len(obj), chunk)]
    out = list(decrypt_chunks(suite, dek, pieces, AAD))
    assert b"".join(out) == data
    assert all(len(p) <= SEG for p in out)  # one segment at a time, never the whole object


def test_real_segment_size_round_trip(suite: str, dek: bytes) -> None:
    data = os.urandom(crypto.DEFAULT_SEGMENT_SIZE * 2 + 12345)
    enc = Encryptor(suite, dek, AAD)
    obj = b"".join(enc.chunks(io.BytesIO(data)))
    assert len(obj) == ciphertext_size(len(data))
    assert b"".join(decrypt_chunks(suite, dek, [obj[i : i + 65536] for i in range(0, len(obj), 65536)], AAD)) == data


def test_one_dek_seals_several_objects_independently(suite: str, dek: bytes) -> None:
    original, text = os.urandom(50), "物业服务合同".encode()
    a = seal(suite, dek, original, b"R1|original")
    b = seal(suite, dek, text, b"R1|text")
    assert a[:HEADER_SIZE] != b[:HEADER_SIZE]  # fresh salt and nonce prefix per object
    assert decrypt_bytes(suite, dek, a, b"R1|original") == original
    assert decrypt_bytes(suite, dek, b, b"R1|text") == text
    with pytest.raises(IntegrityError):
        decrypt_bytes(suite, dek, b, b"R1|original")  # the text cannot pose as the original


def test_same_plaintext_encrypts_differently_each_time(suite: str, dek: bytes) -> None:
    data = b"A-01-001-0101" * 10
    assert seal(suite, dek, data) != seal(suite, dek, data)


# --- tampering --------------------------------------------------------------------------


def test_every_flipped_byte_is_detected_and_no_bad_segment_leaks(suite: str, dek: bytes) -> None:
    data = os.urandom(3 * SEG + 10)
    obj = seal(suite, dek, data)
    for pos in range(len(obj)):
        bad = bytearray(obj)
        bad[pos] ^= 0x01
        out, err = open_partially(suite, dek, [bytes(bad)])
        # The segment holding the flipped byte (and all after it) never reaches the caller.
        bad_segment = 0 if pos < HEADER_SIZE else (pos - HEADER_SIZE) // (SEG + TAG_SIZE)
        assert out == data[: bad_segment * SEG], pos
        assert NAME in str(err)


def test_tampered_segment_is_named_in_the_message(suite: str, dek: bytes) -> None:
    obj = bytearray(seal(suite, dek, os.urandom(5 * SEG)))
    obj[HEADER_SIZE + 2 * (SEG + TAG_SIZE) + 4] ^= 0x80  # third segment
    _, err = open_partially(suite, dek, [bytes(obj)])
    assert str(err) == f'对象 "{NAME}" 第 3 段校验失败：内容被篡改、截断或损坏，或密钥与档案不匹配'


@pytest.mark.parametrize(
    ("field", "offset"),
    [("magic", 0), ("version", 4), ("suite", 5), ("segment size", 8), ("salt", 20), ("nonce prefix", 45)],
)
def test_header_tampering_is_detected(suite: str, dek: bytes, field: str, offset: int) -> None:
    data = os.urandom(2 * SEG)
    obj = bytearray(seal(suite, dek, data))
    obj[offset] ^= 0x04
    out, _ = open_partially(suite, dek, [bytes(obj)])
    assert out == b""


def test_dropped_segment_is_detected(suite: str, dek: bytes) -> None:
    data = os.urandom(4 * SEG + 5)
    header, segs = segments(seal(suite, dek, data))
    out, err = open_partially(suite, dek, [header, *segs[:1], *segs[2:]])
    assert out == data[:SEG]
    assert "第 2 段" in str(err)


def test_dropped_last_segment_is_detected(suite: str, dek: bytes) -> None:
    data = os.urandom(4 * SEG + 5)
    header, segs = segments(seal(suite, dek, data))
    out, err = open_partially(suite, dek, [header, *segs[:-1]])
    assert out == data[: 4 * SEG]
    assert "截断" in str(err)


def test_reordered_segments_are_detected(suite: str, dek: bytes) -> None:
    data = os.urandom(4 * SEG + 5)
    header, segs = segments(seal(suite, dek, data))
    out, err = open_partially(suite, dek, [header, segs[1], segs[0], *segs[2:]])
    assert out == b""
    assert "第 1 段" in str(err)


def test_duplicated_segment_is_detected(suite: str, dek: bytes) -> None:
    data = os.urandom(4 * SEG + 5)
    header, segs = segments(seal(suite, dek, data))
    out, _ = open_partially(suite, dek, [header, segs[0], segs[1], segs[1], *segs[2:]])
    assert out == data[: 2 * SEG]


def test_truncation_at_every_length_is_detected(suite: str, dek: bytes) -> None:
    data = os.urandom(3 * SEG + 10)
    obj = seal(suite, dek, data)
    for cut in range(len(obj)):
        out, _ = open_partially(suite, dek, [obj[:cut]])
        assert data.startswith(out)
        assert len(out) < len(data)


def test_truncation_exactly_at_a_segment_boundary_is_detected(suite: str, dek: bytes) -> None:
    """Whole non-last segments decrypt, but the missing last flag fails the object."""
    data = os.urandom(3 * SEG)  # full segments, then an empty last one
    header, segs = segments(seal(suite, dek, data))
    assert len(segs) == 4 and len(segs[-1]) == TAG_SIZE
    out, err = open_partially(suite, dek, [header, *segs[:3]])
    assert out == data
    assert "末段" in str(err)


def test_header_alone_is_detected(suite: str, dek: bytes) -> None:
    header, _ = segments(seal(suite, dek, b""))
    out, _ = open_partially(suite, dek, [header])
    assert out == b""


@pytest.mark.parametrize("extra", [b"\x00", b"x" * TAG_SIZE, b"y" * (SEG + TAG_SIZE)])
def test_trailing_data_after_last_segment_is_detected(suite: str, dek: bytes, extra: bytes) -> None:
    data = os.urandom(2 * SEG + 3)
    out, _ = open_partially(suite, dek, [seal(suite, dek, data), extra])
    assert out == data[: 2 * SEG]


def test_trailing_copy_of_last_segment_is_detected(suite: str, dek: bytes) -> None:
    data = os.urandom(2 * SEG + 3)
    header, segs = segments(seal(suite, dek, data))
    out, _ = open_partially(suite, dek, [header, *segs, segs[-1]])
    assert out == data[: 2 * SEG]


def test_wrong_dek_is_detected(suite: str, dek: bytes) -> None:
    obj = seal(suite, dek, os.urandom(3 * SEG))
    out, err = open_partially(suite, new_dek(suite), [obj])
    assert out == b""
    assert "第 1 段" in str(err)


def test_wrong_aad_is_detected(suite: str, dek: bytes) -> None:
    obj = seal(suite, dek, os.urandom(3 * SEG), b"R1|original")
    out, _ = open_partially(suite, dek, [obj], aad=b"R2|original")
    assert out == b""


def test_object_moved_to_another_record_is_detected(suite: str) -> None:
    dek_a, dek_b = new_dek(suite), new_dek(suite)
    obj_a = seal(suite, dek_a, os.urandom(40), b"RA|original")
    out, _ = open_partially(suite, dek_b, [obj_a], aad=b"RB|original")
    assert out == b""


def test_header_from_another_object_is_detected(suite: str, dek: bytes) -> None:
    one, two = seal(suite, dek, os.urandom(3 * SEG)), seal(suite, dek, os.urandom(3 * SEG))
    out, _ = open_partially(suite, dek, [two[:HEADER_SIZE], one[HEADER_SIZE:]])
    assert out == b""


def test_object_of_the_other_suite_is_refused() -> None:
    dek = new_dek()
    obj = seal("aes256gcm-sha256", dek, b"hello")
    with pytest.raises(IntegrityError, match="加密套件"):
        decrypt_bytes("sm4gcm-sm3", dek, obj, AAD)


def test_not_an_encrypted_object_is_refused(suite: str, dek: bytes) -> None:
    with pytest.raises(IntegrityError, match="不是 Dangan 加密对象"):
        decrypt_bytes(suite, dek, b"%PDF-1.7\n" + b"0" * 100, AAD)


def test_forged_huge_segment_size_is_refused_without_allocating(suite: str, dek: bytes) -> None:
    obj = bytearray(seal(suite, dek, b"abc"))
    obj[6:10] = (1 << 31).to_bytes(4, "big")
    with pytest.raises(IntegrityError, match="分段大小"):
        decrypt_bytes(suite, dek, bytes(obj), AAD)


def test_segment_size_is_read_from_the_header(suite: str, dek: bytes) -> None:
    data = os.urandom(1000)
    obj = seal(suite, dek, data, seg=64)
    assert decrypt_bytes(suite, dek, obj, AAD) == data


# --- data keys --------------------------------------------------------------------------


def test_wrapped_dek_round_trips(suite: str, dek: bytes) -> None:
    kek = os.urandom(32)
    wrapped = wrap_dek(suite, kek, dek, b"R1")
    assert dek not in wrapped
    assert unwrap_dek(suite, kek, wrapped, b"R1") == dek


def test_wrapped_dek_cannot_move_to_another_record(suite: str, dek: bytes) -> None:
    kek = os.urandom(32)
    wrapped = wrap_dek(suite, kek, dek, b"R1")
    with pytest.raises(IntegrityError, match="数据密钥解封失败"):
        unwrap_dek(suite, kek, wrapped, b"R2")


def test_wrapped_dek_needs_its_own_kek(suite: str, dek: bytes) -> None:
    wrapped = wrap_dek(suite, os.urandom(32), dek, b"R1")
    with pytest.raises(IntegrityError) as info:
        unwrap_dek(suite, os.urandom(32), wrapped, b"R1")
    assert dek.hex() not in str(info.value)


def test_tampered_wrapped_dek_is_refused(suite: str, dek: bytes) -> None:
    kek = os.urandom(32)
    wrapped = wrap_dek(suite, kek, dek, b"R1")
    for pos in range(len(wrapped)):
        bad = bytearray(wrapped)
        bad[pos] ^= 0x10
        with pytest.raises(IntegrityError):
            unwrap_dek(suite, kek, bytes(bad), b"R1")
    with pytest.raises(IntegrityError):
        unwrap_dek(suite, kek, wrapped[:-1], b"R1")


def test_wrapped_dek_of_the_other_suite_is_refused() -> None:
    kek, dek = os.urandom(32), new_dek()
    wrapped = wrap_dek("aes256gcm-sha256", kek, dek, b"R1")
    with pytest.raises(IntegrityError):
        unwrap_dek("sm4gcm-sm3", kek, wrapped, b"R1")


def test_rewrapping_under_a_new_kek_keeps_content_readable(suite: str, dek: bytes) -> None:
    """KEK rotation touches the wrapped key only, never the object."""
    old, new = os.urandom(32), os.urandom(32)
    obj = seal(suite, dek, b"contents")
    wrapped = wrap_dek(suite, new, unwrap_dek(suite, old, wrap_dek(suite, old, dek, b"R1"), b"R1"), b"R1")
    assert decrypt_bytes(suite, unwrap_dek(suite, new, wrapped, b"R1"), obj, AAD) == b"contents"


@pytest.mark.parametrize("kek", [b"", b"k" * 16, b"k" * 33])
def test_kek_must_be_32_bytes(suite: str, dek: bytes, kek: bytes) -> None:
    with pytest.raises(InvalidInput):
        wrap_dek(suite, kek, dek, b"R1")


def test_dek_must_be_32_bytes(suite: str) -> None:
    with pytest.raises(InvalidInput):
        Encryptor(suite, b"short", AAD)


def test_unknown_suite_is_refused() -> None:
    with pytest.raises(InvalidInput, match="aes256gcm-sha256"):
        get_suite("aes128-cbc")


def test_segment_size_out_of_range_is_refused(dek: bytes, suite: str) -> None:
    with pytest.raises(InvalidInput):
        Encryptor(suite, dek, AAD, segment_size=8)


def test_repr_holds_no_key_material(suite: str, dek: bytes) -> None:
    enc = Encryptor(suite, dek, AAD)
    assert dek.hex() not in repr(enc) and repr(dek)[2:-1] not in repr(enc)


# --- streaming --------------------------------------------------------------------------


class Endless(io.RawIOBase):
    """`size` bytes of a repeating pattern, produced on demand, counting what was read."""

    def __init__(self, size: int) -> None:
        self.left, self.read_so_far = size, 0
        self._pattern = os.urandom(4096) * 64

    def readable(self) -> bool:
        return True

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
        n = min(len(buf), self.left, len(self._pattern))
        buf[:n] = self._pattern[:n]
        self.left -= n
        self.read_so_far += n
        return n


def test_encryptor_reads_ahead_only_a_few_segments(suite: str, dek: bytes) -> None:
    src = Endless(100 * SEG)
    it = Encryptor(suite, dek, AAD, segment_size=SEG).chunks(src)
    next(it)  # header
    next(it)  # first segment
    assert src.read_so_far <= SEG
    it.close()


def test_decrypt_yields_before_reading_the_whole_object(suite: str, dek: bytes) -> None:
    data = os.urandom(10 * SEG)
    obj = seal(suite, dek, data)
    consumed = []

    def reads() -> Iterator[bytes]:
        for i in range(0, len(obj), 10):
            consumed.append(i)
            yield obj[i : i + 10]

    it = decrypt_chunks(suite, dek, reads(), AAD)
    assert next(it) == data[:SEG]
    assert consumed[-1] < HEADER_SIZE + 2 * (SEG + TAG_SIZE)


def test_memory_stays_flat_for_a_large_stream() -> None:
    """64 MiB encrypted and decrypted as one pipeline allocates a few segments, not the file."""
    size, seg = 64 << 20, 1 << 20
    suite, dek = "aes256gcm-sha256", new_dek()
    src = Endless(size)
    out = hashlib.sha256()
    tracemalloc.start()
    try:
        enc = Encryptor(suite, dek, AAD, segment_size=seg)
        for piece in decrypt_chunks(suite, dek, enc.chunks(src), AAD):
            out.update(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert enc.size == size and out.hexdigest() == enc.sha256
    assert peak < 16 * seg
