"""移交与接管: `dangan handover export` and `dangan handover import`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from dangan.cli.base import JSON_OPT, Ctx, emit, handled, main, pass_ctx
from dangan.handover.checklist import STATE_NAMES


@main.group()
def handover() -> None:
    """物业资料移交（导出移交包）与项目接管（导入并验收）。"""


@handover.command("export")
@click.argument("location", required=False)
@click.option("--query", "-q", help="检索式：移交检索到的档案（代替位置编码）。")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="移交包目录（不存在或为空）。")
@click.option("--sender", help="移交方名称（默认数据目录名）。")
@click.option("--receiver", help="接收方名称（写入移交清单）。")
@JSON_OPT
@pass_ctx
@handled
def export_cmd(c: Ctx, location: str | None, query: str | None, output: str, sender: str | None,
               receiver: str | None, as_json: bool) -> None:
    """把一个项目、楼栋、单元（位置编码前缀）或检索结果的档案导出为 BagIt 移交包。"""
    if bool(location) == bool(query):
        raise click.UsageError("请给出位置编码（如 A-01），或使用 --query，二者选一。")
    facts = c.system.handover.export(c.actor(), Path(output), location=location, query=query,
                                     sender=sender, receiver=receiver)

    def human(d: dict) -> None:
        click.echo(f"已导出移交包 {d['path']}：{d['items']} 件，{d['bytes']} 字节（编号 {d['package_id']}）")
        click.echo("  移交清单：data/report/transfer-list.pdf；四性检测报告：data/report/verify.pdf")
        if not d["verify"]["ok"]:
            click.echo(f"  注意：移交时四性检测有 {d['verify']['failed']} 件未通过，见 data/report/verify.json")

    emit(facts, as_json, human)


@handover.command("import")
@click.argument("source", type=click.Path(exists=True))
@click.option("--checklist", type=click.Path(exists=True, dir_okay=False),
              help="必备资料清单（TOML；默认《物业管理条例》第二十九条）。")
@click.option("--dry-run", is_flag=True, help="只检测和核对，不接收。")
@click.option("--report", "report_path", type=click.Path(dir_okay=False),
              help="把接管验收报告写到文件：.pdf 为 PDF，其他为 JSON。")
@JSON_OPT
@pass_ctx
@handled
def import_cmd(c: Ctx, source: str, checklist: str | None, dry_run: bool, report_path: str | None,
               as_json: bool) -> None:
    """接管：检测移交包（目录或 zip），核对必备资料，全部无误才一次性接收；有错误时退出码为 1。"""
    report = c.system.handover.takeover(c.actor(), Path(source), checklist=checklist, dry_run=dry_run)
    if report_path:
        out = Path(report_path)
        if out.suffix.lower() == ".pdf":
            out.write_bytes(c.system.handover.report_pdf(report))
        else:
            out.write_text(json.dumps(report, ensure_ascii=False, indent=2, default=str), encoding="utf-8")

    def human(r: dict) -> None:
        for f in r["findings"]:
            click.echo(f"{'错误' if f['level'] == 'error' else '提示'}  {f.get('target') or '（整包）'}：{f['message']}")
        if not r["ok"]:
            click.echo(f"移交包未通过检测：没有接收任何档案（共 {r['items']} 件）。")
        elif dry_run:
            click.echo(f"移交包通过检测（{r['items']} 件）；--dry-run：未接收。")
        else:
            click.echo(f"已接收 {len(r['imported'])} 件档案（接管编号 {r['package_id']}）。")
        gaps = [i for i in r["checklist"]["items"] if i["state"] != "present"]
        click.echo(f"必备资料（{r['checklist']['title']}）：{len(r['checklist']['items']) - len(gaps)} 项齐全，"
                   f"{len(gaps)} 项缺失或不完整")
        for i in gaps:
            click.echo(f"    {STATE_NAMES[i['state']]}  {i['project']} {i['item']}")

    emit(report, as_json, human)
    if not report["ok"]:
        sys.exit(1)
