"""Accounts, passwords and tokens; role and clearance grants by the security officer."""

from __future__ import annotations

import builtins
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from dangan.archive.audit import AuditLog
from dangan.archive.db import Database
from dangan.archive.models import User
from dangan.archive.permissions import LEVELS, ROLES, SEPARATED, Actor
from dangan.errors import Conflict, InvalidInput, NotFound, PermissionDenied

_hasher = PasswordHasher()
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._-")


def to_actor(user: User) -> Actor:
    cats = frozenset(c for c in (user.categories or "").split(",") if c) or None
    return Actor(name=user.name, roles=frozenset(user.roles.split(",")), clearance=user.clearance,
                 department=user.department, categories=cats)


def validate_roles(roles: list[str]) -> list[str]:
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise InvalidInput(f"未知角色 {unknown[0]!r}；可选：{'、'.join(ROLES)}。")
    if not roles:
        raise InvalidInput("至少需要一个角色。")
    if "owner" in roles and len(set(roles)) > 1:
        raise InvalidInput("业主账户（owner）不能兼任其他角色。")
    separated = sorted(set(roles) & SEPARATED)
    if len(separated) > 1:
        raise InvalidInput(f"三员分立：同一人不能同时担任 {' 和 '.join(separated)}。")
    return sorted(set(roles))


def validate_name(name: str) -> str:
    if not name or len(name) > 64 or not set(name) <= NAME_CHARS or name == "system":
        raise InvalidInput(f"用户名 {name!r} 无效：只能用小写字母、数字、点、下划线和连字符，1–64 个字符。")
    return name


def validate_clearance(level: str) -> str:
    if level not in LEVELS:
        raise InvalidInput(f"未知密级 {level!r}；可选：{'、'.join(LEVELS)}。")
    return level


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise InvalidInput("密码至少 8 个字符。")
    return _hasher.hash(password)


def check_password(stored: str | None, password: str) -> bool:
    if not stored:
        return False
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def find_user(session: Session, name: str) -> User:
    user = session.execute(select(User).where(User.name == name)).scalar_one_or_none()
    if user is None or not user.active:
        raise NotFound(f"未知用户 {name!r}：请用 --as 指定已登记的用户，或让安全保密员添加。")
    return user


def create_user(session: Session, *, name: str, roles: list[str], clearance: str,
                department: str | None, categories: list[str] | None, password: str | None,
                created_by: str) -> User:
    validate_name(name)
    roles = validate_roles(roles)
    validate_clearance(clearance)
    if session.execute(select(User.id).where(User.name == name)).first():
        raise Conflict(f"用户 {name!r} 已存在。")
    user = User(name=name, roles=",".join(roles), clearance=clearance, department=department,
                categories=",".join(categories) if categories else None,
                password_hash=hash_password(password) if password else None, created_by=created_by)
    session.add(user)
    session.flush()
    return user


def issue_token(session: Session, user: User) -> str:
    """A new bearer token for the API; only its hash is stored."""
    token = "dg_" + secrets.token_urlsafe(32)
    user.token_hash = token_digest(token)
    session.flush()
    return token


def ensure_not_self_grant(actor: Actor, target_name: str) -> None:
    if actor.name == target_name:
        raise PermissionDenied("不能给自己授予角色或密级。")


