"""Finding records: search (and its index upkeep) and the 一户一档 dossier."""

from __future__ import annotations

import sys

import click

from dangan.cli.base import JSON_OPT, Ctx, emit, handled, main, parse_date, pass_ctx

MAINTENANCE = {"reindex", "sync"}


def _strip_marks(snippet: str) -> str:
    import html

    return html.unescape(snippet.replace("<mark>", "【").replace("</mark>", "】"))


@main.command(context_settings={"ignore_unknown_options": False})
@click.argument("words", nargs=-1)
@click.option("--category", "categories", multiple=True, help="类别（可重复）。")
@click.option("--location", help="位置编码前缀，如 A-01-001。")
@click.option("--year-from", type=int)
@click.option("--year-to", type=int)
@click.option("--date-from")
@click.option("--date-to")
@click.option("--security", "security", multiple=True, help="密级（可重复）。")
@click.option("--status", "status", multiple=True, help="状态：active、queued、on_loan、on_hold、destroyed。")
@click.option("--sort", type=click.Choice(["relevance", "date_desc", "date_asc"]), default="relevance")
@click.option("--offset", type=int, default=0)
@click.option("--limit", type=int, default=20, show_default=True)
@JSON_OPT
@pass_ctx
@handled
def search(c: Ctx, words: tuple[str, ...], categories: tuple[str, ...], location: str | None,
           year_from: int | None, year_to: int | None, date_from: str | None, date_to: str | None,
           security: tuple[str, ...], status: tuple[str, ...], sort: str, offset: int, limit: int,
           as_json: bool) -> None:
    """全文检索。`dangan search reindex` 重建索引，`dangan search sync` 同步待更新的索引。

    \b
    例：dangan search 电梯 漏水          （同时含两个词）
        dangan search '"电梯维修"'        （短语）
        dangan search 电梯 OR 扶梯        （任一）
        dangan search 漏水 -外墙           （排除）
        dangan search A-01-001 --category maintenance --year-from 2023
    """
    if len(words) == 1 and words[0] in MAINTENANCE:
        svc = c.system.search_service
        actor = c.actor()
        if words[0] == "reindex":
            count = svc.reindex(actor)
            emit({"indexed": count}, as_json, lambda d: click.echo(f"已重建索引：{d['indexed']} 件"))
        else:
            if not actor.can("search.admin"):
                from dangan.errors import PermissionDenied

                raise PermissionDenied(f"用户 {actor.name} 无权维护索引。")
            applied = svc.sync()
            emit({"applied": applied, "pending": svc.pending()}, as_json,
                 lambda d: click.echo(f"已同步 {d['applied']} 条索引变更，剩余 {d['pending']} 条"))
        return
    query = " ".join(words)
    result = c.system.search_service.search(
        c.actor(), query, categories=list(categories) or None, location=location, year_from=year_from,
        year_to=year_to, date_from=parse_date(date_from), date_to=parse_date(date_to),
        security=list(security) or None, status=list(status) or None, sort=sort, offset=offset, limit=limit,
        facets=as_json)  # the text output shows no facets: do not pay for them

    def human(d: dict) -> None:
        click.echo(f"共 {d['total']} 件")
        for h in d["hits"]:
            click.echo(f"{h['archive_no']}  {h['title']}  [{h['category']}] {h['location'] or ''} {h['date'] or ''}")
            if h["snippet"]:
                click.echo(f"    {_strip_marks(h['snippet'])}")
        if d["catalogue"]:
            click.echo(f"目录可查（需借阅）：{d['catalogue_total']} 件")
            for e in d["catalogue"]:
                title = f"  {e['title']}" if e.get("title") else ""
                click.echo(f"{e['archive_no']}  需借阅{title}  [{e['category']}] {e['location'] or ''} {e['year'] or ''}")

    emit(result, as_json, human)


@main.command()
@click.argument("location")
@JSON_OPT
@pass_ctx
@handled
def dossier(c: Ctx, location: str, as_json: bool) -> None:
    """一户一档：某位置编码前缀下的全部档案，按类别分组，新的在前。"""
    data = c.system.search_service.dossier(c.actor(), location)

    def human(d: dict) -> None:
        click.echo(f"{d['location']}：共 {d['total']} 件")
        for group in d["categories"]:
            click.echo(f"\n{group['name']}（{len(group['records'])} 件）")
            for r in group["records"]:
                click.echo(f"  {r['archive_no'] or r['provisional_no']}  {r['date'] or '—'}  {r['title']}")

    emit(data, as_json, human)
    if data["total"] == 0:
        sys.exit(0)
