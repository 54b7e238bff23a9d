"""The S3 object store: MinIO by default, any S3 service by configuration.

Configured by one URL, in ``[storage] url`` or ``$DANGAN_STORAGE_URL``::

    s3://BUCKET[/PREFIX][?endpoint=https://minio.example:9000&region=cn-north-1&lock=true]

- ``endpoint`` (else ``$DANGAN_S3_ENDPOINT``, else ``http://127.0.0.1:9000``): http or
  https; TLS certificates are checked against ``ca=/path/ca.pem`` or ``$SSL_CERT_FILE``,
  else the system's CA bundle.
- ``region`` (else ``$DANGAN_S3_REGION``).
- ``lock=true``: the bucket has S3 Object Lock (WORM); a Dangan legal hold sets the
  objects' legal-hold flag. A missing bucket is created on first write, with object lock
  when asked.
- Credentials never come from the URL or the config file: ``$AWS_ACCESS_KEY_ID`` and
  ``$AWS_SECRET_ACCESS_KEY`` (or ``$DANGAN_S3_ACCESS_KEY`` / ``$DANGAN_S3_SECRET_KEY``),
  else a 0600 file named by ``credentials=/path`` or ``$DANGAN_S3_CREDENTIALS_FILE`` holding
  ``access_key = …`` and ``secret_key = …`` lines (``KEY=VALUE`` forms of the AWS and MinIO
  variable names are read too).

Same promises as the filesystem store: a put is all or nothing (a small object is one
PUT; a large one streams as a multipart upload of ``part_size`` pieces that is completed
only after the last piece and aborted on any failure, so memory stays at a few parts
whatever the size), keys are validated the same way, listing is sorted. Transient
failures (connection refused or reset, 5xx, SlowDown) are retried with exponential
backoff before the caller sees a clear error.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import io
import os
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

import urllib3
from minio import Minio
from minio.datatypes import Object, Part
from minio.error import S3Error, ServerError
from minio.objectlockconfig import ObjectLockConfig
from urllib3 import BaseHTTPResponse

from dangan.archive.storage import ObjectStore, _validate_prefix, validate_key
from dangan.errors import Conflict, DanganError, InvalidInput, NotFound

T = TypeVar("T")

DEFAULT_ENDPOINT = "http://127.0.0.1:9000"
DEFAULT_PART_SIZE = 16 << 20  # measured best for MinIO on loopback (NOTES.md)
MIN_PART_SIZE = 5 << 20  # S3's minimum for every part but the last
READ_CHUNK_SIZE = 1 << 20
PARTS_IN_FLIGHT = 2
_MISSING = {"NoSuchKey", "NoSuchObject", "NoSuchVersion", "NotFound", "ResourceNotFound"}
_TRANSIENT_CODES = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout",
                    "XMinioServerNotInitialized", "XMinioStorageFull"}
_OPTIONS = {"endpoint", "region", "lock", "credentials", "ca", "part_size", "retries", "backoff"}


class StoreUnavailable(DanganError):
    """The object store did not answer (after retries): try again when it is back."""

    http_status = 503


def _truthy(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def read_credentials_file(path: str | os.PathLike[str]) -> tuple[str, str]:
    """(access key, secret key) from a private file; refuses a file others can read."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        raise InvalidInput(f"找不到 S3 凭据文件 {p}") from None
    if os.name == "posix" and st.st_mode & 0o077:
        raise InvalidInput(f"S3 凭据文件 {p} 的权限是 {stat.S_IMODE(st.st_mode):04o}，其他用户也能读取：请执行 chmod 600 {p}")
    values: dict[str, str] = {}
    for line in p.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.partition("=")
        name = name.strip().removeprefix("export ").strip().lower()
        values[name] = value.strip().strip('"').strip("'")
    access = values.get("access_key") or values.get("aws_access_key_id") or values.get("minio_root_user")
    secret = values.get("secret_key") or values.get("aws_secret_access_key") or values.get("minio_root_password")
    if not access or not secret:
        raise InvalidInput(f"S3 凭据文件 {p} 缺少 access_key 或 secret_key")
    return access, secret


def _credentials(options: Mapping[str, str], env: Mapping[str, str]) -> tuple[str | None, str | None]:
    access = env.get("DANGAN_S3_ACCESS_KEY") or env.get("AWS_ACCESS_KEY_ID")
    secret = env.get("DANGAN_S3_SECRET_KEY") or env.get("AWS_SECRET_ACCESS_KEY")
    if access and secret:
        return access, secret
    path = options.get("credentials") or env.get("DANGAN_S3_CREDENTIALS_FILE")
    if path:
        return read_credentials_file(path)
    return None, None  # anonymous: a public bucket, or the server will say no


