"""Commands on records: show, get, verify."""

from __future__ import annotations

import json
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
@click.option("--all", "all_", is_flag=True, help="检测全部档案（完整检测）。")
@click.option("--incremental", is_flag=True,
              help="定期检测：只检测新入库、有变化、上次未通过或超过 --due-days 天未检测的档案。")
@click.option("--due-days", type=click.IntRange(min=0), default=365, show_default=True,
              help="增量检测时，多少天未检测即到期。")
@click.option("--deep", is_flag=True, help="重新打开并渲染每个原件（默认对未变化的原件沿用上次结果）。")
@click.option("--report", "report_path", type=click.Path(dir_okay=False),
              help="把检测报告写到文件：.pdf 为归档用 PDF，其他为 JSON。")
@click.option("--last", is_flag=True, help="不重新检测，只输出最近一次检测的报告。")
@JSON_OPT
@pass_ctx
@handled
def verify(c: Ctx, archive_nos: tuple[str, ...], all_: bool, incremental: bool, due_days: int, deep: bool,
           report_path: str | None, last: bool, as_json: bool) -> None:
    """四性检测（真实性、完整性、可用性、安全性）；有任何失败时退出码为 1。"""
    from dangan.integrity.service import report_pdf

    if sum(bool(x) for x in (archive_nos, all_, incremental, last)) != 1:
        raise click.UsageError("请给出档号，或使用 --all、--incremental、--last 之一。")
    if last:
        report = c.system.verify.latest(c.actor())
        results = report.get("failures", [])
    else:
        mode = "incremental" if incremental else ("full" if all_ else "selected")
        report = c.system.verify.run(c.actor(), list(archive_nos) if archive_nos else None, mode=mode,
                                     deep=deep, due_days=due_days)
        results = report["results"]
    if report_path:
        out = Path(report_path)
        if out.suffix.lower() == ".pdf":
            out.write_bytes(report_pdf(report))
        else:
            slim = {k: v for k, v in report.items() if k != "results"}
            slim["failures"] = [r for r in results if not r["ok"]]
            out.write_text(json.dumps(slim, ensure_ascii=False, indent=2, default=str), encoding="utf-8")

    def human(rows: list[dict]) -> None:
        for r in rows:
            if r["ok"] and len(rows) > 20:
                continue
            click.echo(f"{'通过' if r['ok'] else '失败'}  {r['archive_no']}")
            for name, v in r.get("details", r["checks"]).items():
                if v is not True:
                    click.echo(f"    {name}: {v}")
        for name, sentence in report.get("batch", {}).items():
            click.echo(f"失败  （整批）{name}: {sentence}")
        click.echo(f"范围内 {report.get('total', len(rows))} 件，本次检测 {report.get('checked', len(rows))} 件，"
                   f"失败 {sum(not r['ok'] for r in rows)} 件")

    emit(results, as_json, human)
    if not all(r["ok"] for r in results) or report.get("batch"):
        sys.exit(1)
