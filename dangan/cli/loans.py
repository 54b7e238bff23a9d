"""`dangan borrow …` (借阅) and `dangan custody …` (实体保管): thin, over the loans service."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

import click

from dangan.cli.base import JSON_OPT, Ctx, each, emit, handled, main, parse_date, pass_ctx


def _loan_line(d: dict) -> str:
    flag = f"  逾期 {d['days_overdue']} 天" if d.get("overdue") else ""
    return (f"{d['loan_id']}  {d['state_name']}  {d['kind_name']}  {d['borrower']}"
            f"（{d['department'] or '—'}）  应还 {d['due'] or '—'}  {'，'.join(d['records'])}{flag}")


def _loan_human(d: dict) -> None:
    click.echo(_loan_line(d))
    for e in d.get("events", []):
        click.echo(f"  {e['seq']:>2}. {e['at']}  {e['event_name']}  {e['actor']}")
    for i in d.get("incidents", []):
        click.echo(f"  {'待处理' if i['open'] else '已处理'}登记 #{i['id']} {i['kind_name']} {i['archive_no']}：{i['note']}")


def _rows_human(rows: list[dict]) -> None:
    for d in rows:
        click.echo(_loan_line(d))
    click.echo(f"共 {len(rows)} 笔")


@main.group()
def borrow() -> None:
    """借阅：申请、审批、借出、续借、归还，借阅登记簿。"""


@borrow.command("request")
@click.argument("archive_nos", nargs=-1, required=True)
@click.option("--purpose", required=True, help="借阅用途。")
@click.option("--days", type=int, default=None, help="借阅天数（默认 7 天，含续借最长 30 天）。")
@click.option("--until", default=None, help="或给出归还日期 YYYY-MM-DD。")
@click.option("--kind", type=click.Choice(["view", "copy", "physical"]), default="view", show_default=True,
              help="view 在线查阅，copy 复制件（带水印 PDF），physical 实体原件。")
@JSON_OPT
@pass_ctx
@handled
def request_(c: Ctx, archive_nos: tuple[str, ...], purpose: str, days: int | None, until: str | None,
             kind: str, as_json: bool) -> None:
    """申请借阅一件或多件档案。"""
    data = c.system.loans.request(c.actor(), archive_nos, purpose, kind, days, parse_date(until))
    emit(data, as_json, lambda d: click.echo(f"已提交借阅申请 {d['loan_id']}，待审批。"))


def _simple(name: str, doc: str, call: str, message: str) -> None:
    @borrow.command(name, help=doc)
    @click.argument("loan_id")
    @JSON_OPT
    @pass_ctx
    @handled
    def cmd(c: Ctx, loan_id: str, as_json: bool) -> None:
        data = getattr(c.system.loans, call)(c.actor(), loan_id)
        emit(data, as_json, lambda d: click.echo(message.format(**d)))


_simple("approve", "批准借阅申请（秘密、机密档案须负责人批准；不能批准自己的申请）。", "approve",
        "已批准借阅单 {loan_id}。")
_simple("checkout", "借出实体原件（同一原件同时只能借出一次）。", "checkout",
        "借阅单 {loan_id} 已借出，应还日期 {due}。")


@borrow.command()
@click.argument("loan_id")
@click.option("--reason", required=True, help="驳回原因。")
@JSON_OPT
@pass_ctx
@handled
def reject(c: Ctx, loan_id: str, reason: str, as_json: bool) -> None:
    """驳回借阅申请。"""
    data = c.system.loans.reject(c.actor(), loan_id, reason)
    emit(data, as_json, lambda d: click.echo(f"已驳回借阅单 {d['loan_id']}。"))


@borrow.command()
@click.argument("loan_id")
@click.option("--reason", default=None, help="撤销原因。")
@JSON_OPT
@pass_ctx
@handled
def cancel(c: Ctx, loan_id: str, reason: str | None, as_json: bool) -> None:
    """撤销尚未借出的借阅。"""
    data = c.system.loans.cancel(c.actor(), loan_id, reason)
    emit(data, as_json, lambda d: click.echo(f"已撤销借阅单 {d['loan_id']}。"))


@borrow.command()
@click.argument("loan_id")
@click.option("--days", type=int, required=True, help="续借天数（整笔借阅合计不超过 30 天）。")
@JSON_OPT
@pass_ctx
@handled
def renew(c: Ctx, loan_id: str, days: int, as_json: bool) -> None:
    """续借。"""
    data = c.system.loans.renew(c.actor(), loan_id, days)
    emit(data, as_json, lambda d: click.echo(f"借阅单 {d['loan_id']} 已续借，应还日期 {d['due']}。"))


@borrow.command("return")
@click.argument("loan_id")
@click.option("--condition", type=click.Choice(["intact", "damaged", "lost"]), default="intact",
              show_default=True, help="归还状况：完好、损坏、遗失。")
@click.option("--note", default=None, help="说明（损坏、遗失时必填）。")
@JSON_OPT
@pass_ctx
@handled
def return_(c: Ctx, loan_id: str, condition: str, note: str | None, as_json: bool) -> None:
    """归还（实体原件登记状况；损坏、遗失会生成待处理登记）。"""
    data = c.system.loans.return_(c.actor(), loan_id, condition, note)
    emit(data, as_json, lambda d: click.echo(f"借阅单 {d['loan_id']} 已归还。"))


@borrow.command("show")
@click.argument("loan_id")
@JSON_OPT
@pass_ctx
@handled
def show_(c: Ctx, loan_id: str, as_json: bool) -> None:
    """借阅单详情与全部事件。"""
    emit(c.system.loans.show(c.actor(), loan_id), as_json, _loan_human)


@borrow.command("list")
@click.option("--overdue", is_flag=True, help="只列逾期未还的实体借阅。")
@click.option("--as-of", "as_of", default=None, help="逾期的判断日期 YYYY-MM-DD（默认今天）。")
@click.option("--borrower", default=None, help="借阅人。")
@click.option("--state", default=None, help="状态：requested、approved、rejected、checked_out、returned、cancelled。")
@click.option("--record", default=None, help="某件档案（档号）的借阅记录。")
@click.option("--limit", type=int, default=100, show_default=True)
@JSON_OPT
@pass_ctx
@handled
def list_(c: Ctx, overdue: bool, as_of: str | None, borrower: str | None, state: str | None,
          record: str | None, limit: int, as_json: bool) -> None:
    """借阅列表（无登记簿权限时只看自己的）。"""
    if as_of and not overdue:
        raise click.UsageError("--as-of 只与 --overdue 一起使用。")
    rows = c.system.loans.list(c.actor(), borrower=borrower, overdue=overdue, as_of=parse_date(as_of),
                               state=state, record=record, limit=limit)
    emit(rows, as_json, _rows_human)


@borrow.command()
@JSON_OPT
@pass_ctx
@handled
def queue(c: Ctx, as_json: bool) -> None:
    """待审批：我可以审批的借阅申请。"""
    emit(c.system.loans.queue(c.actor()), as_json, _rows_human)


@borrow.command()
@click.option("--all", "all_", is_flag=True, help="包括已处理的。")
@JSON_OPT
@pass_ctx
@handled
def incidents(c: Ctx, all_: bool, as_json: bool) -> None:
    """原件损坏、遗失登记。"""
    def human(rows: list[dict]) -> None:
        for i in rows:
            click.echo(f"#{i['id']}  {'待处理' if i['open'] else '已处理'}  {i['kind_name']}  {i['archive_no']}"
                       f"  借阅单 {i['loan_id']}  {i['note'] or ''}")
        click.echo(f"共 {len(rows)} 条")

    emit(c.system.loans.incidents(c.actor(), open_only=not all_), as_json, human)


@borrow.command("close-incident")
@click.argument("incident_id", type=int)
@click.option("--resolution", required=True, help="处理结果。")
@JSON_OPT
@pass_ctx
@handled
def close_incident(c: Ctx, incident_id: int, resolution: str, as_json: bool) -> None:
    """处理完毕一条损坏、遗失登记。"""
    data = c.system.loans.close_incident(c.actor(), incident_id, resolution)
    emit(data, as_json, lambda d: click.echo(f"登记 #{d['id']} 已处理完毕。"))


@borrow.command()
@click.option("--since", default=None, help="起始日期 YYYY-MM-DD。")
@click.option("--until", default=None, help="截止日期 YYYY-MM-DD（含）。")
@click.option("-o", "--output", default=None, type=click.Path(dir_okay=False),
              help="导出文件：.csv 或 .xlsx（中文表头）。")
@JSON_OPT
@pass_ctx
@handled
def ledger(c: Ctx, since: str | None, until: str | None, output: str | None, as_json: bool) -> None:
    """借阅登记簿：某时期的全部借阅事件；-o 导出 CSV / XLSX。"""
    from dangan.loans.export import export_ledger

    rows = c.system.loans.ledger(c.actor(), parse_date(since), parse_date(until))
    if output:
        path = export_ledger(rows, Path(output))
        emit({"file": str(path), "rows": len(rows)}, as_json,
             lambda d: click.echo(f"已导出 {d['rows']} 条到 {d['file']}"))
        return

    def human(rs: list[dict]) -> None:
        for r in rs:
            click.echo(f"{r['at']}  {r['loan_id']}  {r['event_name']}  {r['actor']}  借阅人 {r['borrower']}"
                       f"  {'，'.join(r['records'])}")
        click.echo(f"共 {len(rs)} 条")

    emit(rows, as_json, human)


@borrow.command("overdue-report")
@click.option("--as-of", "as_of", default=None, help="判断日期 YYYY-MM-DD（默认今天）。")
@JSON_OPT
@pass_ctx
@handled
def overdue_report(c: Ctx, as_of: str | None, as_json: bool) -> None:
    """逾期统计：按部门。"""
    def human(rows: list[dict]) -> None:
        for r in rows:
            click.echo(f"{r['department']}  逾期 {r['overdue']} 笔  最早应还 {r['oldest_due']}")

    emit(c.system.loans.overdue_report(c.actor(), parse_date(as_of)), as_json, human)


@borrow.command()
@click.option("--as-of", "as_of", default=None, help="判断日期 YYYY-MM-DD（默认今天）。")
@JSON_OPT
@pass_ctx
@handled
def remind(c: Ctx, as_of: str | None, as_json: bool) -> None:
    """向逾期未还的借阅人发送催还提醒（记录日志；配置了 SMTP 时发邮件）。"""
    from dangan.loans.notify import notifier_for, send_reminders

    system = c.system
    sent = send_reminders(system.loans, c.actor(), notifier_for(system.loans.rules), parse_date(as_of))
    emit(sent, as_json, lambda rows: click.echo(f"已发送 {len(rows)} 条催还提醒。"))


@borrow.command()
@click.argument("loan_id")
@click.argument("archive_no")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
@JSON_OPT
@pass_ctx
@handled
def copy(c: Ctx, loan_id: str, archive_no: str, output: str, as_json: bool) -> None:
    """下载复制件：每页带借阅人、借阅单号和时间水印的 PDF（原件不变）。"""

    data, _name = c.system.loans.copy(c.actor(), loan_id, archive_no)
    Path(output).write_bytes(data)
    emit({"file": output, "size": len(data)}, as_json, lambda d: click.echo(f"已写出 {d['file']}"))


# -- custody ---------------------------------------------------------------------------

@main.group()
def custody() -> None:
    """实体保管：库房、柜、架、盒，档案存放与移动，盘点，标签。"""


@custody.command("add-place")
@click.argument("code")
@click.option("--kind", type=click.Choice(["room", "cabinet", "shelf", "box"]), required=True,
              help="room 库房，cabinet 柜，shelf 架，box 盒。")
@click.option("--name", default="", help="名称，如 一号库房、2019 维修记录 第3盒。")
@click.option("--parent", default=None, help="所在位置的编码（库房之外必填）。")
@JSON_OPT
@pass_ctx
@handled
def add_place(c: Ctx, code: str, kind: str, name: str, parent: str | None, as_json: bool) -> None:
    """登记存放位置。"""
    data = c.system.custody.add_place(c.actor(), code, kind, name, parent)
    emit(data, as_json, lambda d: click.echo(f"已登记{d['kind_name']} {d['code']}（{' / '.join(d['path'])}）"))


@custody.command("places")
@JSON_OPT
@pass_ctx
@handled
def places(c: Ctx, as_json: bool) -> None:
    """全部存放位置（树形）。"""
    def human(rows: list[dict]) -> None:
        for p in rows:
            click.echo(f"{'  ' * p['depth']}{p['kind_name']} {p['code']}  {p['name']}  {p['records']} 件")

    emit(c.system.custody.places(c.actor()), as_json, human)


@custody.command("show")
@click.argument("code")
@JSON_OPT
@pass_ctx
@handled
def show_place(c: Ctx, code: str, as_json: bool) -> None:
    """某位置（盒）应有的档案。"""
    def human(d: dict) -> None:
        click.echo(f"{d['kind_name']} {d['code']}  {d['name']}  {' / '.join(d['path'])}")
        for i in d["items"]:
            out = f"  借出（{i['out_on']}）" if i["out_on"] else ""
            click.echo(f"  {i['archive_no']}  {i['title'] or '—'}{out}")

    emit(c.system.custody.contents(c.actor(), code), as_json, human)


@custody.command("move")
@click.argument("archive_nos", nargs=-1, required=True)
@click.option("--to", "to", required=True, help="目标位置编码（通常是盒）。")
@click.option("--reason", default=None)
@JSON_OPT
@pass_ctx
@handled
def move(c: Ctx, archive_nos: tuple[str, ...], to: str, reason: str | None, as_json: bool) -> None:
    """把纸质原件放入或移到某位置（留有记录）。"""
    rows = c.system.custody.move(c.actor(), archive_nos, to, reason)
    emit(rows, as_json, each(lambda r: click.echo(f"{r['archive_no']}：{r['from'] or '（未登记）'} → {r['to']}")))


@custody.command("check")
@click.argument("box")
@click.argument("codes", nargs=-1)
@click.option("--file", "file", type=click.File("r", encoding="utf-8"), default=None,
              help="扫描得到的编码，每行一个（- 为标准输入）。")
@JSON_OPT
@pass_ctx
@handled
def check(c: Ctx, box: str, codes: tuple[str, ...], file: TextIO | None, as_json: bool) -> None:
    """盘点：核对盒内实有档案与应有档案，报告缺失、错放和借出。"""
    found = list(codes) + ([line for line in file.read().splitlines() if line.strip()] if file else [])
    report = c.system.custody.stocktake(c.actor(), box, found)

    def human(r: dict) -> None:
        click.echo(f"盘点 {r['box']}：应有 {r['expected']} 件，扫到 {r['found']} 件，"
                   f"{'账实相符' if r['ok'] else '有差异'}")
        for no in r["missing"]:
            click.echo(f"  缺失  {no}")
        for o in r["out"]:
            click.echo(f"  借出  {o['archive_no']}（借阅单 {o['loan_id']}）")
        for m in r["misplaced"]:
            click.echo(f"  错放  {m['archive_no']}（应在 {m['belongs_in'] or '未登记位置'}）")

    emit(report, as_json, human)
    if not report["ok"]:
        sys.exit(1)


@custody.command("labels")
@click.option("--box", "boxes", multiple=True, help="盒的编码（脊背标签），可重复。")
@click.option("--record", "records", multiple=True, help="档号（单件标签），可重复。")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
@JSON_OPT
@pass_ctx
@handled
def labels(c: Ctx, boxes: tuple[str, ...], records: tuple[str, ...], output: str, as_json: bool) -> None:
    """打印标签（PDF，含二维码）：--box 盒脊背标签，--record 单件标签。"""
    if bool(boxes) == bool(records):
        raise click.UsageError("请给出 --box 或 --record 之一。")
    svc = c.system.custody
    data = svc.box_labels(c.actor(), boxes) if boxes else svc.item_labels(c.actor(), records)
    Path(output).write_bytes(data)
    emit({"file": output, "size": len(data)}, as_json, lambda d: click.echo(f"已写出 {d['file']}"))
