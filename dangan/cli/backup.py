"""`dangan backup DEST`, `dangan restore SRC`, `dangan backups SRC`,
`dangan migrate --to CONFIG` (CONTRACT.md) and `dangan keys recipient new|show`."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import click

from dangan.backup.recipients import Identity, load_identity, parse_recipient, write_key_pair
from dangan.backup.service import list_snapshots, restore
from dangan.cli.admin import keys
from dangan.cli.base import JSON_OPT, Ctx, each, emit, handled, main, pass_ctx
from dangan.errors import InvalidInput

PASSPHRASE_ENV = "DANGAN_BACKUP_PASSPHRASE"
IDENTITY_PASSPHRASE_ENV = "DANGAN_IDENTITY_PASSPHRASE"


def _passphrase(confirm: bool) -> str:
    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value
    if not sys.stdin.isatty():
        raise InvalidInput(f"需要备份口令或收件人公钥：请设置环境变量 {PASSPHRASE_ENV}，或用 --recipient / "
                           "DANGAN_BACKUP_RECIPIENT 指定公钥（非交互运行时无法询问口令）")
    return str(click.prompt("备份口令", hide_input=True, confirmation_prompt=confirm))


def _identity_passphrase() -> str | None:
    """Asked only when the identity file is passphrase-protected."""
    value = os.environ.get(IDENTITY_PASSPHRASE_ENV)
    if value or not sys.stdin.isatty():
        return value or None
    return str(click.prompt("私钥口令", hide_input=True))


def _identity(path: str | None) -> Identity | None:
    return load_identity(path, _identity_passphrase) if path else None


def _say(as_json: bool) -> Callable[[str], None]:
    return (lambda _m: None) if as_json else (lambda m: click.echo(m, err=True))


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


@main.command("backup")
@click.argument("dest")
@click.option("--no-keyring", is_flag=True, help="不把密钥放进备份（密钥另行保管）。")
@click.option("--recipient", "recipients", multiple=True, metavar="PUBKEY|PUBFILE",
              help="为该收件人公钥加密密钥（可重复；另见 [backup] recipient / DANGAN_BACKUP_RECIPIENT）。")
@JSON_OPT
@pass_ctx
@handled
def backup_cmd(c: Ctx, dest: str, no_keyring: bool, recipients: tuple[str, ...], as_json: bool) -> None:
    """备份到 DEST（目录或 s3://存储桶）：数据库快照、增量复制对象、加密的密钥（口令和/或收件人公钥，任一即可解开）。"""
    if no_keyring and recipients:
        raise InvalidInput("--recipient 与 --no-keyring 不能同时使用：不含密钥的备份无需收件人")
    system = c.system
    actor = c.actor()
    passphrase = None
    sealed_for = []
    if not no_keyring and system.keyring.source == "file":
        sealed_for = system.backups.recipients(recipients)
        passphrase = os.environ.get(PASSPHRASE_ENV) or None
        if passphrase is None and not sealed_for:
            passphrase = _passphrase(confirm=True)
    report = system.backups.backup(actor, dest, passphrase, keyring=not no_keyring, recipients=sealed_for,
                                   progress=_say(as_json))
    emit(report.as_dict(), as_json, lambda d: click.echo(
        f"已备份到 {d['dest']}（快照 {d['snapshot']}）：{d['tables']} 张表 {d['rows']} 行；"
        f"对象 {d['objects_total']} 个，新复制 {d['objects_copied']} 个 {_mib(d['bytes_copied'])}，"
        f"已有 {d['objects_skipped']} 个；密钥 {d['keyring']}"
        + (f"（{'、'.join(d['sealed_for'])}）" if d["sealed_for"] else "") + f"；用时 {d['seconds']:.1f} 秒"))


@main.command("restore")
@click.argument("src")
@click.option("--snapshot", help="要恢复的快照名（默认最新）。")
@click.option("--keyring", "keyring_file", type=click.Path(exists=True, dir_okay=False),
              help="另行保管的密钥文件（备份不含密钥时）。")
@click.option("--identity", "identity_file", envvar="DANGAN_BACKUP_IDENTITY", metavar="PRIVFILE",
              help="收件人私钥文件：解开为其公钥加密的密钥（代替口令）。")
