"""Envelope encryption and segmented streaming AEAD for record content.

Every record gets its own random data key (DEK); the keyring's key-encryption key (KEK)
wraps it, bound to the record id, so rotating the KEK re-wraps a few bytes per record and
never touches content. Content is sealed in fixed-size segments (the construction of
Tink's AES-GCM-HKDF streaming AEAD) so a 10 GB scan streams in constant memory, and every
segment is authenticated before a byte of it is handed out.

Object format (all integers big-endian)::

    header   magic "DGAE" | version 0x01 | suite id (1 byte) | segment size (u32)
             | salt (32 bytes) | nonce prefix (7 bytes)                      = 49 bytes
    segment  ciphertext (segment size bytes) | GCM tag (16 bytes)   -- all but the last
    last     ciphertext (0 .. segment size - 1 bytes) | GCM tag    -- exactly one

The object's key is HKDF(DEK, salt, info=header), so one DEK safely seals several objects
(the original and its text) and any change to the header changes the key. Segment *i*
uses nonce = prefix | i (u32) | last flag (1 byte) and the caller's `aad` (record id and
object kind) as associated data: segments cannot be reordered, dropped, duplicated, cut
off, extended or moved to another record without failing authentication. The last
segment is the one shorter than the segment size; a plaintext that fills whole segments
ends with an empty last segment, so a reader never needs to look ahead.

Messages number segments from 1, as people count them.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from dangan.errors import DanganError, IntegrityError, InvalidInput

MAGIC = b"DGAE"
FORMAT_VERSION = 1
SALT_SIZE = 32
NONCE_PREFIX_SIZE = 7
NONCE_SIZE = 12
TAG_SIZE = 16
HEADER_SIZE = len(MAGIC) + 1 + 1 + 4 + SALT_SIZE + NONCE_PREFIX_SIZE
DEK_SIZE = 32
KEK_SIZE = 32
DEFAULT_SEGMENT_SIZE = 1 << 20
MIN_SEGMENT_SIZE = 16
MAX_SEGMENT_SIZE = 64 << 20
MAX_SEGMENTS = 1 << 32
DEFAULT_SUITE = "aes256gcm-sha256"
_HASH_QUEUE_DEPTH = 4  # plaintext buffers in flight to the hashing thread: absorbs scheduling jitter

_WRAP_VERSION = 1
_WRAP_AAD_LABEL = b"dangan-dek-wrap\x00"
_SM4_WRAP_INFO = b"dangan kek->sm4 dek wrapping key v1"


class _Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> None: ...

    def hexdigest(self) -> str: ...


class _SM3:
    """SM3 with hashlib's update/hexdigest shape (OpenSSL's hashlib may lack SM3)."""

    def __init__(self) -> None:
        self._h = hashes.Hash(hashes.SM3())

    def update(self, data: bytes | memoryview, /) -> None:
        self._h.update(data)

    def hexdigest(self) -> str:
        return self._h.finalize().hex()


class _Sealer(Protocol):
    def seal(self, nonce: bytes, data: bytes | memoryview, aad: bytes) -> bytes: ...

    def open(self, nonce: bytes, data: bytes | memoryview, aad: bytes) -> bytes: ...


class _AesGcm:
    """AES-256-GCM via the one-shot AEAD: one allocation per segment, ct and tag together."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, nonce: bytes, data: bytes | memoryview, aad: bytes) -> bytes:
        return self._aead.encrypt(nonce, data, aad)

    def open(self, nonce: bytes, data: bytes | memoryview, aad: bytes) -> bytes:
        return self._aead.decrypt(nonce, data, aad)


class _Sm4Gcm:
    """SM4-GCM through the generic Cipher API (cryptography has no one-shot SM4 AEAD)."""

    def __init__(self, key: bytes) -> None:
        self._alg = algorithms.SM4(key)

    def seal(self, nonce: bytes, data: bytes | memoryview, aad: bytes) -> bytes:
        enc = Cipher(self._alg, modes.GCM(nonce)).encryptor()
        enc.authenticate_additional_data(aad)
        ct = enc.update(data) + enc.finalize()
        return ct + enc.tag

    def open(self, nonce: bytes, data: bytes | memoryview, aad: bytes) -> bytes:
        view = memoryview(data)
        if len(view) < TAG_SIZE:
            raise InvalidTag
        dec = Cipher(self._alg, modes.GCM(nonce, bytes(view[-TAG_SIZE:]))).decryptor()
        dec.authenticate_additional_data(aad)
        pt = dec.update(view[:-TAG_SIZE])
        return pt + dec.finalize()  # finalize raises InvalidTag before pt escapes


