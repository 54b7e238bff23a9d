"""`dangan worker` (CONTRACT.md): one ingest/outbox worker process; several may run, and
they run the scheduled checks too (`--no-schedule` for one that only ingests).
`dangan worker submit PATH...` queues files for the workers; `dangan worker status`
shows the queue and the schedule; `dangan worker run-task NAME` runs a check now."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dangan.cli.base import JSON_OPT, Ctx, emit, handled, main, parse_date, pass_ctx
from dangan.worker.tasks import TASKS

# The worker's loop, scheduler and the ingest pipeline (numpy, OCR) are imported inside the
# commands below: every other `dangan` command would pay for them at start-up.


@main.group("worker", invoke_without_command=True)
@click.option("--once", is_flag=True, help="处理完队列中现有的工作后退出。")
@click.option("--poll", type=float, default=2.0, show_default=True, help="队列空闲时的轮询间隔（秒）。")
@click.option("--processes", type=int, default=None, help="识别进程数（默认按配置，0 为每核一个）。")
@click.option("--lease", type=float, default=600.0, show_default=True,
              help="其他主机上的工作进程失联多少秒后，其任务由别的进程接手（心跳为四分之一）。")
@click.option("--no-outbox", is_flag=True, help="不处理检索索引的发件箱。")
@click.option("--inbox", "inbox", type=click.Path(file_okay=False), default=None,
              help="同时监视扫描仪收件文件夹（以 --as 指定的用户入库）。")
@click.option("--no-schedule", is_flag=True, help="不运行定时任务（四性检测、到期报告、催还），只处理入库。")
@JSON_OPT
@click.pass_context
@handled
def worker(ctx: click.Context, once: bool, poll: float, processes: int | None, lease: float,
           no_outbox: bool, inbox: str | None, no_schedule: bool, as_json: bool) -> None:
    """入库工作进程：从数据库队列领取入库任务、处理检索发件箱并运行到期的定时任务；可在多台机器上同时运行多个。"""
    if ctx.invoked_subcommand is not None:
        return
    from dangan.worker.loop import Worker, set_lease
    from dangan.worker.schedule import Scheduler

    c: Ctx = ctx.obj
    if lease < 4:
        raise click.BadParameter("租约至少 4 秒", param_hint="--lease")
    set_lease(lease)
    echo = None if as_json else (lambda m: click.echo(m, err=True))
    inbox_actor = c.actor() if inbox else None  # an inbox ingests as a named person
    schedule = None
    if not no_schedule:  # a wrong run-as person stops the worker here, before any round
        schedule = Scheduler(c.system, lease=lease, echo=echo)
        for warning in schedule.check():
            click.echo(f"注意：{warning}", err=True)
    w = Worker(c.system, processes=processes, poll=poll, outbox=not no_outbox, echo=echo,
               inbox=Path(inbox) if inbox else None, inbox_actor=inbox_actor, schedule=schedule)
    if schedule is not None:
        schedule.worker = w.stats.name
    if echo:
        echo(f"工作进程 {w.stats.name} 已启动（{'处理一轮后退出' if once else 'Ctrl+C 或 SIGTERM 停止'}）")
    try:
        stats = w.run(once=once)
    except KeyboardInterrupt:
        stats = w.stats
    emit(stats.as_dict(), as_json, lambda d: click.echo(
        f"工作进程 {d['name']} 结束：{d['rounds']} 轮，完成 {d['jobs']} 件，接手 {d['recovered']} 件，"
        f"索引 {d['indexed']} 条，定时任务 {len(d['tasks'])} 项"))


@worker.command("submit")
@click.argument("paths", nargs=-1, required=True)
@click.option("--category", help="类别（键或代码）。")
@click.option("--location", help="位置编码。")
@click.option("--title")
@click.option("--date", "date_", help="文件日期 YYYY-MM-DD。")
@click.option("--security")
@JSON_OPT
@pass_ctx
@handled
def worker_submit(c: Ctx, paths: tuple[str, ...], category: str | None, location: str | None,
                  title: str | None, date_: str | None, security: str | None, as_json: bool) -> None:
    """把文件放进入库队列（由 dangan worker 处理），立即返回批次号。"""
    from dangan.ingest.pipeline import IngestPipeline, workdir
    from dangan.ingest.sources import expand_paths

    explicit = {"category": category, "location": location, "title": title,
                "date": d.isoformat() if (d := parse_date(date_)) else None, "security": security}
    items = expand_paths(list(paths), {k: v for k, v in explicit.items() if v}, workdir())
    pipeline = IngestPipeline(c.system)
    batch_id = pipeline.add_batch(c.actor(), items, "queue")
    emit({"batch_id": batch_id, "files": len(items)}, as_json,
         lambda d: click.echo(f"已排队：批次 {d['batch_id']}，{d['files']} 个文件"))


@worker.command("status")
@JSON_OPT
@pass_ctx
@handled
def worker_status(c: Ctx, as_json: bool) -> None:
    """队列状况：各状态任务数、未完成批次、各工作进程正在处理的任务数、待索引条数；定时任务的上次运行、结果和下次时间。"""
    from dangan.worker.loop import queue_status
    from dangan.worker.schedule import schedule_status

    data = queue_status(c.system)
    data["schedules"] = schedule_status(c.system)
    emit(data, as_json, lambda d: click.echo(
        "任务：" + "，".join(f"{k} {v}" for k, v in sorted(d["jobs"].items())) +
        f"\n未完成批次：{', '.join(map(str, d['open_batches'])) or '无'}\n待索引：{d['outbox']}\n定时任务：\n" +
        "\n".join(_schedule_line(r) for r in d["schedules"])))


_OUTCOMES = {"ok": "完成", "failed": "发现问题", "error": "出错", None: "未运行过"}


def _schedule_line(r: dict) -> str:
    last = f"上次 {r['last_started']} {_OUTCOMES.get(r['last_outcome'], r['last_outcome'])}" \
        if r["last_started"] else "未运行过"
    if r["last_detail"]:
        last += f"（{r['last_detail']}）"
    nxt = f"正在 {r['running_on']} 运行" if r["running_on"] else (
        f"下次 {r['retry_at'] or r['next_due']}" if r["next_due"] else
        ("关闭" if r["plan"] == "off" else "下次：工作进程启动后排定"))
    return f"  {r['task']}（{r['title']}，{r['schedule']}）：{last}；{nxt}"


@worker.command("run-task")
@click.argument("name", type=click.Choice(list(TASKS)))
@JSON_OPT
@pass_ctx
@handled
def worker_run_task(c: Ctx, name: str, as_json: bool) -> None:
    """立即运行一项定时任务（与工作进程同一认领，不会与之重复运行）；发现问题或出错时退出码为 1。"""
    from dangan.worker.schedule import Scheduler

    result = Scheduler(c.system).run_now(name)
    emit(result, as_json, lambda d: click.echo(
        f"{d['task']}：{_OUTCOMES[d['outcome']]}，{d['detail']}" +
        "".join(f"\n  已写出 {f}" for f in d["files"]) +
        (f"\n  已通知 {'、'.join(d['notified'])}" if d["notified"] else "")))
    if result["outcome"] != "ok":
        sys.exit(1)