class S3Store(ObjectStore):
    """Objects in one bucket (under an optional key prefix) of an S3 service."""

    def __init__(self, bucket: str, *, endpoint: str = DEFAULT_ENDPOINT, prefix: str = "",
                 region: str | None = None, access_key: str | None = None, secret_key: str | None = None,
                 object_lock: bool = False, ca_file: str | None = None, part_size: int = DEFAULT_PART_SIZE,
                 retries: int = 6, backoff: float = 0.25) -> None:
        if len(bucket) < 3:
            raise InvalidInput(f"S3 存储桶名 {bucket!r} 无效：至少 3 个字符")
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput(f"S3 服务地址 {endpoint!r} 无效：应为 http(s)://主机:端口")
        if part_size < MIN_PART_SIZE:
            raise InvalidInput(f"S3 分片大小至少 {MIN_PART_SIZE >> 20} MiB")
        if prefix:
            validate_key(prefix)
        self.bucket = bucket
        self.prefix = f"{prefix}/" if prefix else ""
        self.endpoint = endpoint
        self.object_lock = object_lock
        self.part_size = part_size
        self.retries = max(0, retries)
        self.backoff = backoff
        secure = parts.scheme == "https"
        # urllib3 retries connection set-up quickly; the longer outages are ours (_retry).
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=10, read=120), maxsize=16,
            cert_reqs="CERT_REQUIRED" if secure else "CERT_NONE",
            ca_certs=ca_file or os.environ.get("SSL_CERT_FILE") or None,
            retries=urllib3.Retry(total=2, backoff_factor=0.1, status_forcelist=[500, 502, 503, 504]),
        )
        try:
            self.client = Minio(parts.netloc, access_key=access_key, secret_key=secret_key,
                                secure=secure, region=region, http_client=http)
        except ValueError as exc:
            raise InvalidInput(f"S3 配置无效：{exc}") from None
        self._bucket_ready = False
        self._bucket_lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, env: Mapping[str, str] | None = None) -> S3Store:
        env = os.environ if env is None else env
        parts = urlsplit(url)
        if parts.username or parts.password:
            raise InvalidInput("S3 地址中不能写凭据（会以明文留在配置里）：请用环境变量 AWS_ACCESS_KEY_ID/"
                               "AWS_SECRET_ACCESS_KEY 或凭据文件 (credentials=/路径，权限 0600)")
        bucket = parts.hostname or ""
        if not bucket:
            raise InvalidInput(f"S3 地址 {url!r} 缺少存储桶名：应为 s3://存储桶[/前缀]")
        options = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        unknown = sorted(set(options) - _OPTIONS)
        if unknown:
            raise InvalidInput(f"S3 地址含有未知参数 {', '.join(unknown)}：可用 {', '.join(sorted(_OPTIONS))}")
        access, secret = _credentials(options, env)
        try:
            part_size = int(options.get("part_size", DEFAULT_PART_SIZE))
            retries = int(options.get("retries", 6))
            backoff = float(options.get("backoff", 0.25))
        except ValueError:
            raise InvalidInput("S3 地址的 part_size、retries、backoff 必须是数字") from None
        return cls(bucket, prefix=unquote(parts.path).strip("/"),
                   endpoint=options.get("endpoint") or env.get("DANGAN_S3_ENDPOINT") or DEFAULT_ENDPOINT,
                   region=options.get("region") or env.get("DANGAN_S3_REGION") or None,
                   access_key=access, secret_key=secret, object_lock=_truthy(options.get("lock", "")),
                   ca_file=options.get("ca") or None, part_size=part_size, retries=retries, backoff=backoff)

    def __repr__(self) -> str:
        return f"S3Store({self.endpoint!r}, bucket={self.bucket!r}, prefix={self.prefix!r})"

    def describe(self) -> dict[str, object]:
        return {"kind": "s3", "endpoint": self.endpoint, "bucket": self.bucket, "prefix": self.prefix,
                "object_lock": self.object_lock, "part_size": self.part_size}

    # -- plumbing ------------------------------------------------------------------------

    def _name(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def _retry(self, what: str, fn: Callable[[], T]) -> T:
        """Call `fn`, retrying transient failures with exponential backoff."""
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                return fn()
            except S3Error as exc:
                if exc.code not in _TRANSIENT_CODES or attempt == self.retries:
                    raise self._error(what, exc) from None
            except (ServerError, urllib3.exceptions.HTTPError, OSError) as exc:
                if attempt == self.retries:
                    raise self._error(what, exc) from None
            time.sleep(delay)
            delay = min(delay * 2, 8.0)
        raise AssertionError("unreachable")

    def _error(self, what: str, exc: BaseException) -> DanganError:
        if isinstance(exc, S3Error):
            if exc.code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                return InvalidInput(f"S3 服务拒绝访问（{exc.code}）：{what}；请检查 S3 凭据和存储桶权限")
            if exc.code == "XMinioStorageFull":
                return StoreUnavailable(f"对象存储空间已满：{what} 未完成，请扩容后重试")
            return DanganError(f"对象存储出错（{exc.code}）：{what} 未完成")
        return StoreUnavailable(f"对象存储 {self.endpoint} 无法访问（{type(exc).__name__}）：{what} 未完成，请稍后重试")

    def ensure_bucket(self) -> None:
        """Create the bucket if missing (with object lock when configured); check object lock."""
        if self._bucket_ready:
            return
        with self._bucket_lock:
            if self._bucket_ready:
                return
            if not self._retry("检查存储桶", lambda: self.client.bucket_exists(self.bucket)):
                try:
                    self._retry("创建存储桶", lambda: self.client.make_bucket(self.bucket,
                                                                           object_lock=self.object_lock))
                except DanganError:
                    if not self.client.bucket_exists(self.bucket):  # made by another process meanwhile?
                        raise
            if self.object_lock:
                try:
                    config = self.client.get_object_lock_config(self.bucket)
                except S3Error:
                    config = None
                if not isinstance(config, ObjectLockConfig):
                    raise InvalidInput(f"存储桶 {self.bucket} 没有启用对象锁定 (Object Lock)：它只能在建桶时启用，"
                                       "请换一个新存储桶")
            self._bucket_ready = True

    # -- the interface -------------------------------------------------------------------

    def put(self, key: str, chunks: Iterable[bytes]) -> int:
        name = self._name(key)
        self.ensure_bucket()
        buf = bytearray()
        it = iter(chunks)
        total = 0
        for chunk in it:
            buf += chunk
            total += len(chunk)
            if len(buf) >= self.part_size:
                return self._put_multipart(name, buf, it, total)
        data = bytes(buf)
        self._retry(f"写入对象 {key}", lambda: self.client._put_object(
            self.bucket, name, data, {"Content-Type": "application/octet-stream"}))
        return total

    def _put_multipart(self, name: str, buf: bytearray, rest: Iterator[bytes], total: int) -> int:
        """Parts of `part_size` uploaded on a small pool while the next is read; completed
        only after the last one, aborted on any failure (an interrupt included)."""
        upload_id = self._retry("开始分片上传", lambda: self.client._create_multipart_upload(
            self.bucket, name, {"Content-Type": "application/octet-stream"}))
        pool = cf.ThreadPoolExecutor(PARTS_IN_FLIGHT, thread_name_prefix="s3-part")
        futures: list[cf.Future[str]] = []
        completed = False

        def send(number: int, data: bytes) -> str:
            return self._retry(f"上传分片 {number}", lambda: self.client._upload_part(
                self.bucket, name, data, None, upload_id, number))

        def submit(data: bytes) -> None:
            # bound memory: at most PARTS_IN_FLIGHT parts queued besides the one being read
            while sum(not f.done() for f in futures) >= PARTS_IN_FLIGHT:
                cf.wait([f for f in futures if not f.done()], return_when=cf.FIRST_COMPLETED)
            for f in futures:
                failed = f.exception() if f.done() else None
                if failed is not None:
                    raise failed
            futures.append(pool.submit(send, len(futures) + 1, data))

        try:
            while len(buf) >= self.part_size:
                submit(bytes(buf[:self.part_size]))
                del buf[:self.part_size]
            for chunk in rest:
                buf += chunk
                total += len(chunk)
                while len(buf) >= self.part_size:
                    submit(bytes(buf[:self.part_size]))
                    del buf[:self.part_size]
            if buf or not futures:
                submit(bytes(buf))
            etags = [f.result() for f in futures]
            parts = [Part(n + 1, etag) for n, etag in enumerate(etags)]
            self._retry("完成分片上传", lambda: self.client._complete_multipart_upload(
                self.bucket, name, upload_id, parts))
            completed = True
            return total
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            if not completed:
                with contextlib.suppress(Exception):
                    self.client._abort_multipart_upload(self.bucket, name, upload_id)

    def get(self, key: str, chunk_size: int = READ_CHUNK_SIZE) -> Iterator[bytes]:
        name = self._name(key)
        try:
            response = self._retry(f"读取对象 {key}", lambda: self._open(name))
        except _Missing:
            raise NotFound(f"对象 {key!r} 不存在") from None
        return self._stream(response, chunk_size)

    def _open(self, name: str) -> BaseHTTPResponse:
        try:
            return self.client.get_object(self.bucket, name)
        except S3Error as exc:
            if exc.code in _MISSING or exc.code == "NoSuchBucket":
                raise _Missing() from None
            raise

    @staticmethod
    def _stream(response: BaseHTTPResponse, chunk_size: int) -> Iterator[bytes]:
        try:
            yield from response.stream(chunk_size)
        finally:
            response.close()
            response.release_conn()

    def get_bytes(self, key: str) -> bytes:
        name = self._name(key)

        def read() -> bytes:
            response = self._open(name)
            try:
                return bytes(response.data)
            finally:
                response.close()
                response.release_conn()

        try:
            return self._retry(f"读取对象 {key}", read)
        except _Missing:
            raise NotFound(f"对象 {key!r} 不存在") from None

    def _stat(self, key: str) -> Object | None:
        name = self._name(key)

        def stat_() -> Object | None:
            try:
                return self.client.stat_object(self.bucket, name)
            except S3Error as exc:
                if exc.code in _MISSING or exc.code == "NoSuchBucket":
                    return None
                raise

        return self._retry(f"查询对象 {key}", stat_)

    def exists(self, key: str) -> bool:
        return self._stat(key) is not None

    def size(self, key: str) -> int:
        info = self._stat(key)
        if info is None:
            raise NotFound(f"对象 {key!r} 不存在")
        assert info.size is not None  # stat_object takes it from Content-Length
        return int(info.size)

    def delete(self, key: str) -> None:
        """Remove the object, every version of it on a versioned (object-lock) bucket."""
        name = self._name(key)

        def remove() -> None:
            try:
                if self.object_lock:
                    versions = [o.version_id for o in self.client.list_objects(
                        self.bucket, prefix=name, include_version=True) if o.object_name == name]
                    for version in versions:
                        self.client.remove_object(self.bucket, name, version_id=version)
                else:
                    self.client.remove_object(self.bucket, name)
            except S3Error as exc:
                if exc.code in _MISSING or exc.code == "NoSuchBucket":
                    return
                if self.object_lock and exc.code in ("AccessDenied", "ObjectLocked", "InvalidRequest"):
                    raise Conflict(f"对象 {key} 处于 S3 法律保留（WORM），不能删除：请先解除冻结") from None
                raise

        self._retry(f"删除对象 {key}", remove)

    def keys(self, prefix: str = "") -> Iterator[str]:
        prefix = _validate_prefix(prefix)

        def listing() -> list[str]:
            try:
                return [o.object_name[len(self.prefix):] for o in self.client.list_objects(
                    self.bucket, prefix=self.prefix + prefix, recursive=True)]
            except S3Error as exc:
                if exc.code == "NoSuchBucket":
                    return []
                raise

        return iter(sorted(self._retry("列举对象", listing)))

    def set_legal_hold(self, key: str, on: bool) -> None:
        if not self.object_lock:
            return None
        name = self._name(key)
        call = self.client.enable_object_legal_hold if on else self.client.disable_object_legal_hold
        self._retry(f"设置对象 {key} 的法律保留", lambda: call(self.bucket, name))
        return None

    def legal_hold(self, key: str) -> bool:
        """Whether the object carries the S3 legal-hold flag."""
        if not self.object_lock:
            return False
        name = self._name(key)
        return bool(self._retry(f"查询对象 {key} 的法律保留",
                                lambda: self.client.is_object_legal_hold_enabled(self.bucket, name)))


class _Missing(Exception):
    """Internal: the object is not there (not retried)."""


def bare_put(client: Minio, bucket: str, name: str, data: bytes, part_size: int = DEFAULT_PART_SIZE) -> None:
    """The bare client's own upload of the same bytes (the benchmark's baseline)."""
    client.put_object(bucket, name, io.BytesIO(data), len(data), part_size=part_size)


__all__ = ["S3Store", "StoreUnavailable", "read_credentials_file"]