@dataclass(frozen=True)
class CipherSuite:
    """A named pair of AEAD cipher and hash; stored by name with each record."""

    name: str
    suite_id: int
    key_size: int
    hash_name: str
    _kdf_hash: Callable[[], hashes.HashAlgorithm] = field(repr=False)
    _new_hash: Callable[[], _Hasher] = field(repr=False)
    _sealer: Callable[[bytes], _Sealer] = field(repr=False)

    def new_hash(self) -> _Hasher:
        """A fresh hash object of the suite's algorithm (SHA-256 or SM3)."""
        return self._new_hash()

    def derive(self, key: bytes, salt: bytes | None, info: bytes, length: int | None = None) -> bytes:
        """HKDF with the suite's hash: HKDF-SHA256 or HKDF-SM3."""
        return HKDF(self._kdf_hash(), length or self.key_size, salt, info).derive(key)

    def sealer(self, key: bytes) -> _Sealer:
        return self._sealer(key)


_SUITES: dict[str, CipherSuite] = {
    s.name: s
    for s in (
        CipherSuite("aes256gcm-sha256", 1, 32, "sha256", hashes.SHA256, hashlib.sha256, _AesGcm),
        CipherSuite("sm4gcm-sm3", 2, 16, "sm3", hashes.SM3, _SM3, _Sm4Gcm),
    )
}
_SUITES_BY_ID = {s.suite_id: s for s in _SUITES.values()}
SUITE_NAMES = tuple(_SUITES)


def get_suite(name: str | CipherSuite) -> CipherSuite:
    """The cipher suite called `name`; a configuration typo is refused, not defaulted."""
    if isinstance(name, CipherSuite):
        return name
    try:
        return _SUITES[name]
    except (KeyError, TypeError):
        raise InvalidInput(
            f"未知的加密套件 {name!r}：可选 {' 或 '.join(SUITE_NAMES)}"
        ) from None


def _check_key(key: bytes, size: int, what: str) -> None:
    if not isinstance(key, bytes | bytearray) or len(key) != size:
        raise InvalidInput(f"{what}必须是 {size} 字节")


# --- data keys ------------------------------------------------------------------------


def new_dek(suite: str | CipherSuite = DEFAULT_SUITE) -> bytes:
    """A fresh random data key for one record (32 bytes for every suite: HKDF input)."""
    get_suite(suite)
    return os.urandom(DEK_SIZE)


def _wrap_aad(suite: CipherSuite, context: bytes) -> bytes:
    return _WRAP_AAD_LABEL + bytes([_WRAP_VERSION, suite.suite_id]) + context


def _wrap_sealer(suite: CipherSuite, kek: bytes) -> _Sealer:
    _check_key(kek, KEK_SIZE, "密钥加密密钥 (KEK) ")
    if suite.key_size == KEK_SIZE:
        return suite.sealer(bytes(kek))
    return suite.sealer(suite.derive(bytes(kek), None, _SM4_WRAP_INFO))


def wrap_dek(suite: str | CipherSuite, kek: bytes, dek: bytes, context: bytes) -> bytes:
    """Seal `dek` under `kek`, bound to `context` (the record id) so it cannot be moved.

    Layout: version (1) | suite id (1) | nonce (12) | sealed DEK + tag.
    """
    s = get_suite(suite)
    _check_key(dek, DEK_SIZE, "数据密钥 (DEK) ")
    nonce = os.urandom(NONCE_SIZE)
    sealed = _wrap_sealer(s, kek).seal(nonce, bytes(dek), _wrap_aad(s, bytes(context)))
    return bytes([_WRAP_VERSION, s.suite_id]) + nonce + sealed


