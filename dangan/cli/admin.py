"""Commands for setting up and running the archive: init, projects, users, audit, keys,
serve, demo."""

from __future__ import annotations

import sys

import click

from dangan.cli.base import JSON_OPT, Ctx, each, emit, handled, main, parse_date, pass_ctx

# -- init, projects, users -------------------------------------------------------------

@main.command()
@click.option("--admin", required=True, help="系统管理员用户名。")
@click.option("--security", required=True, help="安全保密员用户名。")
@click.option("--auditor", required=True, help="安全审计员用户名。")
@JSON_OPT
@pass_ctx
@handled
def init(c: Ctx, admin: str, security: str, auditor: str, as_json: bool) -> None:
    """创建数据目录、数据库、密钥文件、默认分类方案和三员账户（可重复执行）。"""
    from dangan.system import init_archive

    system, created = init_archive(c.home, admin, security, auditor)
    data = {"home": str(system.settings.home), "created": created,
            "accounts": {"admin": admin, "security": security, "auditor": auditor}}
    emit(data, as_json, lambda d: click.echo(
        f"{'已创建' if d['created'] else '已存在，无需重复创建'}档案库：{d['home']}\n"
        f"三员：系统管理员 {admin}，安全保密员 {security}，安全审计员 {auditor}"))


@main.group()
def project() -> None:
    """项目（管理的小区/楼宇）登记。"""


@project.command("add")
@click.argument("code")
@click.option("--name", required=True)
@click.option("--type", "type_", required=True,
              type=click.Choice(["residential", "commercial", "industrial", "public"]))
@click.option("--address")
@JSON_OPT
@pass_ctx
@handled
def project_add(c: Ctx, code: str, name: str, type_: str, address: str | None, as_json: bool) -> None:
    """登记项目，例如：dangan project add A --name 翠湖花园 --type residential"""
    data = c.system.projects.add(c.actor(), code, name, type_, address)
    emit(data, as_json, lambda d: click.echo(f"已登记项目 {d['code']} {d['name']}"))


@project.command("list")
@JSON_OPT
@pass_ctx
@handled
def project_list(c: Ctx, as_json: bool) -> None:
    """列出已登记的项目。"""
    c.actor()
    rows = c.system.projects.list()
    emit(rows, as_json, each(lambda p: click.echo(f"{p['code']}\t{p['name']}\t{p['type']}")))


@main.group()
def user() -> None:
    """用户与授权（由安全保密员操作）。"""


@user.command("add")
@click.argument("name")
@click.option("--role", "roles", multiple=True, required=True,
              help="admin、security、archivist、staff、manager、auditor，可重复。")
@click.option("--clearance", default="internal", show_default=True,
              help="public、internal、confidential、secret。")
@click.option("--department")
@click.option("--category", "categories", multiple=True, help="限定可见的类别（可重复；默认全部）。")
@JSON_OPT
@pass_ctx
@handled
def user_add(c: Ctx, name: str, roles: tuple[str, ...], clearance: str, department: str | None,
             categories: tuple[str, ...], as_json: bool) -> None:
    """添加用户；网页登录密码从标准输入读取（为空则仅可使用命令行）。"""
    password = None
    if not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\n") or None
    cats = [c.system.scheme.category(k).key for k in categories] or None
    data = c.system.users.add(c.actor(), name, list(roles), clearance, department, cats, password)
    emit(data, as_json, lambda d: click.echo(
        f"已添加用户 {d['name']}：角色 {','.join(d['roles'])}，密级 {d['clearance']}"))


@user.command("list")
@JSON_OPT
@pass_ctx
@handled
def user_list(c: Ctx, as_json: bool) -> None:
    """列出用户。"""
    rows = c.system.users.list(c.actor())
    emit(rows, as_json, each(lambda u: click.echo(
        f"{u['name']}\t{','.join(u['roles'])}\t{u['clearance']}\t{u['department'] or ''}")))


@user.command("token")
@click.argument("name")
@pass_ctx
@handled
def user_token(c: Ctx, name: str) -> None:
    """签发 API 令牌（只显示一次）。"""
    click.echo(c.system.users.new_token(c.actor(), name))


@user.command("passwd")
@click.argument("name")
@pass_ctx
@handled
def user_passwd(c: Ctx, name: str) -> None:
    """设置网页登录密码（从标准输入读取）。"""
    password = sys.stdin.readline().rstrip("\n") if not sys.stdin.isatty() else click.prompt(
        "新密码", hide_input=True, confirmation_prompt=True)
    c.system.users.set_password(c.actor(), name, password)
    click.echo(f"已更新 {name} 的密码。")


# -- audit and keys --------------------------------------------------------------------

@main.group()
def audit() -> None:
    """审计日志。"""


@audit.command("verify")
@JSON_OPT
@pass_ctx
@handled
def audit_verify(c: Ctx, as_json: bool) -> None:
    """校验哈希链；链断开时退出码为 1 并指出第一条异常记录。"""
    report = c.system.verify_audit(c.actor())
    emit(report.as_json(), as_json, lambda d: click.echo(
        f"审计链完整：{d['entries']} 条，链头 {d['head']}" if d["ok"]
        else f"审计链断开：第一条异常记录 #{d['first_bad']}（{d['reason']}）"))
    if not report.ok:
        sys.exit(1)


