"""The project registry: managed estates whose names place documents."""

from __future__ import annotations

import builtins
import re

from sqlalchemy import select

from dangan.archive.audit import AuditLog
from dangan.archive.codes import ProjectRef
from dangan.archive.db import Database
from dangan.archive.models import Project
from dangan.archive.permissions import Actor
from dangan.archive.scheme import Scheme
from dangan.errors import Conflict, InvalidInput, PermissionDenied

TYPES = {"residential": "A", "commercial": "B", "industrial": "C", "public": "D"}


class ProjectsService:
    def __init__(self, db: Database, audit: AuditLog, scheme: Scheme) -> None:
        self.db = db
        self.audit = audit
        self.scheme = scheme

    def add(self, actor: Actor, code: str, name: str, type_: str, address: str | None = None) -> dict:
        if not actor.can("project.manage"):
            with self.db.session() as s:
                self.audit.append(s, actor.name, "project.add", code, "denied")
            raise PermissionDenied(f"用户 {actor.name} 不是系统管理员，不能登记项目。")
        if type_ not in TYPES:
            raise InvalidInput(f"未知项目类型 {type_!r}；可选：{'、'.join(TYPES)}。")
        if not re.fullmatch(r"[A-Z][0-9]*", code):
            raise InvalidInput(f"项目编码 {code!r} 无效：应为一个大写字母加可选数字，如 A、A2、B13。")
        if code[0] != TYPES[type_]:
            raise InvalidInput(f"项目编码 {code!r} 的首字母应为 {TYPES[type_]}（{type_} 类项目）。")
        name = name.strip()
        if not name:
            raise InvalidInput("项目名称不能为空。")
        with self.db.session() as s:
            if s.get(Project, code):
                raise Conflict(f"项目编码 {code} 已登记。")
            if s.execute(select(Project).where(Project.name == name)).first():
                raise Conflict(f"项目名称 {name} 已登记。")
            s.add(Project(code=code, name=name, type=type_, address=address))
            self.audit.append(s, actor.name, "project.add", code, "ok", {"name": name, "type": type_})
        return {"code": code, "name": name, "type": type_, "address": address}

    def list(self) -> list[dict]:
        with self.db.session() as s:
            return [{"code": p.code, "name": p.name, "type": p.type, "address": p.address}
                    for p in s.execute(select(Project).order_by(Project.code)).scalars()]

    def refs(self) -> builtins.list[ProjectRef]:
        """For address recognition: every registered estate's code and name."""
        return [ProjectRef(p["code"], p["name"]) for p in self.list()]
