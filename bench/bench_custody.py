"""Encrypt-and-store throughput against the machine's compute limit, and flat memory.

    .venv/bin/python bench/bench_custody.py [--size-mib 256] [--suite aes256gcm-sha256]

The compute limit is one in-memory, single-threaded pass of the suite's hashes and AEAD
over the same bytes (SHA-256 + AES-256-GCM by default): no implementation that reads,
hashes, encrypts and writes every byte can do less work. The target is end-to-end
Encryptor -> FilesystemStore.put (fsync included) at >= 0.6 x that limit.

The machine is shared, so every figure is the best of --repeat runs, and the limit is
re-measured next to each end-to-end run; the ratio is reported both from the bests and as
the median of the per-round ratios. A child process encrypts and stores a 1 GiB file and
reports its peak RSS growth (ru_maxrss) and Python's peak traced allocation.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cryptography
from cryptography.hazmat.backends.openssl import backend
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from dangan.archive import crypto
from dangan.archive.storage import FilesystemStore

MiB = 1 << 20


def mbps(nbytes: int, seconds: float) -> float:
    return nbytes / seconds / 1e6


def best_of(repeat: int, fn: Callable[[], float]) -> list[float]:
    """Run `fn` (returns seconds) `repeat` times; all timings."""
    return [fn() for _ in range(repeat)]


def make_random_file(path: Path, size: int) -> None:
    """`size` bytes of incompressible data, written in 16 MiB random blocks."""
    block = 16 * MiB
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(block, left)
            f.write(os.urandom(n))
            left -= n


def make_repeating_file(path: Path, size: int) -> None:
    """A large file quickly: one random 16 MiB block repeated (crypto does not care)."""
    block = os.urandom(16 * MiB)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(len(block), left)
            f.write(block[:n])
            left -= n


# --- the measured operations -------------------------------------------------------------


def compute_limit(data: memoryview, suite: crypto.CipherSuite, seg: int) -> float:
    """One in-memory pass: the suite's hash(es) and AEAD, reused output buffer, one thread."""
    key = os.urandom(suite.key_size)
    out = bytearray(seg + 16)
    sha = hashlib.sha256()
    other = None if suite.hash_name == "sha256" else suite.new_hash()
    alg = algorithms.AES(key) if suite.key_size == 32 else algorithms.SM4(key)
    t = time.perf_counter()
    for i, off in enumerate(range(0, len(data), seg)):
        piece = data[off : off + seg]
        sha.update(piece)
        if other is not None:
            other.update(piece)
        enc = Cipher(alg, modes.GCM(i.to_bytes(12, "big"))).encryptor()
        enc.update_into(piece, out)
        enc.finalize()
    sha.hexdigest()
    if other is not None:
        other.hexdigest()
    return time.perf_counter() - t


MODES: list[bool | None] = []  # which hashing mode each default (auto) run chose


def end_to_end(src: Path, store: FilesystemStore, suite: str, seg: int, background: bool | None = None) -> float:
    dek = crypto.new_dek(suite)
    enc = crypto.Encryptor(suite, dek, b"bench|original", seg, hash_in_background=background)
    t = time.perf_counter()
    with open(src, "rb", buffering=0) as f:
        store.put("bench/original", enc.chunks(f))
    elapsed = time.perf_counter() - t
    assert enc.size == src.stat().st_size
    if background is None:
        MODES.append(enc.hashed_in_background)
    store.delete("bench/original")
    return elapsed


def read_alone(src: Path, seg: int) -> float:
    buf = bytearray(seg)
    t = time.perf_counter()
    with open(src, "rb", buffering=0) as f:
        while f.readinto(buf):
            pass
    return time.perf_counter() - t


def hash_alone(data: memoryview) -> float:
    t = time.perf_counter()
    hashlib.sha256(data).hexdigest()
    return time.perf_counter() - t


def encrypt_alone(data: memoryview, suite: str, seg: int) -> float:
    """The Encryptor's sealing step as it runs: one fresh ct+tag `bytes` per segment."""
    s = crypto.get_suite(suite)
    sealer = s.sealer(os.urandom(s.key_size))
    t = time.perf_counter()
    for i, off in enumerate(range(0, len(data), seg)):
        sealer.seal(i.to_bytes(12, "big"), data[off : off + seg], b"bench|original")
    return time.perf_counter() - t


