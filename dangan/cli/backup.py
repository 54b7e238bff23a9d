"""`dangan backup DEST`, `dangan restore SRC`, `dangan backups SRC` and
`dangan migrate --to CONFIG` (CONTRACT.md)."""

from __future__ import annotations

import os
import sys

import click

from dangan.backup.migrate import migrate_archive
from dangan.backup.service import list_snapshots, restore
from dangan.cli.base import JSON_OPT, Ctx, emit, handled, main, pass_ctx
from dangan.errors import InvalidInput

PASSPHRASE_ENV = "DANGAN_BACKUP_PASSPHRASE"


def _passphrase(confirm: bool) -> str:
    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value
    if not sys.stdin.isatty():
        raise InvalidInput(f"需要备份口令：请设置环境变量 {PASSPHRASE_ENV}（非交互运行时无法询问）")
    return str(click.prompt("备份口令", hide_input=True, confirmation_prompt=confirm))


def _say(as_json: bool):  # type: ignore[no-untyped-def]
    return (lambda _m: None) if as_json else (lambda m: click.echo(m, err=True))


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


@main.command("backup")
@click.argument("dest")
@click.option("--no-keyring", is_flag=True, help="不把密钥放进备份（密钥另行保管）。")
@JSON_OPT
@pass_ctx
@handled
def backup_cmd(c: Ctx, dest: str, no_keyring: bool, as_json: bool) -> None:
    """备份到 DEST（目录或 s3://存储桶）：数据库快照、增量复制对象、口令加密的密钥。"""
    system = c.system
    actor = c.actor()
    passphrase = None
    if not no_keyring and system.keyring.source == "file":
        passphrase = _passphrase(confirm=True)
    report = system.backups.backup(actor, dest, passphrase, keyring=not no_keyring, progress=_say(as_json))
    emit(report.as_dict(), as_json, lambda d: click.echo(
        f"已备份到 {d['dest']}（快照 {d['snapshot']}）：{d['tables']} 张表 {d['rows']} 行；"
        f"对象 {d['objects_total']} 个，新复制 {d['objects_copied']} 个 {_mib(d['bytes_copied'])}，"
        f"已有 {d['objects_skipped']} 个；密钥 {d['keyring']}；用时 {d['seconds']:.1f} 秒"))


@main.command("restore")
@click.argument("src")
@click.option("--snapshot", help="要恢复的快照名（默认最新）。")
@click.option("--keyring", "keyring_file", type=click.Path(exists=True, dir_okay=False),
              help="另行保管的密钥文件（备份不含密钥时）。")
@click.option("--no-reindex", is_flag=True, help="不重建检索索引（稍后运行 dangan search reindex）。")
@JSON_OPT
@pass_ctx
@handled
def restore_cmd(c: Ctx, src: str, snapshot: str | None, keyring_file: str | None, no_reindex: bool,
                as_json: bool) -> None:
    """把备份 SRC 恢复到空的数据目录（--home），并重新执行备份之后的销毁。"""
    passphrase = None if keyring_file else (os.environ.get(PASSPHRASE_ENV) or None)
    if passphrase is None and not keyring_file and sys.stdin.isatty():
        passphrase = _passphrase(confirm=False)
    report = restore(src, c.home, c.user, passphrase, snapshot=snapshot, keyring_file=keyring_file,
                     reindex=not no_reindex, progress=_say(as_json))
    emit(report.as_dict(), as_json, lambda d: click.echo(
        f"已恢复快照 {d['snapshot']} 到 {d['home']}：{d['rows']} 行，对象 {d['objects_restored']} 个 "
        f"{_mib(d['bytes_restored'])}；重新销毁 {len(d['destructions_reapplied'])} 件；索引 {d['index']}；"
        f"用时 {d['seconds']:.1f} 秒。请运行 dangan verify --all 检测。"))


@main.command("backups")
@click.argument("src")
@JSON_OPT
@handled
def backups_cmd(src: str, as_json: bool) -> None:
    """列出备份位置 SRC 中的快照。"""
    rows = list_snapshots(src)
    emit(rows, as_json, lambda d: [click.echo(f"{r['name']}\t{r['created']}\t{r['rows']} 行\t{r['objects']} 个对象")
                                   for r in d])


@main.command("migrate")
@click.option("--to", "to_config", required=True, type=click.Path(exists=True, dir_okay=False),
              help="目标配置文件（dangan.toml：PostgreSQL、s3:// 对象存储、Elasticsearch）。")
@click.option("--target-home", help="目标数据目录（放密钥与配置；默认与配置文件同目录）。")
@JSON_OPT
@pass_ctx
@handled
def migrate_cmd(c: Ctx, to_config: str, target_home: str | None, as_json: bool) -> None:
    """把本档案库复制到另一套后端（如 PostgreSQL + MinIO + Elasticsearch），可续传，并逐件核对。"""
    report = migrate_archive(c.system, c.actor(), to_config, target_home, progress=_say(as_json))
    emit(report, as_json, lambda d: click.echo(
        f"已迁移到 {d['home']}：{d['rows']} 行，对象新复制 {d['objects_copied']} 个、已有 {d['objects_skipped']} 个；"
        f"逐件核对 {d['verified']} 件，不一致 {len(d['mismatched'])} 件"))