def unwrap_dek(suite: str | CipherSuite, kek: bytes, wrapped: bytes, context: bytes) -> bytes:
    """The DEK sealed by `wrap_dek`; IntegrityError for a wrong KEK, record or tampering."""
    s = get_suite(suite)
    sealer = _wrap_sealer(s, kek)
    fail = IntegrityError("数据密钥解封失败：密钥加密密钥不对，或封装的数据密钥被篡改或不属于这份档案")
    wrapped = bytes(wrapped)
    if len(wrapped) != 2 + NONCE_SIZE + DEK_SIZE + TAG_SIZE or wrapped[0] != _WRAP_VERSION:
        raise fail
    if wrapped[1] != s.suite_id:
        raise fail
    try:
        return sealer.open(wrapped[2 : 2 + NONCE_SIZE], wrapped[2 + NONCE_SIZE :], _wrap_aad(s, bytes(context)))
    except InvalidTag:
        raise fail from None


# --- streaming objects ----------------------------------------------------------------


def ciphertext_size(plaintext_size: int, segment_size: int = DEFAULT_SEGMENT_SIZE) -> int:
    """Stored size of an object: lets a store announce Content-Length before streaming."""
    segments = plaintext_size // segment_size + 1
    return HEADER_SIZE + plaintext_size + segments * TAG_SIZE


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


def _object_name(name: str | None, aad: bytes) -> str:
    return name if name is not None else aad.decode("utf-8", "replace")


def _read_full(src: BinaryIO, buf: bytearray) -> int:
    """Fill `buf` from `src` (short reads from pipes and sockets are retried); 0 at EOF."""
    view = memoryview(buf)
    readinto = getattr(src, "readinto", None)
    filled = 0
    while filled < len(buf):
        if readinto is not None:
            n = readinto(view[filled:])
        else:
            piece = src.read(len(buf) - filled)
            n = len(piece) if piece else 0
            view[filled : filled + n] = piece or b""
        if not n:
            break
        filled += n
    return filled


class _OwnLoad:
    """This process's share of the load average: its CPU use, decayed like the kernel's
    1-minute load (exp(-Δt/60)), so that `_spare_core` does not count our own previous
    objects — a helper thread busy a moment ago raised the load by one, and the next
    object then chose single-thread hashing on an otherwise idle machine."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.wall, self.cpu = time.monotonic(), time.process_time()
        self.value = 0.0

    def sample(self) -> float:
        with self.lock:
            wall, cpu = time.monotonic(), time.process_time()
            dt_wall = wall - self.wall
            if dt_wall > 0.05:
                rate = max(0.0, cpu - self.cpu) / dt_wall
                decay = math.exp(-dt_wall / 60.0)
                self.value = self.value * decay + rate * (1.0 - decay)
                self.wall, self.cpu = wall, cpu
            return self.value


_OWN_LOAD = _OwnLoad()


def _spare_core() -> bool:
    """Whether a second core is free for the hashing thread: other processes' share of the
    1-minute load (the load minus our own decayed CPU use) leaves room for this thread
    and a helper."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # pragma: no cover - no load average
        return False
    others = max(0.0, load - _OWN_LOAD.sample())
    return cpus >= 2 and others <= cpus - 1.5


