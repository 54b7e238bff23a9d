"""Faults survived, against a really full disk: the object store's folder (filesystem
store) or MinIO's data folder is a small tmpfs, mounted in a private mount namespace
(`unshare -m`, or `unshare -rm` for a non-root user) so nothing leaks onto the machine
when the test ends. A record that does not fit is a clear error: no record, no object,
no half-written part — and the archive goes on once there is room again."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from minio import Minio
from pypdf import PdfReader, PdfWriter
from pypdf.generic import DictionaryObject, NameObject, NumberObject, StreamObject
from sqlalchemy import select

from dangan.archive.models import Record
from dangan.demo import render
from dangan.ingest import pipeline
from dangan.ingest.models import IngestJob
from dangan.ingest.pipeline import IngestPipeline
from dangan.ingest.sources import Item
from dangan.system import init_archive
from dangan.worker.loop import Worker
from tests.conftest import _populate

DANGAN = Path(sys.executable).parent / "dangan"
MiB = 1 << 20


def on_small_disk(folder: Path, size_mib: int, script: str) -> list[str]:
    """A command running `script` (sh) with a fresh `size_mib` tmpfs on `folder`, in a mount
    namespace of its own: the mount is gone when the command ends, whatever happens."""
    user = [] if os.geteuid() == 0 else ["-r"]  # non-root: map to root in a user namespace
    mount = f"mount -t tmpfs -o size={size_mib}m dangan-test {shlex.quote(str(folder))} || exit 97\n"
    return ["unshare", *user, "-m", "--propagation", "private", "sh", "-c", mount + script]


def padded_pdf(path: Path, title: str, mib: int) -> Path:
    """A real text PDF whose page also shows a `mib` MiB photo of noise: incompressible, so
    it stays that big once encrypted (an attachment would be refused as active content)."""
    text = render.text_pdf(path.with_suffix(".text.pdf"), [f"设备台账 {title}\n项目名称：翠湖花园\n填表日期：2024年3月1日"])
    writer = PdfWriter(clone_from=PdfReader(text))
    side = int((mib * MiB / 3) ** 0.5)
    image = StreamObject()
    image.set_data(os.urandom(side * side * 3))
    image.update({NameObject("/Type"): NameObject("/XObject"), NameObject("/Subtype"): NameObject("/Image"),
                  NameObject("/Width"): NumberObject(side), NameObject("/Height"): NumberObject(side),
                  NameObject("/ColorSpace"): NameObject("/DeviceRGB"),
                  NameObject("/BitsPerComponent"): NumberObject(8)})
    page = writer.pages[0]
    resources = page[NameObject("/Resources")].get_object()
    resources.setdefault(NameObject("/XObject"), DictionaryObject())[NameObject("/Noise")] = writer._add_object(image)
    content = page.get_contents()
    assert content is not None
    content.set_data(content.get_data() + b"\nq 72 0 0 72 400 40 cm /Noise Do Q\n")
    page.replace_contents(content)
    with path.open("wb") as f:
        writer.write(f)
    text.unlink()
    return path


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.mark.timeout(300)
def test_a_full_filesystem_store_refuses_the_record_cleanly_and_goes_on(
        system, tmp_path: Path) -> None:
    """`dangan ingest` onto a 4 MiB object folder: a 1 KiB-ish record fits, a 6 MiB one
    does not (exit 1, one sentence), and the next small one fits again."""
    objects = Path(system.settings.store_url)
    assert not objects.exists() or not any(objects.iterdir()), "the tmpfs would hide objects already there"
    objects.mkdir(parents=True, exist_ok=True)
    out = tmp_path / "out"
    out.mkdir()
    small1 = render.text_pdf(tmp_path / "small1.pdf", ["设备台账 一号电梯\n项目名称：翠湖花园\n填表日期：2024年3月1日"])
    small2 = render.text_pdf(tmp_path / "small2.pdf", ["设备台账 二号水泵\n项目名称：翠湖花园\n填表日期：2024年3月2日"])
    big = padded_pdf(tmp_path / "big.pdf", "三号配电柜", 6)
    ingest = (f"{shlex.quote(str(DANGAN))} --as wang ingest --json --category equipment "
              "--location A-01 {f} > {o}/{n}.json 2> {o}/{n}.err; echo $? > {o}/{n}.rc\n")
    script = "".join(ingest.format(f=shlex.quote(str(f)), o=shlex.quote(str(out)), n=n)
                     for n, f in (("1", small1), ("2", big), ("3", small2)))
    script += f"df -k {shlex.quote(str(objects))} | tail -1 > {out}/df.txt\n"
    script += f"cd {shlex.quote(str(objects))} && find . -type f | sort > {out}/files.txt\n"
    proc = subprocess.run(on_small_disk(objects, 4, script), capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    rc = {n: int((out / f"{n}.rc").read_text()) for n in "123"}
    err = {n: (out / f"{n}.err").read_text() for n in "123"}
    assert rc == {"1": 0, "2": 1, "3": 0}, err
    assert (out / "df.txt").read_text().split()[1] == "4096"  # it really ran on the small disk
    message = err["2"].strip()
    assert "空间已满" in message and "Traceback" not in message and len(message.splitlines()) == 1
    assert str(objects) in message  # the operator is told which store to make room on
    with system.db.read() as s:
        records = list(s.execute(select(Record)).scalars())
    assert len(records) == 2 and not any("三号" in r.title for r in records), [r.title for r in records]
    files = (out / "files.txt").read_text().split()
    assert sorted(f for f in files if not f.startswith("./models/")) == sorted(
        f"./records/{r.id}/{k}" for r in records for k in ("original", "text"))  # no temp file left either


@pytest.fixture
def full_minio(tmp_path: Path, minio_server: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Minio, Callable[[int], None]]]:
    """A MinIO of the shared build serving a 40 MiB tmpfs: (endpoint, client, grow(MiB))."""
    binary = os.environ.get("DANGAN_MINIO_BIN") or str(
        Path(os.environ.get("DANGAN_CACHE", Path.home() / ".cache" / "dangan")) / "go" / "bin" / "minio")
    data = tmp_path / "minio-data"
    data.mkdir()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    user, password = "fulltest", os.urandom(12).hex()
    env = dict(os.environ, MINIO_ROOT_USER=user, MINIO_ROOT_PASSWORD=password, MINIO_BROWSER="off")
    log = (tmp_path / "minio.log").open("wb")
    script = f"exec {shlex.quote(binary)} server {shlex.quote(str(data))} --address 127.0.0.1:{port} --quiet\n"
    proc = subprocess.Popen(on_small_disk(data, 40, script), env=env, stdout=log, stderr=log,
                            start_new_session=True)
    client = Minio(f"127.0.0.1:{port}", user, password, secure=False)
    deadline = time.monotonic() + 60
    while True:
        try:
            client.list_buckets()
            break
        except Exception:
            assert proc.poll() is None, (tmp_path / "minio.log").read_text()
            assert time.monotonic() < deadline, "the small-disk MinIO did not answer in 60 s"
            time.sleep(0.2)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", user)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", password)

    def grow(size_mib: int) -> None:
        """The administrator enlarges MinIO's volume (in the server's mount namespace)."""
        user_ns = [] if os.geteuid() == 0 else ["-U", "--preserve-credentials"]
        subprocess.run(["nsenter", "-t", str(proc.pid), *user_ns, "-m", "mount", "-o",
                        f"remount,size={size_mib}m", str(data)], check=True, capture_output=True, timeout=30)

    try:
        yield f"http://127.0.0.1:{port}", client, grow
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(data, ignore_errors=True)


@pytest.mark.timeout(300)
def test_a_full_minio_keeps_the_job_waiting_with_a_clear_error_then_it_finishes(
        full_minio, home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    endpoint, client, grow = full_minio
    monkeypatch.setenv("DANGAN_STORAGE_URL", f"s3://full?endpoint={endpoint}&retries=1&backoff=0.05&part_size=5242880")
    system, _ = init_archive(home, "root", "secofficer", "audit1")
    try:
        _populate(system)
        system.store.put_bytes("filler/ballast", os.urandom(30 * MiB))  # most of the disk, taken
        big = padded_pdf(tmp_path / "big.pdf", "三号配电柜", 12)
        IngestPipeline(system).add_batch(
            system.actor("wang"), [Item(big, big.name, {"category": "equipment", "location": "A-01"})], "queue")
        # More rounds than MAX_ATTEMPTS: waiting for room is not a run that died on the file.
        monkeypatch.setattr(pipeline, "MAX_ATTEMPTS", 2)  # so that a few rounds outlast it
        stats = Worker(system, processes=1, poll=0.05).run(max_rounds=4)
        assert stats.jobs == 0 and any("空间已满" in e for e in stats.errors), stats.errors
        with system.db.read() as s:
            jobs = list(s.execute(select(IngestJob)).scalars())
            assert len(jobs) == 1 and jobs[0].state in ("queued", "running"), jobs[0].result  # waiting, not refused
            assert jobs[0].attempts <= 1
            assert s.execute(select(Record)).first() is None  # no half record
        assert list(system.store.keys("records/")) == []  # nothing half-written ...
        assert list(client.list_objects("full", prefix="records/", recursive=True)) == []
        assert not list(client._list_multipart_uploads("full").uploads)  # ... not even an unfinished upload

        # The administrator makes room. (Deleting would free it only at MinIO's next trash
        # clean-up, every 5 minutes; a bigger volume shows at once.)
        grow(80)
        deadline = time.monotonic() + 60
        while not (stats := Worker(system, processes=1).run(once=True)).jobs and time.monotonic() < deadline:
            assert all("空间已满" in e for e in stats.errors), stats.errors
            time.sleep(1)
        assert stats.jobs == 1, stats.errors
        with system.db.read() as s:
            records = list(s.execute(select(Record)).scalars())
            jobs = [(j.state, j.result) for j in s.execute(select(IngestJob)).scalars()]
        assert len(records) == 1, jobs
        assert sorted(system.store.keys("records/")) == [f"records/{records[0].id}/{k}" for k in ("original", "text")]
        assert all(r["ok"] for r in system.records.verify(system.actor("audit1")))
        got = system.records.get(system.actor("wang"), records[0].archive_no or "", tmp_path / "back.pdf")
        assert (tmp_path / "back.pdf").read_bytes() == big.read_bytes(), got
    finally:
        system.close()


def test_the_small_disk_helper_really_mounts(tmp_path: Path) -> None:
    """The tests above prove nothing if the mount silently did not happen."""
    folder = tmp_path / "d"
    folder.mkdir()
    proc = subprocess.run(on_small_disk(folder, 2, f"df -k {shlex.quote(str(folder))} | tail -1; "
                                        f"head -c 3000000 /dev/zero > {shlex.quote(str(folder))}/x"),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "No space left" in proc.stderr, (proc.stdout, proc.stderr)
    assert proc.stdout.split()[1] == "2048"
    assert not (folder / "x").exists()  # the namespace's mount took the write, and is gone
    assert json.dumps(_files(folder)) == "[]"
