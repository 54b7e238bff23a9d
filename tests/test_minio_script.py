"""scripts/minio.sh's Go download fallback, run for real against a stand-in for go.dev on
loopback (DANGAN_GO_DIST): the archive's SHA-256 is checked against the published index
(a mismatch is refused, nothing unpacked), the toolchain is unpacked once into the cache
outside the repository, and the downloaded go runs `go install` of the MinIO module.
The "go" in the tarball is a shell script that records its arguments and writes a fake
minio binary, so no real toolchain or build is involved; PATH holds no go at all, and
DANGAN_GO=download skips an installed /usr/local/go (this machine has one)."""

from __future__ import annotations

import hashlib
import io
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "minio.sh"
TOOLS = ("bash", "curl", "mkdir", "rm", "mv", "tar", "gzip", "sha256sum", "uname", "flock", "cat", "chmod")
MODULE = "github.com/minio/minio@latest"
ARCH = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine()]
GO_FILE = f"go1.99.0.linux-{ARCH}.tar.gz"

FAKE_GO = """#!/bin/sh
# stands in for the go command: records how it was called and "builds" a minio binary
{ printf 'argv:'; printf ' %s' "$@"; printf '\\n'; echo "self=$0"; echo "GOPATH=$GOPATH";
  echo "GOCACHE=$GOCACHE"; echo "CGO_ENABLED=$CGO_ENABLED"; } >> "$FAKE_GO_LOG"
mkdir -p "$GOPATH/bin"
printf '#!/bin/sh\\necho fake minio\\n' > "$GOPATH/bin/minio"
chmod +x "$GOPATH/bin/minio"
"""


