"""Commands on records: show, get, verify."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dangan.cli.base import JSON_OPT, Ctx, emit, handled, main, pass_ctx

# -- records ---------------------------------------------------------------------------

def _show_human(d: dict) -> None:
    labels = [("档号", d["archive_no"] or f"{d['provisional_no']}（待分类）"), ("题名", d["title"]),
              ("类别", d["category"]), ("位置", d["location"]), ("年度", d["year"]),
              ("日期", d["date"]), ("密级", d["security"]), ("状态", d["status"]),
              ("页数", d["pages"]), ("格式", d["media_type"]), ("SHA-256", d["sha256"]),
              ("保管期限", f"{d['retention']['period']} 至 {d['retention']['until'] or '永久'}")]
    for label, value in labels:
        click.echo(f"{label}：{value if value is not None else '—'}")
    if d.get("holds"):
        click.echo(f"冻结：{'、'.join(d['holds'])}（冻结中，不能销毁）")
    for h in d.get("history", []):
        click.echo(f"  v{h['version']} {h['at']} {h['by']}：{h['reason']}")
    if "text" in d:
        click.echo("\n" + d["text"])


@main.command()
@click.argument("archive_no")
@click.option("--text", "with_text", is_flag=True, help="同时显示全文（受密级限制）。")
@JSON_OPT
@pass_ctx
@handled
def show(c: Ctx, archive_no: str, with_text: bool, as_json: bool) -> None:
    """显示档案信息。"""
    data = c.system.records.show(c.actor(), archive_no, with_text=with_text)
    if as_json:
        data.pop("text_pages", None)
    emit(data, as_json, _show_human)


@main.command()
@click.argument("archive_no")
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False))
@JSON_OPT
@pass_ctx
@handled
def get(c: Ctx, archive_no: str, output: str, as_json: bool) -> None:
    """取出原件（解密后与入库时逐字节相同）。"""
    data = c.system.records.get(c.actor(), archive_no, Path(output))
    emit(data, as_json, lambda d: click.echo(f"已写出 {d['file']}（{d['size']} 字节，SHA-256 {d['sha256']}）"))


@main.command()
@click.argument("archive_nos", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="检测全部档案。")
@JSON_OPT
@pass_ctx
@handled
def verify(c: Ctx, archive_nos: tuple[str, ...], all_: bool, as_json: bool) -> None:
    """固定性与四性检测；有任何失败时退出码为 1。"""
    if not archive_nos and not all_:
        raise click.UsageError("请给出档号，或使用 --all。")
    from dangan.ingest.verify import verify_records

    results = verify_records(c.system, c.actor(), None if all_ else list(archive_nos))

    def human(rows: list[dict]) -> None:
        for r in rows:
            click.echo(f"{'通过' if r['ok'] else '失败'}  {r['archive_no']}")
            for name, v in r["checks"].items():
                if v is not True:
                    click.echo(f"    {name}: {v}")
        click.echo(f"共 {len(rows)} 件，失败 {sum(not r['ok'] for r in rows)} 件")

    emit(results, as_json, human)
    if not all(r["ok"] for r in results):
        sys.exit(1)