class Encryptor:
    """Seals one object as it streams from a file; learns its size and hashes on the way.

    Hashing is the slowest step of the pass (SHA-256 ~1.5 GB/s, AES-GCM faster), and
    hashlib releases the GIL, so SHA-256 and the suite's hash can run on a helper thread
    while the caller encrypts and writes. That pays only when a core is idle: on a busy
    machine (several ingest workers) the extra thread just competes and was measured
    slower. `hash_in_background=None` (default) decides per object from the load
    average; True or False forces it. The output is the same either way.

    Plaintext buffers are reused (`readinto`); each yielded piece is a fresh immutable
    `bytes` the caller may keep.
    """

    def __init__(self, suite: str | CipherSuite, dek: bytes, aad: bytes,
                 segment_size: int = DEFAULT_SEGMENT_SIZE, *, hash_in_background: bool | None = None) -> None:
        self.suite = get_suite(suite)
        _check_key(dek, DEK_SIZE, "数据密钥 (DEK) ")
        if not MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE:
            raise InvalidInput(f"分段大小必须在 {MIN_SEGMENT_SIZE} 到 {MAX_SEGMENT_SIZE} 字节之间")
        self._dek = bytes(dek)
        self._aad = bytes(aad)
        self.segment_size = segment_size
        self._background = hash_in_background
        self.hashed_in_background: bool | None = None  # the choice made, once chunks() runs
        self._started = False
        self._size: int | None = None
        self._sha256: str | None = None
        self._digest: str | None = None

    def __repr__(self) -> str:
        return f"Encryptor(suite={self.suite.name!r}, segment_size={self.segment_size})"

    def _done(self, value: str | int | None) -> str | int:
        if value is None:
            raise DanganError("加密尚未完成：请先读完 chunks() 再取大小和摘要")
        return value

    @property
    def size(self) -> int:
        """Plaintext bytes read from the source."""
        return int(self._done(self._size))

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the plaintext: the fixity value, whatever the suite."""
        return str(self._done(self._sha256))

    @property
    def digest(self) -> str:
        """Hex digest of the plaintext with the suite's hash (SHA-256 or SM3)."""
        return str(self._done(self._digest))

    def _header(self) -> tuple[bytes, bytes]:
        """A fresh random header and the object key it implies."""
        salt = os.urandom(SALT_SIZE)
        prefix = os.urandom(NONCE_PREFIX_SIZE)
        header = (MAGIC + bytes([FORMAT_VERSION, self.suite.suite_id])
                  + self.segment_size.to_bytes(4, "big") + salt + prefix)
        return header, self.suite.derive(self._dek, salt, header)

    def chunks(self, src: BinaryIO) -> Iterator[bytes]:
        """Ciphertext of `src`, header first, then one sealed segment at a time."""
        if self._started:
            raise DanganError("一个 Encryptor 只能加密一个对象")
        self._started = True
        return self._chunks(src)

    def _chunks(self, src: BinaryIO) -> Iterator[bytes]:
        header, key = self._header()
        prefix = header[-NONCE_PREFIX_SIZE:]
        sealer = self.suite.sealer(key)
        aad = self._aad
        seg = self.segment_size
        sha = hashlib.sha256()
        suite_hash = None if self.suite.hash_name == "sha256" else self.suite.new_hash()

        def feed(view: memoryview) -> None:
            sha.update(view)
            if suite_hash is not None:
                suite_hash.update(view)

        yield header
        background = _spare_core() if self._background is None else self._background
        self.hashed_in_background = background
        depth = _HASH_QUEUE_DEPTH if background else 1
        buffers = [bytearray(seg)]
        pending: list[Future[None] | None] = [None] * depth
        pool: ThreadPoolExecutor | None = None
        total = 0
        index = 0
        try:
            while True:
                slot = index % depth
                waiting = pending[slot]
                if waiting is not None:
                    waiting.result()  # the hash of segment index-depth is done with this buffer
                    pending[slot] = None
                if slot == len(buffers):
                    buffers.append(bytearray(seg))  # grown on demand: small objects need one
                n = _read_full(src, buffers[slot])
                last = n < seg
                if index >= MAX_SEGMENTS - 1 and not last:
                    raise InvalidInput("文件过大：超过加密格式允许的分段数")
                view = memoryview(buffers[slot])[:n]
                if pool is None and not last and background:
                    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dangan-hash")
                if pool is not None:
                    pending[slot] = pool.submit(feed, view)
                else:
                    feed(view)
                total += n
                yield sealer.seal(_nonce(prefix, index, last), view, aad)
                if last:
                    break
                index += 1
            for fut in pending:
                if fut is not None:
                    fut.result()
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        self._size = total
        self._sha256 = sha.hexdigest()
        self._digest = self._sha256 if suite_hash is None else suite_hash.hexdigest()


def encrypt_bytes(suite: str | CipherSuite, dek: bytes, data: bytes, aad: bytes,
                  segment_size: int = DEFAULT_SEGMENT_SIZE) -> bytes:
    """The whole object for a small plaintext (extracted text, thumbnails)."""
    enc = Encryptor(suite, dek, aad, segment_size, hash_in_background=False)
    return b"".join(enc.chunks(io.BytesIO(data)))