class UsersService:
    """Account management under 三员分立: only the security officer grants roles."""

    def __init__(self, db: Database, audit: AuditLog) -> None:
        self.db = db
        self.audit = audit

    def actor(self, name: str | None) -> Actor:
        """The acting user for a CLI or API call; unknown users are refused."""
        if not name:
            raise PermissionDenied("请用 --as NAME 或环境变量 DANGAN_USER 指明操作人。")
        with self.db.session() as s:
            return to_actor(find_user(s, name))

    def add(self, actor: Actor, name: str, roles: list[str], clearance: str = "internal",
            department: str | None = None, categories: list[str] | None = None,
            password: str | None = None) -> dict:
        if not actor.can("user.manage"):
            with self.db.session() as s:
                self.audit.append(s, actor.name, "user.add", name, "denied",
                                  {"reason": "only the security officer grants roles"})
            raise PermissionDenied(f"用户 {actor.name} 不是安全保密员，不能添加用户或授予角色、密级。")
        ensure_not_self_grant(actor, name)
        with self.db.session() as s:
            user = create_user(s, name=name, roles=roles, clearance=clearance, department=department,
                               categories=categories, password=password, created_by=actor.name)
            self.audit.append(s, actor.name, "user.add", name, "ok",
                              {"roles": user.roles, "clearance": clearance, "department": department})
            return self.describe(user)

    def list(self, actor: Actor) -> list[dict]:
        if not actor.can("user.list"):
            raise PermissionDenied(f"用户 {actor.name} 无权查看用户列表。")
        with self.db.session() as s:
            return [self.describe(u) for u in s.execute(select(User).order_by(User.name)).scalars()]

    def set_password(self, actor: Actor, name: str, password: str) -> None:
        """Users change their own password; the security officer may reset anyone's."""
        if actor.name != name and not actor.can("user.manage"):
            raise PermissionDenied("只能修改自己的密码。")
        with self.db.session() as s:
            user = find_user(s, name)
            user.password_hash = hash_password(password)
            self.audit.append(s, actor.name, "user.password", name, "ok")

    def new_token(self, actor: Actor, name: str) -> str:
        if actor.name != name and not actor.can("user.manage"):
            raise PermissionDenied("只能为自己签发 API 令牌。")
        with self.db.session() as s:
            token = issue_token(s, find_user(s, name))
            self.audit.append(s, actor.name, "user.token", name, "ok")
            return token

    def update(self, actor: Actor, name: str, roles: builtins.list[str] | None = None,
               clearance: str | None = None, categories: builtins.list[str] | None = None,
               department: str | None = None, active: bool | None = None,
               all_categories: bool = False) -> dict:
        """Change a user's roles, clearance, category rights or status (security officer only).

        `categories=None` keeps them; `all_categories=True` lifts the restriction."""
        if not actor.can("user.manage"):
            with self.db.session() as s:
                self.audit.append(s, actor.name, "user.update", name, "denied",
                                  {"reason": "only the security officer grants roles"})
            raise PermissionDenied(f"用户 {actor.name} 不是安全保密员，不能修改角色、密级或类别权限。")
        ensure_not_self_grant(actor, name)
        with self.db.session() as s:
            user = s.execute(select(User).where(User.name == name)).scalar_one_or_none()
            if user is None:
                raise NotFound(f"未知用户 {name!r}。")
            changes: dict = {}
            if roles is not None:
                new = ",".join(validate_roles(roles))
                if new != user.roles:
                    changes["roles"] = [user.roles, new]
                    user.roles = new
            if clearance is not None and validate_clearance(clearance) != user.clearance:
                changes["clearance"] = [user.clearance, clearance]
                user.clearance = clearance
            if all_categories or categories is not None:
                new_cats = None if all_categories or not categories else ",".join(sorted(set(categories)))
                if new_cats != user.categories:
                    changes["categories"] = [user.categories, new_cats]
                    user.categories = new_cats
            if department is not None and (department or None) != user.department:
                changes["department"] = [user.department, department or None]
                user.department = department or None
            if active is not None and active != user.active:
                changes["active"] = [user.active, active]
                user.active = active
                if not active:
                    user.token_hash = None
            if changes:
                self.audit.append(s, actor.name, "user.update", name, "ok", changes)
            return {**self.describe(user), "changes": changes}

    def login(self, name: str, password: str) -> Actor:
        """Password check for the web login; failures are audited without the password."""
        with self.db.session() as s:
            user = s.execute(select(User).where(User.name == name)).scalar_one_or_none()
            ok = user is not None and user.active and check_password(user.password_hash, password)
            self.audit.append(s, name if user else "anonymous", "user.login", name if user else None,
                              "ok" if ok else "denied")
        if not ok or user is None:  # (ok implies a user; the second test narrows the type)
            raise PermissionDenied("用户名或密码不正确。")
        return to_actor(user)

    def by_token(self, token: str) -> Actor:
        with self.db.session() as s:
            user = s.execute(select(User).where(User.token_hash == token_digest(token))).scalar_one_or_none()
            if user is None or not user.active:
                raise PermissionDenied("API 令牌无效。")
            return to_actor(user)

    @staticmethod
    def describe(user: User) -> dict:
        return {"name": user.name, "roles": user.roles.split(","), "clearance": user.clearance,
                "department": user.department,
                "categories": user.categories.split(",") if user.categories else None,
                "has_password": bool(user.password_hash), "has_token": bool(user.token_hash),
                "active": bool(user.active)}