def write_alone(store: FilesystemStore, size: int, seg: int) -> float:
    piece = os.urandom(seg + 16)

    def chunks() -> Iterator[bytes]:
        for _ in range(size // seg):
            yield piece

    t = time.perf_counter()
    store.put("bench/write", chunks())
    elapsed = time.perf_counter() - t
    store.delete("bench/write")
    return elapsed


def decrypt(store: FilesystemStore, src: Path, suite: str, seg: int) -> tuple[float, float]:
    """Seconds to decrypt the stored object, straight after put and again with warm cache."""
    dek = crypto.new_dek(suite)
    aad = b"bench|original"
    with open(src, "rb", buffering=0) as f:
        store.put("bench/original", crypto.Encryptor(suite, dek, aad, seg).chunks(f))
    times = []
    for _ in range(2):
        t = time.perf_counter()
        n = 0
        for piece in crypto.decrypt_chunks(suite, dek, store.get("bench/original"), aad):
            n += len(piece)
        times.append(time.perf_counter() - t)
        assert n == src.stat().st_size
    store.delete("bench/original")
    return times[0], times[1]


# --- memory (child process) --------------------------------------------------------------


def _proc_status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_child(path: str, store_dir: str, suite: str) -> None:
    """Encrypt+store `path`; print JSON with RSS before, peak RSS during, and traced peak.

    The kernel's peak-RSS mark is reset first (clear_refs 5) so the peak belongs to this
    run, not to start-up; without /proc, ru_maxrss before and after is used instead.
    """
    import tracemalloc

    store = FilesystemStore(store_dir)
    dek = crypto.new_dek(suite)
    enc = crypto.Encryptor(suite, dek, b"bench|original")
    try:
        Path("/proc/self/clear_refs").write_text("5")
        method = "VmHWM after clear_refs"
    except OSError:
        method = "ru_maxrss"
    before = _proc_status_kib("VmRSS") if method != "ru_maxrss" else None
    if before is None:
        before, method = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "ru_maxrss"
    tracemalloc.start()
    with open(path, "rb", buffering=0) as f:
        stored = store.put("bench/big", enc.chunks(f))
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak = _proc_status_kib("VmHWM") if method != "ru_maxrss" else None
    if peak is None:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"rss_before_kib": before, "rss_peak_kib": peak, "method": method,
                      "traced_peak": traced_peak, "stored": stored, "size": enc.size}))


def measure_rss(tmp: Path, gib: float, suite: str) -> dict[str, float]:
    size = int(gib * 1024 * MiB)
    big = tmp / "big.bin"
    make_repeating_file(big, size)
    out = subprocess.run(
        [sys.executable, __file__, "--rss-child", str(big), str(tmp / "rss-store"), suite],
        check=True, capture_output=True, text=True,
    ).stdout
    big.unlink()
    shutil.rmtree(tmp / "rss-store", ignore_errors=True)
    r = json.loads(out)
    assert r["size"] == size
    return r


