"""一户一档 browse: estate → building → unit → room, each with the number of records the
reader may see below it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, or_, select

from dangan.archive import codes as codes_mod
from dangan.archive.models import Project, Record
from dangan.archive.permissions import Actor
from dangan.web.dashboard import _visible

if TYPE_CHECKING:
    from dangan.system import Dangan

LEVEL_NAMES = ("项目", "楼栋", "单元", "房间")


def children(system: Dangan, actor: Actor, prefix: str | None) -> dict:
    """The level below `prefix` (estates when None), each with its count."""
    system.records.require(actor, "record.meta")
    depth = 0
    if prefix:
        prefix = str(codes_mod.parse_location(prefix, system.scheme.codes))
        depth = prefix.count("-") + 1
    q = _visible(select(Record.location, func.count()), actor).where(Record.location.is_not(None))
    if prefix:
        q = q.where(or_(Record.location == prefix, Record.location.like(prefix + "-%")))
    counts: dict[str, int] = {}
    here = 0
    with system.db.read() as s:
        for loc, n in s.execute(q.group_by(Record.location)).all():
            parts = loc.split("-")
            if len(parts) <= depth:
                here += n
                continue
            key = "-".join(parts[:depth + 1])
            counts[key] = counts.get(key, 0) + n
        names = dict(s.execute(select(Project.code, Project.name)).all())
    items = []
    for code in sorted(counts):
        last = code.split("-")[-1]
        if depth == 0:
            label = f"{code} {names.get(code, '')}".strip()
        else:
            label = {1: f"{int(last)} 号楼", 2: f"{int(last)} 单元", 3: f"{last} 室"}.get(depth, last) \
                if last.isdigit() else last
        items.append({"code": code, "label": label, "count": counts[code], "leaf": depth >= 3})
    crumbs = []
    if prefix:
        parts = prefix.split("-")
        for i in range(len(parts)):
            crumbs.append("-".join(parts[:i + 1]))
    return {"prefix": prefix, "level": LEVEL_NAMES[min(depth, 3)], "children": items, "here": here,
            "total": here + sum(counts.values()), "crumbs": crumbs,
            "project_name": names.get(prefix.split("-")[0]) if prefix else None}