@click.option("--no-reindex", is_flag=True, help="不重建检索索引（稍后运行 dangan search reindex）。")
@JSON_OPT
@pass_ctx
@handled
def restore_cmd(c: Ctx, src: str, snapshot: str | None, keyring_file: str | None, identity_file: str | None,
                no_reindex: bool, as_json: bool) -> None:
    """把备份 SRC 恢复到空的数据目录（--home），并重新执行备份之后的销毁。"""
    identity = None if keyring_file else _identity(identity_file)
    passphrase = None if keyring_file else (os.environ.get(PASSPHRASE_ENV) or None)
    if passphrase is None and not keyring_file and identity is None and sys.stdin.isatty():
        passphrase = _passphrase(confirm=False)
    report = restore(src, c.home, c.user, passphrase, snapshot=snapshot, keyring_file=keyring_file,
                     identity=identity, reindex=not no_reindex, progress=_say(as_json))
    emit(report.as_dict(), as_json, lambda d: click.echo(
        f"已恢复快照 {d['snapshot']} 到 {d['home']}：{d['rows']} 行，对象 {d['objects_restored']} 个 "
        f"{_mib(d['bytes_restored'])}；密钥来自 {d['keyring']}；重新销毁 {len(d['destructions_reapplied'])} 件；索引 {d['index']}；"
        f"用时 {d['seconds']:.1f} 秒。请运行 dangan verify --all 检测。"))


@main.command("backups")
@click.argument("src")
@JSON_OPT
@handled
def backups_cmd(src: str, as_json: bool) -> None:
    """列出备份位置 SRC 中的快照。"""
    rows = list_snapshots(src)
    emit(rows, as_json, each(lambda r: click.echo(f"{r['name']}\t{r['created']}\t{r['rows']} 行\t{r['objects']} 个对象")))


@main.command("migrate")
@click.option("--to", "to_config", required=True, type=click.Path(exists=True, dir_okay=False),
              help="目标配置文件（dangan.toml：PostgreSQL、s3:// 对象存储、Elasticsearch）。")
@click.option("--target-home", help="目标数据目录（放密钥与配置；默认与配置文件同目录）。")
@JSON_OPT
@pass_ctx
@handled
def migrate_cmd(c: Ctx, to_config: str, target_home: str | None, as_json: bool) -> None:
    """把本档案库复制到另一套后端（如 PostgreSQL + MinIO + Elasticsearch），可续传，并逐件核对。"""
    from dangan.backup.migrate import migrate_archive  # here: it loads every backend at import

    report = migrate_archive(c.system, c.actor(), to_config, target_home, progress=_say(as_json))
    emit(report, as_json, lambda d: click.echo(
        f"已迁移到 {d['home']}：{d['rows']} 行，对象新复制 {d['objects_copied']} 个、已有 {d['objects_skipped']} 个；"
        f"逐件核对 {d['verified']} 件，不一致 {len(d['mismatched'])} 件"))


# -- backup recipient keys (a separate block from the rest of `dangan keys`) ------------

@keys.group("recipient")
def keys_recipient() -> None:
    """备份收件人密钥（X25519）：公钥在档案主机上加密备份的密钥，私钥离线保管、恢复时使用。"""


@keys_recipient.command("new")
@click.option("-o", "--output", required=True, metavar="PRIVFILE", help="私钥文件（PEM，权限 0600）。")
@click.option("--pub", "pub_file", metavar="PUBFILE", help="公钥文件（默认：私钥文件名改为 .pub）。")
@click.option("--protect", is_flag=True,
              help=f"用口令保护私钥文件（口令取自 {IDENTITY_PASSPHRASE_ENV}，否则提示输入）。")
@JSON_OPT
@handled
def keys_recipient_new(output: str, pub_file: str | None, protect: bool, as_json: bool) -> None:
    """生成一对收件人密钥：私钥写入 PRIVFILE，公钥写入 .pub 文件并打印（一行）。"""
    secret = None
    if protect:
        secret = os.environ.get(IDENTITY_PASSPHRASE_ENV)
        if not secret:
            if not sys.stdin.isatty():
                raise InvalidInput(f"需要私钥口令：请设置环境变量 {IDENTITY_PASSPHRASE_ENV}（非交互运行时无法询问）")
            secret = str(click.prompt("私钥口令", hide_input=True, confirmation_prompt=True))
    identity, priv, pub = write_key_pair(output, pub_file, secret)
    r = identity.recipient
    data = {"identity": str(priv), "public_key_file": str(pub), "recipient": r.text,
            "fingerprint": r.fingerprint, "protected": secret is not None}
    emit(data, as_json, lambda d: click.echo(
        f"私钥：{d['identity']}（0600{'，口令保护' if d['protected'] else ''}；离线保管，勿与备份放在一起）\n"
        f"公钥：{d['public_key_file']}（{d['fingerprint']}）\n{d['recipient']}"))


@keys_recipient.command("show")
@click.argument("key_file", metavar="PUBFILE|PRIVFILE")
@JSON_OPT
@handled
def keys_recipient_show(key_file: str, as_json: bool) -> None:
    """打印公钥文件或私钥文件对应的收件人公钥（一行）。"""
    path = Path(key_file)
    private = path.is_file() and b"PRIVATE KEY-----" in path.read_bytes()[:4096]
    r = load_identity(path, _identity_passphrase).recipient if private else parse_recipient(key_file)
    emit({"recipient": r.text, "fingerprint": r.fingerprint}, as_json,
         lambda d: click.echo(f"{d['recipient']}\t{d['fingerprint']}"))
