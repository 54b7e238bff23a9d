"""首页: the archive at a glance, counted within what the reader may see.

Other areas add a panel with `add_panel(fn)`: `fn(system, actor)` returns None (nothing
for this reader) or `{"title", "items": [(label, value, url-or-None)]}`.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import Select, case, func, select

from dangan.archive.models import Project, Record, utcnow
from dangan.archive.permissions import LEVELS, Actor
from dangan.ingest.models import IngestBatch, IngestJob

if TYPE_CHECKING:
    from dangan.system import Dangan

Panel = Callable[..., dict | None]
PANELS: list[Panel] = []


def add_panel(fn: Panel) -> Panel:
    PANELS.append(fn)
    return fn


def _visible(query: Select, actor: Actor) -> Select:
    levels = [name for name, level in LEVELS.items() if level <= actor.level]
    query = query.where(Record.security.in_(levels), Record.status != "destroyed")
    if actor.categories is not None:
        query = query.where(Record.category.in_(sorted(actor.categories)))
    return query


CACHE_SECONDS = 20.0
_cache_lock = threading.Lock()


def _counts(system: Dangan, actor: Actor) -> dict:
    """The archive-wide counts, shared for 20 s by readers of the same clearance and
    category rights: a home page a few seconds behind is fine, a group-by over every
    record on each visit is not. One thread recomputes an expired entry while the others
    keep reading the previous one (or wait for the first)."""
    key = (actor.level, actor.categories)
    with _cache_lock:
        cache = system.__dict__.setdefault("_web_dashboard_cache", {})
        locks = system.__dict__.setdefault("_web_dashboard_locks", {})
        hit = cache.get(key)
        lock = locks.setdefault(key, threading.Lock())
    if hit and time.monotonic() - hit[0] < CACHE_SECONDS:
        return hit[1]
    if hit and not lock.acquire(blocking=False):
        return hit[1]  # someone is refreshing it: the previous figures will do
    if not hit:
        lock.acquire()
    try:
        with _cache_lock:
            again = cache.get(key)
        if again and time.monotonic() - again[0] < CACHE_SECONDS:
            return again[1]
        out = _compute(system, actor)
        with _cache_lock:
            if len(cache) > 256:
                cache.clear()
            cache[key] = (time.monotonic(), out)
        return out
    finally:
        lock.release()


def _compute(system: Dangan, actor: Actor) -> dict:
    out: dict = {}
    scheme = system.scheme
    with system.db.read() as s:
        rows = s.execute(_visible(select(Record.category, func.count()), actor)
                         .group_by(Record.category)).all()
        counts = {k: n for k, n in rows}
        out["total"] = sum(counts.values())
        out["categories"] = [(c.name, counts[c.key], c.key) for c in scheme.categories if counts.get(c.key)]
        if counts.get(None):
            out["categories"].append(("待分类", counts[None], None))
        project = func.substr(Record.location, 1, func.instr(Record.location + "-", "-") - 1) \
            if system.db.dialect == "sqlite" else func.split_part(Record.location, "-", 1)
        rows = s.execute(_visible(select(project, func.count()), actor)
                         .where(Record.location.is_not(None)).group_by(project)).all()
        names = dict(s.execute(select(Project.code, Project.name)).all())
        out["projects"] = sorted(((f"{code} {names.get(code, '')}".strip(), n, code) for code, n in rows),
                                 key=lambda t: -t[1])
        rows = s.execute(_visible(select(Record.year, func.count()), actor)
                         .where(Record.year.is_not(None)).group_by(Record.year).order_by(Record.year)).all()
        out["years"] = [(str(y), n, y) for y, n in rows][-12:]
    return out


def stats(system: Dangan, actor: Actor) -> dict:
    """Counts by category, estate and year, the 待分类 queue and recent ingest work."""
    out: dict = {"categories": [], "projects": [], "years": [], "total": 0, "queued": None,
                 "batches": [], "jobs": None, "panels": []}
    if actor.can("record.meta"):
        out.update(_counts(system, actor))
    with system.db.read() as s:
        if actor.can("review"):
            out["queued"] = s.execute(_visible(select(func.count()), actor)
                                      .where(Record.status == "queued")).scalar_one()
        if actor.can("record.ingest"):
            since = utcnow() - dt.timedelta(days=7)
            states = s.execute(select(
                func.sum(case((IngestJob.state.in_(("pending", "running")), 1), else_=0)),
                func.sum(case((IngestJob.state == "rejected", 1), else_=0)))
                .join(IngestBatch, IngestBatch.id == IngestJob.batch_id)
                .where(IngestBatch.created_at >= since)).one()
            out["jobs"] = {"running": int(states[0] or 0), "rejected": int(states[1] or 0)}
            out["batches"] = [{"id": b.id, "source": b.source, "by": b.created_by,
                               "at": b.created_at.isoformat(timespec="seconds"),
                               "finished": b.finished_at is not None}
                              for b in s.execute(select(IngestBatch).where(IngestBatch.created_by == actor.name)
                                                 .order_by(IngestBatch.id.desc()).limit(5)).scalars()]
    for panel in PANELS:
        try:
            got = panel(system, actor)
        except Exception:  # a broken panel must not take the home page down
            got = None
        if got:
            out["panels"].append(got)
    return out