def tarball(members: dict[str, tuple[bytes, int]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, (data, mode) in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


FAKE_TARBALL = tarball({"go/bin/go": (FAKE_GO.encode(), 0o755), "go/VERSION": (b"go1.99.0\n", 0o644)})


def index(sha256: str) -> bytes:
    import json

    files = [{"filename": GO_FILE, "os": "linux", "arch": ARCH, "kind": "archive", "sha256": sha256,
              "version": "go1.99.0", "size": len(FAKE_TARBALL)},
             {"filename": "go1.99.0.src.tar.gz", "os": "", "arch": "", "kind": "source", "sha256": "0" * 64,
              "version": "go1.99.0", "size": 1}]
    return json.dumps([{"version": "go1.99.0", "stable": True, "files": files}]).encode()


class Dist:
    """A go.dev/dl stand-in: fixed answers by path, every request recorded."""

    def __init__(self) -> None:
        self.routes: dict[str, bytes] = {}
        self.requests: list[str] = []
        dist = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                dist.requests.append(self.path)
                body = dist.routes.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/dl"

    def serve(self, tar: bytes, sha256: str) -> None:
        self.routes = {"/dl/?mode=json": index(sha256), f"/dl/{GO_FILE}": tar}


@pytest.fixture
def dist() -> Iterator[Dist]:
    d = Dist()
    thread = threading.Thread(target=d.server.serve_forever, daemon=True)
    thread.start()
    yield d
    d.server.shutdown()
    d.server.server_close()


@pytest.fixture
def run(tmp_path: Path, dist: Dist):
    """scripts/minio.sh with a PATH of only the tools it needs (no go) and a private cache."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found, f"{tool} is needed on this machine"
        (bindir / tool).symlink_to(found)
    (bindir / "python3").symlink_to(os.path.realpath(sys.executable))  # the script parses JSON with it
    assert shutil.which("go", path=str(bindir)) is None
    env = {"PATH": str(bindir), "HOME": str(tmp_path / "home"), "DANGAN_CACHE": str(tmp_path / "cache"),
           "DANGAN_GO_DIST": dist.url, "DANGAN_GO": "download", "FAKE_GO_LOG": str(tmp_path / "go.log")}

    def go(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(bindir / "bash"), str(SCRIPT), *args], env=env | extra, capture_output=True,
                              text=True, timeout=120)

    return go


def repo_status() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout


def test_without_go_the_toolchain_is_downloaded_checked_unpacked_into_the_cache_and_installs_minio(
        run, dist: Dist, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    dist.serve(FAKE_TARBALL, hashlib.sha256(FAKE_TARBALL).hexdigest())
    before = repo_status()
    built = run("build")
    assert built.returncode == 0, built.stderr
    assert built.stdout.strip() == str(cache / "go" / "bin" / "minio")
    assert dist.requests == ["/dl/?mode=json", f"/dl/{GO_FILE}"]
    toolchain = cache / "go-toolchain" / "go"
    assert (toolchain / "bin" / "go").is_file() and (toolchain / "VERSION").read_text() == "go1.99.0\n"
    assert not (cache / "go-toolchain.part").exists()
    assert repo_status() == before  # nothing landed in the repository
    log = (tmp_path / "go.log").read_text().splitlines()
    assert log == [f"argv: install {MODULE}", f"self={toolchain / 'bin' / 'go'}", f"GOPATH={cache / 'go'}",
                   f"GOCACHE={cache / 'go-build'}", "CGO_ENABLED=0"]

    (cache / "go" / "bin" / "minio").unlink()  # a rebuild reuses the toolchain: no second download
    again = run("build")
    assert again.returncode == 0, again.stderr
    assert dist.requests == ["/dl/?mode=json", f"/dl/{GO_FILE}"]
    assert (tmp_path / "go.log").read_text().count(f"argv: install {MODULE}") == 2


def test_a_download_that_does_not_match_the_published_checksum_is_refused(run, dist: Dist, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    published = hashlib.sha256(b"some other archive").hexdigest()
    dist.serve(FAKE_TARBALL, published)
    refused = run("build")
    assert refused.returncode == 1
    [line] = refused.stderr.strip().splitlines()[-1:]
    assert "does not match the SHA-256 published by" in line and published in line
    assert hashlib.sha256(FAKE_TARBALL).hexdigest() in line
    assert not (cache / "go-toolchain" / "go").exists() and not (cache / "go-toolchain.part").exists()
    assert list((cache / "downloads").iterdir()) == []  # the bad file is not kept for next time
    assert not (tmp_path / "go.log").exists() and not (cache / "go" / "bin" / "minio").exists()


def test_an_archive_without_go_and_an_unreachable_mirror_fail_with_one_sentence(run, dist: Dist,
                                                                              tmp_path: Path) -> None:
    empty = tarball({"go/README": (b"no binary here\n", 0o644)})
    dist.serve(empty, hashlib.sha256(empty).hexdigest())
    hollow = run("build")
    assert hollow.returncode == 1 and "holds no go/bin/go" in hollow.stderr
    assert not (tmp_path / "cache" / "go-toolchain" / "go").exists()

    gone = run("build", DANGAN_GO_DIST="http://127.0.0.1:9/dl")
    assert gone.returncode == 1 and "cannot reach http://127.0.0.1:9/dl" in gone.stderr
    assert "DANGAN_GO_DIST" in gone.stderr


def test_an_installed_go_is_used_first_and_nothing_is_downloaded(run, dist: Dist, tmp_path: Path) -> None:
    dist.serve(FAKE_TARBALL, hashlib.sha256(FAKE_TARBALL).hexdigest())
    on_path = tmp_path / "bin" / "go"
    on_path.write_text(FAKE_GO)
    on_path.chmod(0o755)
    built = run("build", DANGAN_GO="")  # the default search: PATH first
    assert built.returncode == 0, built.stderr
    assert f"self={on_path}" in (tmp_path / "go.log").read_text() and dist.requests == []

    (tmp_path / "cache" / "go" / "bin" / "minio").unlink()
    chosen = tmp_path / "chosen-go"
    chosen.write_text(FAKE_GO)
    chosen.chmod(0o755)
    assert run("build", DANGAN_GO=str(chosen)).returncode == 0
    assert f"self={chosen}" in (tmp_path / "go.log").read_text() and dist.requests == []
    (tmp_path / "cache" / "go" / "bin" / "minio").unlink()
    missing = run("build", DANGAN_GO=str(tmp_path / "no-such-go"))
    assert missing.returncode == 1 and "is not an executable go" in missing.stderr
