"""Commands for retention, legal holds and destruction: `dangan retention …`,
`dangan hold …`, `dangan destroy …` (CONTRACT.md)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from itertools import islice
from pathlib import Path

import click

from dangan.cli.base import JSON_OPT, Ctx, each, emit, handled, main, parse_date, pass_ctx
from dangan.cli.stream import write_json_rows
from dangan.retention.due import FIELDS
from dangan.retention.register import export

# -- retention --------------------------------------------------------------------------


@main.group()
def retention() -> None:
    """保管期限：到期档案、鉴定、期限表。"""


def _due_line(r: dict) -> str:
    marks = []
    if r["holds"]:
        marks.append("冻结:" + "、".join(r["holds"]))
    if r["on_loan"]:
        marks.append("借出中")
    if r["decision"]:
        marks.append("已鉴定:" + r["decision"])
    return f"{r['archive_no']}  到期 {r['until']}  {r['title']}  {' '.join(marks)}".rstrip()


def _due_human(d: dict, records: Iterable[dict] | None = None) -> None:
    """The rows (a few thousand lines per write), then the totals and counts."""
    rows = iter(d["records"] if records is None else records)
    while block := list(islice(rows, 2000)):
        click.echo("\n".join(map(_due_line, block)))
    click.echo(f"截至 {d['as_of']} 到期 {d['total']} 件；没有起算日期（不计入到期）{d['no_trigger']} 件")
    for dim, label in (("category", "类别"), ("estate", "项目"), ("year", "年度")):
        if d["counts"][dim]:
            click.echo(f"  按{label}：" + "，".join(f"{k} {v}" for k, v in d["counts"][dim].items()))


@retention.command("due")
@click.option("--as-of", "as_of", default=None, help="截止日期 YYYY-MM-DD（默认今天）。")
@click.option("--category", default=None, help="类别。")
@click.option("--location", default=None, help="位置前缀（项目、楼栋…）。")
@click.option("--year", type=int, default=None, help="年度。")
@click.option("--limit", type=int, default=None, help="最多列出几件（默认全部）。")
@JSON_OPT
@pass_ctx
@handled
def due(c: Ctx, as_of: str | None, category: str | None, location: str | None, year: int | None,
        limit: int | None, as_json: bool) -> None:
    """列出保管期限已满的档案（含按类别、项目、年度的统计）。"""
    svc, day = c.system.retention, parse_date(as_of)
    if limit is not None:
        emit(svc.due(c.actor(), day, category=category, location=location, year=year, limit=limit), as_json,
             _due_human)
        return
    # every row: written out while it is read, never built as one list (261k rows at 1M records)
    with svc.due_stream(c.actor(), day, category=category, location=location, year=year) as (head, rows):
        if as_json:
            write_json_rows(head, "records", FIELDS, rows, lambda text: click.echo(text, nl=False),
                            nested=("holds",))
        else:
            _due_human(head, (dict(zip(FIELDS, row, strict=True)) for row in rows))


@retention.command("report")
@click.option("--month", required=True, help="月份 YYYY-MM。")
@JSON_OPT
@pass_ctx
@handled
def report(c: Ctx, month: str, as_json: bool) -> None:
    """月度到期报告：该月内到期的档案（可由 cron 每月运行）。"""
    data = c.system.retention.report(c.actor(), month)

    def human(d: dict) -> None:
        click.echo(f"{d['month']} 到期 {d['falling_due']} 件（截至月末累计到期 {d['total']} 件）")
        for r in d["records"]:
            click.echo(f"  {r['archive_no']}  到期 {r['until']}  {r['title']}")

    emit(data, as_json, human)


@retention.command("appraise")
@click.argument("archive_nos", nargs=-1, required=True)
@click.option("--decision", required=True, type=click.Choice(["destroy", "extend", "permanent"]))
@click.option("--years", type=int, default=None, help="延长的年数（extend 时必填）。")
@click.option("--reason", required=True, help="鉴定理由。")
@JSON_OPT
@pass_ctx
@handled
def appraise(c: Ctx, archive_nos: tuple[str, ...], decision: str, years: int | None, reason: str,
             as_json: bool) -> None:
    """鉴定：销毁、延长 N 年或永久保管（可一次鉴定多件，全部成功或全部不改）。"""
    rows = c.system.retention.appraise(c.actor(), list(archive_nos), decision, reason, years)
    show = each(lambda r: click.echo(f"已鉴定 {r['archive_no']}：{r['decision']}"
                                     + (f"，保管至 {r['until']}" if r["until"] else "")))
    emit(rows if len(rows) > 1 else rows[0], as_json, lambda d: show(d if isinstance(d, list) else [d]))


@retention.command("event")
@click.argument("archive_no")
@click.option("--date", "event_date", required=True, help="起算事件日期 YYYY-MM-DD（合同终止、业主迁出等）。")
@click.option("--reason", required=True)
@JSON_OPT
@pass_ctx
@handled
def event(c: Ctx, archive_no: str, event_date: str, reason: str, as_json: bool) -> None:
    """登记保管期限的起算事件，到期日随之重算。"""
    day = parse_date(event_date)
    assert day is not None
    data = c.system.retention.set_event(c.actor(), archive_no, day, reason)
    emit(data, as_json, lambda d: click.echo(f"{d['archive_no']} 起算日 {d['event_date']}，到期 {d['until'] or '—'}"))


@retention.command("schedule")
@JSON_OPT
@pass_ctx
@handled
def schedule(c: Ctx, as_json: bool) -> None:
    """保管期限表（来自分类方案 scheme.toml）。"""
    rows = c.system.retention.schedule()
    emit(rows, as_json, each(lambda r: click.echo(f"{r['code']:<4} {r['name']:<10} {r['retention_label']:<6} "
                                                f"起算：{r['trigger_label']}")))


@retention.command("recompute")
@JSON_OPT
@pass_ctx
@handled
def recompute(c: Ctx, as_json: bool) -> None:
    """修改期限表后重算全部档案的到期日（鉴定结论保持不变）。"""
    data = c.system.retention.recompute(c.actor())
    emit(data, as_json, lambda d: click.echo(f"已检查 {d['records']} 件，到期日改变 {d['changed']} 件"))


# -- holds ------------------------------------------------------------------------------


@main.group()
def hold() -> None:
    """冻结（诉讼、争议、审计）：冻结中的档案不能销毁。"""


def _hold_human(d: dict) -> None:
    state = "生效中" if d["active"] else f"已于 {d['released_at']} 由 {d['released_by']} 解除"
    click.echo(f"冻结 {d['name']}（{state}）：{d['reason']}，共 {d['records']} 件")
    if d.get("added"):
        click.echo("新加入：" + "、".join(d["added"]))
    for b in d.get("voided_batches") or []:
        click.echo(f"销毁清册 {b} 的审批已作废，需重新审批。")


@hold.command("create")
@click.argument("name")
@click.option("--reason", required=True)
@click.option("--case", "case_ref", default=None, help="案号或文号。")
@JSON_OPT
@pass_ctx
@handled
def hold_create(c: Ctx, name: str, reason: str, case_ref: str | None, as_json: bool) -> None:
    """新建一个冻结。"""
    emit(c.system.retention.create_hold(c.actor(), name, reason, case_ref), as_json, _hold_human)


@hold.command("add")
@click.argument("name")
@click.argument("archive_nos", nargs=-1)
@click.option("--location", default=None, help="冻结该位置前缀下的全部档案。")
@click.option("--query", default=None, help="冻结检索命中的档案（最多 1000 件）。")
@JSON_OPT
@pass_ctx
@handled
def hold_add(c: Ctx, name: str, archive_nos: tuple[str, ...], location: str | None, query: str | None,
             as_json: bool) -> None:
    """把档案加入冻结：按档号、位置前缀或检索式。"""
    emit(c.system.retention.add_to_hold(c.actor(), name, list(archive_nos), location, query), as_json,
         _hold_human)


@hold.command("release")
@click.argument("name")
@click.option("--reason", default=None)
@JSON_OPT
@pass_ctx
@handled
def hold_release(c: Ctx, name: str, reason: str | None, as_json: bool) -> None:
    """解除冻结。"""
    emit(c.system.retention.release_hold(c.actor(), name, reason), as_json, _hold_human)


@hold.command("list")
@JSON_OPT
@pass_ctx
@handled
def hold_list(c: Ctx, as_json: bool) -> None:
    """全部冻结。"""
    emit(c.system.retention.list_holds(c.actor()), as_json, each(_hold_human))


@hold.command("show")
@click.argument("name")
@JSON_OPT
@pass_ctx
@handled
def hold_show(c: Ctx, name: str, as_json: bool) -> None:
    """一个冻结及其档案。"""
    def human(d: dict) -> None:
        _hold_human(d)
        for r in d["records"]:
            click.echo(f"  {r['archive_no']}  {r['title']}")

    emit(c.system.retention.show_hold(c.actor(), name), as_json, human)


# -- destroy ----------------------------------------------------------------------------


@main.group()
def destroy() -> None:
    """销毁：清册编制、审批、执行、证明书、核验与登记簿。"""


def _batch_human(d: dict) -> None:
    click.echo(f"销毁清册 {d['batch_id']}：{d['state_name']}，{d['records_count']} 件；理由：{d['reason']}")
    click.echo(f"  编制 {d['created_by']} {d['created_at']}；审批 {d['approved_by'] or '—'}；"
               f"执行 {d['executed_by'] or '—'}，监销 {d['supervisor'] or '—'}，地点 {d['place'] or '—'}")
    if d.get("voided"):
        click.echo(f"  {d['voided']}")
    for r in d.get("records", []):
        paper = f"  纸质原件（{r['box']}）" if r["paper"] else ""
        held = f"  冻结:{'、'.join(r['holds'])}" if r["holds"] else ""
        click.echo(f"  {r['archive_no']}  {r['state']}  {r['title']}{paper}{held}")


@destroy.command("create")
@click.argument("archive_nos", nargs=-1, required=True)
@click.option("--reason", required=True)
@JSON_OPT
@pass_ctx
@handled
def destroy_create(c: Ctx, archive_nos: tuple[str, ...], reason: str, as_json: bool) -> None:
    """用已鉴定为销毁的档案编制销毁清册，输出清册编号。"""
    data = c.system.retention.create_batch(c.actor(), list(archive_nos), reason)
    emit(data, as_json, lambda d: click.echo(d["batch_id"]))


@destroy.command("approve")
@click.argument("batch")
@JSON_OPT
@pass_ctx
@handled
def destroy_approve(c: Ctx, batch: str, as_json: bool) -> None:
    """负责人审批销毁清册（编制人不能审批自己的清册）。"""
    emit(c.system.retention.approve(c.actor(), batch), as_json, _batch_human)


@destroy.command("execute")
@click.argument("batch")
@click.option("--supervisor", default=None, help="监销人（系统用户，不能是执行人自己）。")
@click.option("--place", default=None, help="销毁地点。")
@click.option("--confirm-paper", "confirm_paper", multiple=True, help="确认已粉碎的纸质原件档号（逐件）。")
@click.option("--all-paper-shredded", "all_paper", is_flag=True, help="确认清册中的纸质原件已全部粉碎。")
@JSON_OPT
@pass_ctx
@handled
def destroy_execute(c: Ctx, batch: str, supervisor: str | None, place: str | None,
                    confirm_paper: tuple[str, ...], all_paper: bool, as_json: bool) -> None:
    """执行销毁（中断后再次运行即继续完成）。"""
    data = c.system.retention.execute(c.actor(), batch, supervisor, place, confirm_paper, all_paper)
    emit(data, as_json, _batch_human)


@destroy.command("list")
@click.option("--state", type=click.Choice(["draft", "approved", "executing", "executed"]), default=None)
@JSON_OPT
@pass_ctx
@handled
def destroy_list(c: Ctx, state: str | None, as_json: bool) -> None:
    """全部销毁清册。"""
    emit(c.system.retention.list_batches(c.actor(), state), as_json, each(_batch_human))


@destroy.command("show")
@click.argument("batch")
@JSON_OPT
@pass_ctx
@handled
def destroy_show(c: Ctx, batch: str, as_json: bool) -> None:
    """一个销毁清册及其档案。"""
    emit(c.system.retention.show_batch(c.actor(), batch), as_json, _batch_human)


@destroy.command("certificate")
@click.argument("batch")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
@pass_ctx
@handled
def destroy_certificate(c: Ctx, batch: str, output: str) -> None:
    """销毁证明书（PDF，含签字栏）。"""
    pdf = c.system.retention.certificate(c.actor(), batch)
    Path(output).write_bytes(pdf)
    click.echo(f"已写出 {output}（{len(pdf)} 字节）")


@destroy.command("verify")
@click.argument("batch")
@JSON_OPT
@pass_ctx
@handled
def destroy_verify(c: Ctx, batch: str, as_json: bool) -> None:
    """核验：每件档案的密钥、存储对象、索引条目均已不存在，审计日志完整记录了流程。"""
    data = c.system.retention.verify(c.actor(), batch)

    def human(d: dict) -> None:
        for r in d["records"]:
            click.echo(f"{'通过' if r['ok'] else '失败'}  {r['archive_no']}")
            for name, v in r["checks"].items():
                if v is not True:
                    click.echo(f"    {name}: {v}")
        for label, v in (("销毁流程", d["workflow"]), ("审计日志链", d["audit_chain"])):
            click.echo(f"{label}：{'通过' if v is True else v}")
        click.echo(f"销毁清册 {d['batch_id']} 核验{'通过' if d['ok'] else '未通过'}，共 {len(d['records'])} 件")

    emit(data, as_json, human)
    if not data["ok"]:
        sys.exit(1)


@destroy.command("register")
@click.option("--batch", default=None, help="只列出一个清册。")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default=None, help="导出格式（需要 -o）。")
@click.option("-o", "--output", default=None, type=click.Path(dir_okay=False))
@JSON_OPT
@pass_ctx
@handled
def destroy_register(c: Ctx, batch: str | None, fmt: str | None, output: str | None, as_json: bool) -> None:
    """销毁登记簿；--format csv|xlsx -o 文件 导出。"""
    rows = c.system.retention.register(c.actor(), batch)
    if output:
        fmt = fmt or ("xlsx" if output.endswith(".xlsx") else "csv")
        Path(output).write_bytes(export(rows, fmt))
        click.echo(f"已导出 {len(rows)} 条到 {output}")
        return
    emit(rows, as_json, each(lambda r: click.echo(
        f"{r['destroyed_at']}  {r['archive_no']}  {r['title']}  清册 {r['batch_id']}  审批 {r['approver']}  "
        f"监销 {r['supervisor']}  {r['place']}")))
