"""Shared pieces of the `dangan` command line (CONTRACT.md): the group, the context
object, output and error handling.

Errors a user can act on print one sentence on stderr and exit 1; usage errors exit 2.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Callable, Iterable
from functools import wraps
from typing import TYPE_CHECKING, Any

import click

from dangan.errors import DanganError

if TYPE_CHECKING:
    from dangan.archive.permissions import Actor
    from dangan.system import Dangan

JSON_OPT = click.option("--json", "as_json", is_flag=True, help="输出 JSON。")


class Ctx:
    def __init__(self, home: str | None, user: str | None) -> None:
        self.home = home
        self.user = user
        self._system: Dangan | None = None

    @property
    def system(self) -> Dangan:
        if self._system is None:
            from dangan.system import open_dangan

            self._system = open_dangan(self.home)
        return self._system

    def actor(self) -> Actor:
        return self.system.actor(self.user)


def emit(data: Any, as_json: bool, human: Callable[[Any], None] | None = None) -> None:
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    elif human is not None:
        human(data)
    else:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def each(show: Callable[[Any], object]) -> Callable[[Iterable[Any]], None]:
    """Human output for a list: call `show` on every row (a typed loop instead of a
    list comprehension built only for its side effects)."""

    def human(rows: Iterable[Any]) -> None:
        for row in rows:
            show(row)

    return human


def handled(fn: Callable) -> Callable:
    """Turn DanganError into one line on stderr and exit status 1."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DanganError as exc:
            click.echo(f"错误：{exc}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("已中断。", err=True)
            sys.exit(130)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except Exception as exc:  # the server's own fault: still no traceback for users
            if os.environ.get("DANGAN_DEBUG"):
                raise
            click.echo(f"内部错误：{type(exc).__name__}。设置 DANGAN_DEBUG=1 可查看详情。", err=True)
            sys.exit(1)

    return wrapper


def parse_date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"日期 {value!r} 无效：应为 YYYY-MM-DD。") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--home", envvar="DANGAN_HOME", default=None, help="数据目录（默认 ./dangan-data）。")
@click.option("--as", "user", envvar="DANGAN_USER", default=None, help="操作人用户名。")
@click.version_option(package_name="dangan")
@click.pass_context
def main(ctx: click.Context, home: str | None, user: str | None) -> None:
    """Dangan 档案：物业服务档案管理系统。"""
    ctx.obj = Ctx(home, user)


pass_ctx = click.make_pass_decorator(Ctx)
