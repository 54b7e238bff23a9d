"""Commands that bring records in and put them right: ingest, import, inbox, review, edit."""

from __future__ import annotations

import datetime as dt
import hashlib
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from dangan.cli.base import JSON_OPT, Ctx, emit, handled, main, parse_date, pass_ctx
from dangan.errors import InvalidInput

if TYPE_CHECKING:
    from dangan.ingest.pipeline import Summary
    from dangan.ingest.sources import Item


def _explicit(category: str | None, location: str | None, title: str | None, date: dt.date | None,
              security: str | None) -> dict:
    given = {"category": category, "location": location, "title": title,
             "date": date.isoformat() if date else None, "security": security}
    return {k: v for k, v in given.items() if v}


class Progress:
    """A progress bar with pages/s and ETA for batches (stderr, only on a terminal)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.bar = None
        self.pages = 0
        self.started = time.monotonic()
        if enabled and total > 1:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="件", file=sys.stderr, dynamic_ncols=True,
                            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]")

    def __call__(self, result: dict, pages: int) -> None:
        if self.bar is None:
            return
        self.pages += pages
        rate = self.pages / max(1e-6, time.monotonic() - self.started)
        self.bar.set_postfix_str(f"{rate:.1f} 页/秒")
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _report(summary: Summary, as_json: bool) -> None:
    if as_json:
        emit(summary.results, True)
    else:
        for r in summary.results:
            if r["status"] == "rejected":
                click.echo(f"拒收  {r['file']}：{r['error']}")
            elif r["status"] == "duplicate":
                click.echo(f"重复  {r['file']} → 已有档案 {r['archive_no']}")
            else:
                tag = "待分类" if r.get("queued") else "入库"
                why = f"  （{'; '.join(r['reasons'])}）" if r.get("reasons") else ""
                click.echo(f"{tag}  {r['file']} → {r['archive_no']}  {r.get('title') or ''}{why}")
            for conflict in r.get("conflicts") or []:
                click.echo(f"      注意：{conflict['field']} 以指定值 {conflict['given']} 为准，"
                           f"文件内容推断为 {conflict['inferred']}")
        click.echo(summary.line())
        if summary.index_error:
            click.echo(f"注意：{summary.index_error}", err=True)
    if summary.rejected and not (summary.ingested or summary.duplicate):
        sys.exit(1)


def _run(c: Ctx, items: list[Item] | None, source: str, key: str | None, as_json: bool, workers: int | None,
         batch_id: int | None = None) -> None:
    from dangan.ingest.pipeline import IngestPipeline

    actor = c.actor()
    pipeline = IngestPipeline(c.system, workers=workers)
    if batch_id is None:
        assert items is not None  # only a resumed batch (batch_id given) comes without items
        batch_id = pipeline.add_batch(actor, items, source, key)
        if source == "cli":
            pipeline.repoint(batch_id, items)
    # the bar and its ETA count only what is left (a resumed batch has done part already)
    remaining = pipeline.pending_count(batch_id)
    bar = Progress(remaining, enabled=not as_json and sys.stderr.isatty())
    try:
        summary = pipeline.run(actor, batch_id, progress=bar)
    finally:
        bar.close()
    _report(summary, as_json)


def ingest_key(paths: list[str], explicit: dict, items: list[Item], scratch: Path) -> str:
    """The batch of this argument list (as `dangan import` keys a manifest): the same
    files with the same options rerun after a kill resume the same batch; a changed file
    (size or time) or another option makes a new batch."""
    import json

    def stamp(p: Path | None) -> list[int]:
        if p is None:
            return []
        try:
            st = p.stat()
        except OSError:
            return []
        return [] if p.is_dir() else [st.st_size, st.st_mtime_ns]

    args = [[str(Path(p).resolve()), stamp(Path(p))] for p in paths]
    # ZIP members are unpacked into a fresh scratch folder each run: the ZIP's own stamp
    # (an argument, or a file listed) stands for them
    listed = [[it.name, stamp(it.path) if it.path is not None and scratch not in Path(it.path).parents
               else [], it.error or ""] for it in items]
    blob = json.dumps([args, explicit, listed], ensure_ascii=False, sort_keys=True).encode()
    return "ingest:" + hashlib.sha256(blob).hexdigest()[:48]


@main.command()
@click.argument("paths", nargs=-1)
@click.option("--category", help="类别（键或代码，如 maintenance 或 WX）。")
@click.option("--location", help="位置编码，如 A-01-001-0101。")
@click.option("--title", help="题名。")
@click.option("--date", "date_", help="文件日期 YYYY-MM-DD。")
@click.option("--security", help="密级：public、internal、confidential、secret。")
@click.option("--workers", type=int, default=None, help="识别进程数（默认每核一个）。")
@click.option("--resume", is_flag=True, help="继续中断后未完成的入库批次（不给路径时列出或继续唯一的一个）。")
@click.option("--batch", "batch", type=int, default=None, help="与 --resume 合用：要继续的批次号。")
@click.option("--cancel", "cancel", type=int, default=None, metavar="批次号", help="取消中断后未完成的批次：余下文件不再处理。")
@JSON_OPT
@pass_ctx
@handled
def ingest(c: Ctx, paths: tuple[str, ...], category: str | None, location: str | None, title: str | None,
           date_: str | None, security: str | None,
           workers: int | None, resume: bool, batch: int | None, cancel: int | None, as_json: bool) -> None:
    """档案入库：文件或文件夹（含 ZIP）；未指定的信息从内容中推断。

    中断（断电、kill）后用同样的参数重跑，或运行 dangan ingest --resume，会接着做完同一批次，
    已入库的文件不会重做；dangan ingest --cancel 批次号 放弃余下的文件。"""
    from dangan.ingest.pipeline import IngestPipeline, workdir
    from dangan.ingest.sources import expand_paths

    if cancel is not None or (resume and not paths):
        if paths:
            raise click.UsageError("--cancel 不能与路径同用。")
        pipeline = IngestPipeline(c.system, workers=workers)
        if cancel is not None:
            n = pipeline.cancel(c.actor(), cancel)
            emit({"batch": cancel, "cancelled": n}, as_json,
                 lambda d: click.echo(f"已取消批次 {d['batch']}：余下 {d['cancelled']} 个文件不再处理。"))
            return
        c.system.records.require(c.actor(), "record.ingest")
        open_batches = pipeline.abandoned()
        chosen = [b for b in open_batches if batch is None or b["batch"] == batch]
        if batch is not None and not chosen:
            raise InvalidInput(f"批次 {batch} 没有中断后未完成的文件：可继续的批次 "
                               f"{'、'.join(str(b['batch']) for b in open_batches) or '无'}。")
        if len(chosen) != 1:
            def listing(rows: list[dict]) -> None:
                if not rows:
                    click.echo("没有中断后未完成的入库批次。")
                for b in rows:
                    click.echo(f"批次 {b['batch']}  {b['source']}  {b['created_by']}  {b['created_at']}  "
                               f"余 {b['pending']}/{b['total']} 个文件")
                if rows:
                    click.echo("继续：dangan ingest --resume --batch 批次号；放弃：dangan ingest --cancel 批次号")
            emit(chosen, as_json, listing)
            return
        _run(c, None, "cli", None, as_json, workers, batch_id=chosen[0]["batch"])
        return
    if not paths:
        raise click.UsageError("请给出要入库的文件或文件夹，或使用 --resume / --cancel。")
    explicit = _explicit(category, location, title, parse_date(date_), security)
    _validate_explicit(c, explicit)
    scratch = workdir()
    items = expand_paths(list(paths), explicit, scratch)
    _run(c, items, "cli", ingest_key(list(paths), explicit, items, scratch), as_json, workers)


def _validate_explicit(c: Ctx, explicit: dict) -> None:
    """Wrong codes given on the command line fail the command before anything is read."""
    from dangan.archive.codes import parse_location

    scheme = c.system.scheme
    if "category" in explicit:
        scheme.category(explicit["category"])
    if "location" in explicit:
        parse_location(explicit["location"], scheme.codes)
    if "security" in explicit:
        scheme.security(explicit["security"])


@main.command("import")
@click.argument("manifest", type=click.Path(dir_okay=False))
@click.option("--workers", type=int, default=None)
@JSON_OPT
@pass_ctx
@handled
def import_(c: Ctx, manifest: str, workers: int | None, as_json: bool) -> None:
    """按清单批量入库（CSV 列：path,category,location,title,date,security）；中断后重跑会接着做。"""
    from dangan.ingest.sources import read_manifest

    path = Path(manifest).resolve()
    items = read_manifest(path)
    key = "import:" + hashlib.sha256(str(path).encode() + b"\0" + path.read_bytes()).hexdigest()[:48]
    _run(c, items, "import", key, as_json, workers)


@main.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--once", is_flag=True, help="处理当前已就绪的文件后退出。")
@click.option("--interval", type=float, default=5.0, show_default=True, help="扫描间隔（秒）。")
@click.option("--settle", type=float, default=2.0, show_default=True,
              help="文件大小和修改时间静止多少秒后才处理（防止扫描仪尚未写完）。")
@JSON_OPT
@pass_ctx
@handled
def inbox(c: Ctx, directory: str, once: bool, interval: float, settle: float, as_json: bool) -> None:
    """监视扫描仪收件文件夹：入库的移到 done/，拒收的移到 rejected/ 并附 .reason.txt。"""
    from dangan.ingest.inbox import watch

    results = watch(c.system, c.actor(), Path(directory), once=once, interval=interval, settle=settle,
                    echo=None if as_json else click.echo)
    if as_json:
        emit(results, True)


@main.command()
@click.option("--limit", type=int, default=50, show_default=True)
@JSON_OPT
@pass_ctx
@handled
def review(c: Ctx, limit: int, as_json: bool) -> None:
    """待分类队列：等待档案管理员确认的档案及系统建议。"""
    rows = c.system.records.review_queue(c.actor(), limit=limit)

    def human(rows: list[dict]) -> None:
        if not rows:
            click.echo("待分类队列为空。")
        for r in rows:
            sug = r.get("suggestion") or {}
            conf = r.get("classify_confidence")
            click.echo(f"{r['provisional_no']}  {r['title']}")
            click.echo(f"    建议类别 {sug.get('category') or '—'}（置信度 {conf:.2f}）" if conf is not None
                       else f"    建议类别 {sug.get('category') or '—'}")
            click.echo(f"    建议位置 {r['location'] or sug.get('location') or '—'}"
                       f"  候选 {','.join(sug.get('location_candidates') or []) or '—'}"
                       f"  日期 {r['date'] or sug.get('date') or '—'}"
                       + (f"（{sug['date_rule']}）" if sug.get("date_rule") else ""))
            if sug.get("reasons"):
                click.echo(f"    原因 {'; '.join(sug['reasons'])}")
        click.echo(f"共 {len(rows)} 件。确认：dangan edit 临时号 --category 类别 --location 位置 --date 日期 --reason 原因")

    emit(rows, as_json, human)


@main.command()
@click.argument("archive_no")
@click.option("--category")
@click.option("--location")
@click.option("--title")
@click.option("--date", "date_")
@click.option("--security")
@click.option("--reason", required=True, help="修改原因（记入修改记录与审计日志）。")
@JSON_OPT
@pass_ctx
@handled
def edit(c: Ctx, archive_no: str, category: str | None, location: str | None, title: str | None,
         date_: str | None, security: str | None, reason: str,
         as_json: bool) -> None:
    """更正或确认档案信息；确认待分类档案时分配档号。"""
    changes = {"category": category, "location": location, "title": title,
               "doc_date": parse_date(date_), "security": security}
    changes = {k: v for k, v in changes.items() if v is not None}
    from dangan.ingest.corrections import edit_and_index

    data = edit_and_index(c.system, c.actor(), archive_no, changes, reason)

    def human(d: dict) -> None:
        click.echo(f"已保存：{d['archive_no']}（第 {d['version']} 版），检索已更新。" if d["search"] == "indexed"
                   else f"已保存：{d['archive_no']}（第 {d['version']} 版）")
        if d["search"] != "indexed":
            click.echo(f"注意：{d['search']}", err=True)

    emit(data, as_json, human)