def _parse_header(suite: CipherSuite, header: bytes, where: str) -> int:
    if header[:4] != MAGIC:
        raise IntegrityError(f"{where}不是 Dangan 加密对象，或文件头已损坏")
    if header[4] != FORMAT_VERSION:
        raise IntegrityError(f"{where}的格式版本 {header[4]} 无法识别：文件头已损坏，或由更新版本写入")
    if header[5] != suite.suite_id:
        found = _SUITES_BY_ID.get(header[5])
        what = found.name if found else f"编号 {header[5]}"
        raise IntegrityError(f"{where}的加密套件是 {what}，与记录登记的 {suite.name} 不符：文件头被篡改或对象放错了位置")
    seg = int.from_bytes(header[6:10], "big")
    if not MIN_SEGMENT_SIZE <= seg <= MAX_SEGMENT_SIZE:
        raise IntegrityError(f"{where}的文件头已损坏：分段大小 {seg} 不合法")
    return seg


def decrypt_chunks(suite: str | CipherSuite, dek: bytes, chunks: Iterable[bytes], aad: bytes,
                   *, name: str | None = None) -> Iterator[bytes]:
    """Plaintext of an object, one verified segment at a time.

    `chunks` may be cut anywhere (store reads need not align with segments). A segment's
    plaintext is yielded only after its tag verified; a stream cut at a segment boundary
    is only detectable at its end, so write the output somewhere provisional and commit it
    only once this iterator finishes without IntegrityError. `name` (default: `aad`)
    names the object in messages.
    """
    s = get_suite(suite)
    _check_key(dek, DEK_SIZE, "数据密钥 (DEK) ")
    return _decrypt(s, bytes(dek), chunks, bytes(aad), f'对象 "{_object_name(name, bytes(aad))}" ')


def _decrypt(suite: CipherSuite, dek: bytes, chunks: Iterable[bytes], aad: bytes, where: str) -> Iterator[bytes]:
    header = bytearray()
    sealer: _Sealer | None = None
    prefix = b""
    seglen = 0
    buf = bytearray()
    fill = 0
    index = 0

    def open_segment(data: memoryview, last: bool) -> bytes:
        assert sealer is not None
        try:
            return sealer.open(_nonce(prefix, index, last), data, aad)
        except InvalidTag:
            part = "第 1 段（或文件头）" if index == 0 else f"第 {index + 1} 段"
            raise IntegrityError(
                f"{where}{part}校验失败：内容被篡改、截断或损坏，或密钥与档案不匹配"
            ) from None

    for chunk in chunks:
        view = memoryview(chunk).cast("B")
        if sealer is None:
            take = HEADER_SIZE - len(header)
            header += view[:take]
            view = view[take:]
            if len(header) < HEADER_SIZE:
                continue
            seg = _parse_header(suite, bytes(header), where)
            key = suite.derive(dek, bytes(header[10 : 10 + SALT_SIZE]), bytes(header))
            sealer = suite.sealer(key)
            prefix = bytes(header[-NONCE_PREFIX_SIZE:])
            seglen = seg + TAG_SIZE
            # grows as needed: a small object never pays for a whole zeroed segment
            buf = bytearray()
        while view:
            if index >= MAX_SEGMENTS - 1:
                raise IntegrityError(f"{where}分段数超出格式上限：内容被篡改或损坏")
            if fill == 0 and len(view) >= seglen:
                # A whole segment inside this chunk: open it in place, no copy.
                yield open_segment(view[:seglen], last=False)
                view = view[seglen:]
                index += 1
                continue
            take = min(seglen - fill, len(view))
            buf[fill : fill + take] = view[:take]
            fill += take
            view = view[take:]
            if fill == seglen:
                yield open_segment(memoryview(buf), last=False)
                fill = 0
                index += 1
    if sealer is None:
        raise IntegrityError(f"{where}不完整：文件头被截断")
    if fill < TAG_SIZE:
        raise IntegrityError(f"{where}被截断：第 {index + 1} 段（末段）缺失或不完整")
    yield open_segment(memoryview(buf)[:fill], last=True)


def decrypt_bytes(suite: str | CipherSuite, dek: bytes, data: bytes, aad: bytes,
                  *, name: str | None = None) -> bytes:
    """The plaintext of a small object; nothing is returned unless every segment verified."""
    return b"".join(decrypt_chunks(suite, dek, [data], aad, name=name))


def key_check_value(key: bytes, label: bytes = b"dangan key check value v1") -> str:
    """A short public fingerprint of a key: HMAC of a constant, first 16 hex characters."""
    return hmac.new(key, label, hashlib.sha256).hexdigest()[:16]