@audit.command("log")
@click.option("--action")
@click.option("--since")
@click.option("--limit", type=int, default=None)
@JSON_OPT
@pass_ctx
@handled
def audit_log(c: Ctx, action: str | None, since: str | None, limit: int | None, as_json: bool) -> None:
    """查看审计日志。"""
    rows = c.system.audit_log(c.actor(), action=action, since=parse_date(since), limit=limit)
    emit(rows, as_json, each(lambda r: click.echo(
        f"#{r['id']}\t{r['ts'][:19]}\t{r['actor']}\t{r['action']}\t{r['target'] or ''}\t{r['outcome']}")))


@main.group()
def keys() -> None:
    """密钥管理。"""


@keys.command("rotate")
@JSON_OPT
@pass_ctx
@handled
def keys_rotate(c: Ctx, as_json: bool) -> None:
    """生成新的密钥加密密钥，并用它重新封装每件档案的数据密钥。"""
    data = c.system.rotate_keys(c.actor())
    emit(data, as_json, lambda d: click.echo(
        f"已轮换密钥：{d['previous']} → {d['active']}，重新封装 {d['rewrapped']} 个数据密钥"))


@keys.command("rekey-index")
@click.option("--batch", type=click.IntRange(1, 10_000), default=500, show_default=True,
              help="每个事务处理的档案数。")
@JSON_OPT
@pass_ctx
@handled
def keys_rekey_index(c: Ctx, batch: int, as_json: bool) -> None:
    """换用新的盲索引密钥：用新密钥从每件档案的解密文本重建身份证号、手机号、银行卡号的盲索引令牌，
    完成后删除旧令牌并销毁旧密钥。中断后再次运行会从中断处继续；重建期间检索照常可用。"""
    report = c.system.keys.rekey_index(c.actor(), batch=batch)
    emit(report.as_json(), as_json, lambda d: click.echo(
        f"盲索引已换用第 {d['generation']} 代密钥（原第 {d['previous']} 代{'，续做' if d['resumed'] else ''}）："
        f"档案 {d['records']} 件，新令牌 {d['tokens']} 个（其中重建期间新增档案 {d['caught_up']} 件），"
        f"删除旧令牌 {d['removed']} 个；用时 {d['seconds']:.1f} 秒"))


@keys.command("rotate-cache")
@JSON_OPT
@pass_ctx
@handled
def keys_rotate_cache(c: Ctx, as_json: bool) -> None:
    """换用新的分类模型缓存密钥：旧缓存作废，下次分类时用新密钥重新训练并缓存。"""
    data = c.system.keys.rotate_cache(c.actor())
    emit(data, as_json, lambda d: click.echo(
        f"分类模型缓存已换用第 {d['generation']} 代密钥（原第 {d['previous']} 代），旧缓存已作废"))


@keys.command("status")
@JSON_OPT
@pass_ctx
@handled
def keys_status(c: Ctx, as_json: bool) -> None:
    """各密钥的当前代与启用时间（不显示密钥本身）。"""
    emit(c.system.keys.status(c.actor()), as_json, _print_key_status)


def _print_key_status(d: dict) -> None:
    kek, audit_key = d["kek"], d["audit"]
    where = {"file": "密钥文件", "env": "环境变量 DANGAN_KEK"}.get(kek["source"], kek["source"])
    click.echo(f"密钥加密密钥 (KEK)  {kek['active']}（{where}，共 {kek['keys_held']} 把）  自 {kek['since'] or '—'}")
    click.echo(f"审计密钥            指纹 {audit_key['fingerprint']}（{audit_key['source']}）  "
               f"自 {audit_key['since'] or '—'}，从不轮换（审计链连续）")
    for purpose, name in (("blind-index", "盲索引密钥"), ("classifier-cache", "分类缓存密钥")):
        p = d[purpose]
        line = f"{name:<12}  第 {p['generation']} 代  自 {p['since'] or '—'}"
        if p["unfinished"]:
            u = p["unfinished"]
            line += f"  （第 {u['generation']} 代未完成：{u['state']}，已处理 {u['records_done']} 件；请再次运行 keys rekey-index）"
        click.echo(line)


# -- serve and demo --------------------------------------------------------------------

@main.command()
@click.option("--host", default=None)
@click.option("--port", type=int, default=None)
@pass_ctx
@handled
def serve(c: Ctx, host: str | None, port: int | None) -> None:
    """启动网页服务。"""
    from dangan.web.app import create_app

    system = c.system
    app = create_app(system, start_drain=True)
    host = host or system.settings.web_host
    port = port or system.settings.web_port
    click.echo(f"Dangan 档案 正在 http://{host}:{port}/ 提供服务（Ctrl+C 停止）")
    from werkzeug.serving import run_simple

    run_simple(host, port, app, threaded=True, use_reloader=False)


@main.command()
@click.option("--serve/--no-serve", "then_serve", default=False, help="建好后启动网页服务。")
@click.option("--port", type=int, default=None)
@pass_ctx
@handled
def demo(c: Ctx, then_serve: bool, port: int | None) -> None:
    """建立带示例档案的演示库。"""
    from dangan.demo.build import build_demo

    summary = build_demo(c.home)
    click.echo(summary["message"])
    if then_serve:
        c.user = None
        from werkzeug.serving import run_simple

        from dangan.web.app import create_app

        system = c.system
        port = port or system.settings.web_port
        click.echo(f"Dangan 档案 正在 http://{system.settings.web_host}:{port}/ 提供服务（Ctrl+C 停止）")
        run_simple(system.settings.web_host, port, create_app(system, start_drain=True), threaded=True, use_reloader=False)