# --- main --------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mib", type=int, default=256)
    ap.add_argument("--suite", default=crypto.DEFAULT_SUITE, choices=crypto.SUITE_NAMES)
    ap.add_argument("--segment-kib", type=int, default=crypto.DEFAULT_SEGMENT_SIZE // 1024)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rss-gib", type=float, default=1.0, help="0 skips the memory check")
    ap.add_argument("--dir", default=None, help="where the temp files go (default: system temp)")
    ap.add_argument("--rss-child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child:
        rss_child(*args.rss_child)
        return

    size = args.size_mib * MiB
    seg = args.segment_kib * 1024
    suite = crypto.get_suite(args.suite)
    other = next(s for s in crypto.SUITE_NAMES if s != suite.name)
    print(f"command: {shlex.join(getattr(sys, 'orig_argv', [sys.executable, *sys.argv]))}")
    print(f"python {platform.python_version()}, cryptography {cryptography.__version__} "
          f"({backend.openssl_version_text()}), {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"size {args.size_mib} MiB, suite {suite.name}, segment {args.segment_kib} KiB, "
          f"best of {args.repeat}\n")

    tmp = Path(tempfile.mkdtemp(prefix="dangan-bench-", dir=args.dir))
    try:
        src = tmp / "source.bin"
        make_random_file(src, size)
        store = FilesystemStore(tmp / "objects")
        with open(src, "rb") as f:
            data = memoryview(f.read())
        assert len(data) == size

        # (a) + (b): the limit and end to end, measured side by side each round.
        limits, e2e, ratios = [], [], []
        for _ in range(args.repeat):
            lim = compute_limit(data, suite, seg)
            run = end_to_end(src, store, suite.name, seg)
            limits.append(lim)
            e2e.append(run)
            ratios.append(lim / run)
        best_lim, best_e2e = min(limits), min(e2e)
        print("(a) compute limit, one in-memory pass "
              f"({'SHA-256 + AES-256-GCM' if suite.key_size == 32 else 'SHA-256 + SM3 + SM4-GCM'}): "
              f"{mbps(size, best_lim):7.0f} MB/s")
        chosen = ", ".join("thread" if m else "one thread" for m in MODES)
        print(f"(b) Encryptor -> FilesystemStore.put (fsync): {mbps(size, best_e2e):7.0f} MB/s   "
              f"all runs: {', '.join(f'{mbps(size, t):.0f}' for t in e2e)}   (hashing chosen: {chosen})")
        print(f"    ratio (best / best): {best_lim / best_e2e:.2f}   "
              f"median of per-round ratios: {statistics.median(ratios):.2f}   target >= 0.60")
        for label, forced in (("hashing forced into the caller's thread", False),
                              ("hashing forced onto a helper thread", True)):
            t = min(best_of(args.repeat, lambda forced=forced: end_to_end(src, store, suite.name, seg, forced)))
            print(f"    {label:40s} {mbps(size, t):7.0f} MB/s  ratio {best_lim / t:.2f}")

        # (c) where the time goes.
        print("\n(c) breakdown, each step alone:")
        for label, fn in [
            ("read file (page cache, readinto)", lambda: read_alone(src, seg)),
            ("SHA-256 in memory", lambda: hash_alone(data)),
            (f"seal segments ({suite.name})", lambda: encrypt_alone(data, suite.name, seg)),
            ("write + fsync (FilesystemStore.put)", lambda: write_alone(store, size, seg)),
        ]:
            t = min(best_of(args.repeat, fn))
            print(f"    {label:40s} {mbps(size, t):7.0f} MB/s  {t * 1000:6.0f} ms")

        print("\n    segment size sweep, end to end:")
        for kib in (256, 512, 1024, 2048, 4096):
            t = min(best_of(args.repeat, lambda kib=kib: end_to_end(src, store, suite.name, kib * 1024)))
            print(f"    {kib:5d} KiB {mbps(size, t):7.0f} MB/s  ratio {best_lim / t:.2f}")

        # (d) the other suite, once, for reference.
        o = crypto.get_suite(other)
        t_other = end_to_end(src, store, other, seg)
        lim_other = compute_limit(data, o, seg)
        print(f"\n(d) {other}: end to end {mbps(size, t_other):7.0f} MB/s, "
              f"its compute limit {mbps(size, lim_other):7.0f} MB/s, ratio {lim_other / t_other:.2f}")

        # (e) decrypt.
        cold, warm = decrypt(store, src, suite.name, seg)
        print(f"\n(e) decrypt ({suite.name}), get -> decrypt_chunks: {mbps(size, cold):7.0f} MB/s right after put "
              f"(ciphertext pages dropped, read from disk), {mbps(size, warm):7.0f} MB/s from page cache")
        data.release()

        if args.rss_gib > 0:
            r = measure_rss(tmp, args.rss_gib, suite.name)
            grow = (r["rss_peak_kib"] - r["rss_before_kib"]) / 1024
            print(f"\nmemory: encrypt+store {args.rss_gib:g} GiB in a child process: peak RSS growth "
                  f"{grow:.1f} MiB (RSS {r['rss_before_kib'] / 1024:.1f} -> peak {r['rss_peak_kib'] / 1024:.1f} MiB, "
                  f"{r['method']}), peak traced Python allocation {r['traced_peak'] / MiB:.1f} MiB   limit 100 MiB")
        print(f"\nload average at the end {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
