"""Files uploaded through the web app are spooled into the data directory and queued as
a batch; no OCR runs here. Who then works the batch is `dangan.web.uploads.hand_off`'s
business (a thread of the web process, or `dangan worker` processes).

The spool (``<data>/spool/<batch>/``, 0700) must be on storage the workers can read (the
shared data volume in docker-compose.yml). A spooled file is removed once its job has
finished; the job's result stays in the database.
"""

from __future__ import annotations

import datetime as dt
import secrets
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING

from sqlalchemy import select

from dangan.archive.codes import parse_location
from dangan.archive.permissions import Actor
from dangan.errors import InvalidInput
from dangan.ingest.models import FINISHED, IngestJob
from dangan.ingest.pipeline import IngestPipeline
from dangan.ingest.sources import Item, display_name, expand_zip, is_zip

if TYPE_CHECKING:
    from dangan.system import Dangan

MAX_FILES = 500
EXPLICIT_KEYS = ("category", "location", "title", "date", "security")


def explicit_from(form: Mapping[str, str | None]) -> dict:
    """The same options as `dangan ingest`: only what was given."""
    out = {k: (form.get(k) or "").strip() for k in EXPLICIT_KEYS}
    return {k: v for k, v in out.items() if v}


def validate_explicit(system: Dangan, explicit: dict) -> None:
    """Refuse the whole batch up front when an option is wrong (not file by file later)."""
    scheme = system.scheme
    if "category" in explicit:
        scheme.category(explicit["category"])
    if "location" in explicit:
        parse_location(explicit["location"], scheme.codes)
    if "security" in explicit:
        scheme.security(explicit["security"])
    if "date" in explicit:
        try:
            dt.date.fromisoformat(explicit["date"])
        except ValueError:
            raise InvalidInput(f"日期 {explicit['date']!r} 无效：应为 YYYY-MM-DD。") from None


def spool_dir(system: Dangan) -> Path:
    path = system.settings.home / "spool"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def queue_uploads(system: Dangan, actor: Actor, files: Iterable[tuple[str, IO[bytes]]],
                  explicit: Mapping[str, str | None] | None = None, source: str = "queue") -> dict:
    """Spool the uploaded files and queue them as one batch (nothing is ingested here);
    {"batch_id", "files", "folder"}. The one way files from the web app become a batch:
    the 采集 page, POST /api/v1/uploads and POST /api/v1/records all come through here.

    Files are stored under names of our own (the user's name is only a label); a ZIP is
    unpacked into its members; an empty file becomes a rejected job. Wrong options refuse
    the whole batch and leave nothing behind."""
    system.records.require(actor, "record.ingest")
    given = explicit_from(explicit or {})
    validate_explicit(system, given)
    folder = spool_dir(system) / secrets.token_hex(8)
    folder.mkdir(mode=0o700)
    items: list[Item] = []
    try:
        for n, (name, stream) in enumerate(files):
            if n >= MAX_FILES:
                raise InvalidInput(f"一次最多上传 {MAX_FILES} 个文件：请分批上传")
            base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
            label = display_name(base or f"file-{n + 1}") or f"file-{n + 1}"
            target = folder / f"{n:05d}.upload"
            with open(target, "xb") as out:
                shutil.copyfileobj(stream, out, 1 << 20)
            if target.stat().st_size == 0:
                items.append(Item(None, label, dict(given), "文件为空"))
            elif is_zip(target):
                unpack = folder / f"{n:05d}.zip.d"
                unpack.mkdir()
                items.extend(expand_zip(target, label, dict(given), unpack))
            else:
                items.append(Item(target, label, dict(given)))
        if not items:
            raise InvalidInput("没有收到文件：请选择要上传的文件")
        batch_id = IngestPipeline(system).add_batch(actor, items, source)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return {"batch_id": batch_id, "files": len(items), "folder": folder}


def sweep_spool(system: Dangan) -> int:
    """Remove spooled files whose jobs have finished, and a batch's spool folder (with an
    unpacked ZIP's leftovers) once none of its jobs is open; returns how many files."""
    root = system.settings.home / "spool"
    if not root.is_dir():
        return 0
    with system.db.read() as s:
        rows = s.execute(select(IngestJob.path, IngestJob.state)
                         .where(IngestJob.path.like(f"{root}%"))).all()
    removed = 0
    tops_done: set[Path] = set()
    tops_open: set[Path] = set()
    for path, state in rows:
        p = Path(path)
        try:
            top = root / p.relative_to(root).parts[0]
        except (ValueError, IndexError):
            continue
        if state not in FINISHED:
            tops_open.add(top)
            continue
        tops_done.add(top)
        if p.exists():
            p.unlink()
            removed += 1
    for top in tops_done - tops_open:
        if top.is_dir():
            shutil.rmtree(top, ignore_errors=True)
    return removed
