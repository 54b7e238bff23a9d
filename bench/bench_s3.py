"""S3 store throughput next to the bare `minio` client, same bytes, same server, same run.

    .venv/bin/python bench/bench_s3.py [--mib 64] [--objects 4] [--rounds 3]

Starts (or reuses) the private MinIO of scripts/minio.sh, then for each round:
- put: `S3Store.put` streaming the object as 1 MiB chunks (what the records service sends:
  encrypted segments) versus `Minio.put_object` of the same bytes (16 MiB parts, its 3
  parallel part uploads);
- get: `S3Store.get` read to the end versus `Minio.get_object(...).stream()`.
Prints MB/s of the best round for each and the ratio store / bare client (target ≥ 0.8),
with the load average beside the timings.
"""

from __future__ import annotations

import argparse
import io
import os
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from minio import Minio  # noqa: E402

from dangan.archive.storage_s3 import S3Store  # noqa: E402


def server() -> dict[str, str]:
    script = str(ROOT / "scripts" / "minio.sh")
    subprocess.run([script, "start"], check=True, capture_output=True, timeout=1800)
    env = subprocess.run([script, "env"], check=True, capture_output=True, text=True).stdout
    return dict(line.removeprefix("export ").split("=", 1) for line in env.splitlines())


def chunks(data: bytes, size: int = 1 << 20):  # type: ignore[no-untyped-def]
    view = memoryview(data)
    for i in range(0, len(data), size):
        yield bytes(view[i:i + size])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=64, help="object size")
    ap.add_argument("--objects", type=int, default=4, help="objects per round")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    print("$", shlex.join([sys.executable.rsplit("/", 1)[-1], *sys.argv]))
    env = server()
    bucket = "bench-" + uuid.uuid4().hex[:10]
    endpoint = env["DANGAN_S3_ENDPOINT"]
    store = S3Store(bucket, endpoint=endpoint, access_key=env["AWS_ACCESS_KEY_ID"],
                    secret_key=env["AWS_SECRET_ACCESS_KEY"])
    store.ensure_bucket()
    bare = Minio(endpoint.split("://", 1)[1], access_key=env["AWS_ACCESS_KEY_ID"],
                 secret_key=env["AWS_SECRET_ACCESS_KEY"], secure=False)
    data = os.urandom(args.mib << 20)
    total = len(data) * args.objects
    best: dict[str, float] = {}

    def timed(name: str, fn) -> None:  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        fn()
        rate = total / (time.perf_counter() - t) / 1e6
        best[name] = max(best.get(name, 0.0), rate)

    for r in range(args.rounds):
        timed("store put", lambda: [store.put(f"s/{i}", chunks(data)) for i in range(args.objects)])
        timed("bare put", lambda: [bare.put_object(bucket, f"b/{i}", io.BytesIO(data), len(data),
                                                   part_size=16 << 20) for i in range(args.objects)])

        def store_get() -> None:
            for i in range(args.objects):
                for _ in store.get(f"s/{i}"):
                    pass

        def bare_get() -> None:
            for i in range(args.objects):
                resp = bare.get_object(bucket, f"b/{i}")
                try:
                    for _ in resp.stream(1 << 20):
                        pass
                finally:
                    resp.close()
                    resp.release_conn()

        timed("store get", store_get)
        timed("bare get", bare_get)
        print(f"round {r + 1}: load {os.getloadavg()[0]:.2f}  " +
              "  ".join(f"{k} {v:.0f} MB/s" for k, v in best.items()))
    for key in list(store.keys("")):
        store.delete(key)
    for i in range(args.objects):
        bare.remove_object(bucket, f"b/{i}")
    bare.remove_bucket(bucket)
    print(f"\n{args.objects} × {args.mib} MiB per round, best of {args.rounds}; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for op in ("put", "get"):
        s, b = best[f"store {op}"], best[f"bare {op}"]
        print(f"{op}: store {s:.0f} MB/s, bare client {b:.0f} MB/s, ratio {s / b:.2f}")


if __name__ == "__main__":
    main()
