"""管理 pages. The security officer: users, roles, clearance, category rights, API tokens,
owners' flats. The system administrator: estates, the classification scheme and 档号
template, key rotation, system status. 三员分立 holds exactly as in the CLI: each page
calls the same service, which refuses anyone else."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from dangan.archive.permissions import LEVELS, ROLES
from dangan.errors import DanganError, InvalidInput
from dangan.web import admin
from dangan.web.auth import check_csrf, requires
from dangan.web.owners import OwnerService

if TYPE_CHECKING:
    from dangan.system import Dangan

bp = Blueprint("admin_pages", __name__)


def system() -> Dangan:
    return current_app.config["DANGAN"]


def _form_list(name: str) -> list[str]:
    return [v for v in request.form.getlist(name) if v]


@bp.route("/admin/users", methods=["GET", "POST"])
@requires("user.manage", "user.list")
def users() -> ResponseReturnValue:
    svc = system()
    token = None
    if request.method == "POST":
        check_csrf()
        action = request.form.get("action")
        name = (request.form.get("name") or "").strip()
        try:
            if action == "add":
                password = request.form.get("password") or None
                svc.users.add(g.actor, name, _form_list("roles"), request.form.get("clearance") or "internal",
                              (request.form.get("department") or "").strip() or None,
                              _form_list("categories") or None, password)
                flash(f"已添加用户 {name}。")
            elif action == "update":
                cats = _form_list("categories")
                svc.users.update(g.actor, name, roles=_form_list("roles"),
                                 clearance=request.form.get("clearance") or None,
                                 categories=cats or None, all_categories=not cats,
                                 department=(request.form.get("department") or "").strip(),
                                 active=request.form.get("active") == "1")
                flash(f"已保存用户 {name} 的授权。")
            elif action == "password":
                svc.users.set_password(g.actor, name, request.form.get("password") or "")
                flash(f"已重设用户 {name} 的密码。")
            elif action == "token":
                token = svc.users.new_token(g.actor, name)
                flash(f"已为 {name} 签发新的 API 令牌（旧令牌作废）。令牌只显示这一次。", "warning")
            elif action == "bind":
                OwnerService(svc).bind(g.actor, name, request.form.get("location") or "")
                flash(f"已把业主 {name} 绑定到 {request.form.get('location')}。")
            elif action == "unbind":
                OwnerService(svc).unbind(g.actor, name, request.form.get("location") or "")
                flash(f"已解除业主 {name} 与 {request.form.get('location')} 的绑定。")
            else:
                raise InvalidInput("未知操作。")
        except DanganError as exc:
            flash(str(exc), "error")
        if token is None:
            return redirect(url_for("admin_pages.users", edit=name if action == "update" else None))
    rows = svc.users.list(g.actor)
    editing = request.args.get("edit")
    return render_template("admin/users.html", actor=g.actor, rows=rows, roles=ROLES, levels=LEVELS,
                           scheme=svc.scheme, token=token, editing=editing,
                           bindings=OwnerService(svc).bindings())


@requires("project.manage", "keys.rotate", "system.status")
def system_page() -> ResponseReturnValue:
    svc = system()
    if request.method == "POST":
        check_csrf()
        action = request.form.get("action")
        try:
            if action == "project":
                p = svc.projects.add(g.actor, (request.form.get("code") or "").strip(),
                                     request.form.get("name") or "", request.form.get("type") or "",
                                     (request.form.get("address") or "").strip() or None)
                flash(f"已登记项目 {p['code']} {p['name']}。")
            elif action == "rotate":
                r = svc.rotate_keys(g.actor)
                flash(f"密钥已轮换：新主密钥 {r['active']}，重新封装了 {r['rewrapped']} 份数据密钥。")
            elif action == "scheme":
                r = admin.save_scheme(svc, g.actor, request.form.get("scheme") or "")
                flash(f"分类方案已校验并保存（{r['categories']} 个类别）；重启服务后生效。")
            else:
                raise InvalidInput("未知操作。")
        except DanganError as exc:
            flash(str(exc), "error")
        return redirect(url_for("admin_pages.system"))
    status = admin.status(svc, g.actor) if g.actor.can("system.status") else None
    scheme_text = svc.settings.scheme_path.read_text(encoding="utf-8") if svc.settings.scheme_path.exists() \
        else svc.scheme.source_text
    return render_template("admin/system.html", actor=g.actor, projects=svc.projects.list(), status=status,
                           scheme=svc.scheme, scheme_text=scheme_text)


# the endpoint is named for the page, the function for what it holds
bp.add_url_rule("/admin/system", endpoint="system", view_func=system_page, methods=["GET", "POST"])
