"""Commands behind the web app's own features, so the CLI and the browser can do the
same: change a user's grants (`user set`), bind an owner account to a flat and mark
records visible to owners (`owner ...`)."""

from __future__ import annotations

import click

from dangan.cli.admin import user
from dangan.cli.base import JSON_OPT, Ctx, each, emit, handled, main, pass_ctx
from dangan.errors import PermissionDenied
from dangan.web.owners import OwnerService


@user.command("set")
@click.argument("name")
@click.option("--role", "roles", multiple=True, help="新的角色（可重复；给出即替换原有角色）。")
@click.option("--clearance", help="public、internal、confidential、secret。")
@click.option("--category", "categories", multiple=True, help="限定可见的类别（可重复）。")
@click.option("--all-categories", is_flag=True, help="取消类别限定。")
@click.option("--department")
@click.option("--disable/--enable", "disable", default=None, help="停用或启用账户。")
@JSON_OPT
@pass_ctx
@handled
def user_set(c: Ctx, name: str, roles: tuple[str, ...], clearance: str | None, categories: tuple[str, ...],
             all_categories: bool, department: str | None, disable: bool | None, as_json: bool) -> None:
    """修改用户的角色、密级、类别权限或状态（安全保密员）。"""
    cats = [c.system.scheme.category(k).key for k in categories] or None
    data = c.system.users.update(c.actor(), name, roles=list(roles) or None, clearance=clearance,
                                 categories=cats, all_categories=all_categories, department=department,
                                 active=None if disable is None else not disable)
    emit(data, as_json, lambda d: click.echo(
        f"已保存 {d['name']}：角色 {','.join(d['roles'])}，密级 {d['clearance']}"
        + ("" if d["changes"] else "（没有变化）")))


@main.group()
def owner() -> None:
    """业主查询：绑定业主房屋（安全保密员），对业主开放档案（档案管理员）。"""


@owner.command("bind")
@click.argument("name")
@click.argument("location")
@JSON_OPT
@pass_ctx
@handled
def owner_bind(c: Ctx, name: str, location: str, as_json: bool) -> None:
    """把业主账户绑定到房屋（房间级位置编码）。"""
    data = OwnerService(c.system).bind(c.actor(), name, location)
    emit(data, as_json, lambda d: click.echo(f"已把业主 {d['user']} 绑定到 {d['location']}"))


@owner.command("unbind")
@click.argument("name")
@click.argument("location")
@pass_ctx
@handled
def owner_unbind(c: Ctx, name: str, location: str) -> None:
    """解除业主与房屋的绑定。"""
    OwnerService(c.system).unbind(c.actor(), name, location)
    click.echo(f"已解除 {name} 与 {location} 的绑定")


@owner.command("visible")
@click.argument("archive_no")
@click.option("--off", is_flag=True, help="取消对业主开放。")
@click.option("--reason", default="", help="原因（记入审计日志）。")
@pass_ctx
@handled
def owner_visible(c: Ctx, archive_no: str, off: bool, reason: str) -> None:
    """对业主开放（或取消开放）一件编到房间的档案。"""
    OwnerService(c.system).set_visible(c.actor(), archive_no, not off, reason)
    click.echo(f"{archive_no} {'已取消对业主开放' if off else '已对业主开放'}")


@owner.command("list")
@JSON_OPT
@pass_ctx
@handled
def owner_list(c: Ctx, as_json: bool) -> None:
    """业主账户及其房屋（安全保密员）。"""
    actor = c.actor()
    if not actor.can("user.list"):
        raise PermissionDenied(f"用户 {actor.name} 无权查看用户。")
    data = OwnerService(c.system).bindings()
    emit(data, as_json, lambda d: each(lambda kv: click.echo(f"{kv[0]}\t{' '.join(kv[1])}"))(d.items()))
