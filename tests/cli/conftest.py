"""CLI fixtures: an initialised archive driven through `dangan` itself, and sample files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from dangan.cli import main

FORM = ("报修单\n项目名称：翠湖花园\n房号：A区1栋1单元101室\n报修时间：2024年3月5日\n"
        "报修内容：卫生间水管漏水，楼下天花板渗水，请尽快派维修人员上门处理。\n维修编码：010023\n"
        "处理结果：已更换水管接头，漏水已修复。\n业主签字：王小明")


class Cli:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.runner = CliRunner()

    def __call__(self, *args: str, user: str | None = None, input: str | None = None):
        argv = ["--home", str(self.home)] + (["--as", user] if user else []) + list(args)
        return self.runner.invoke(main, argv, input=input, catch_exceptions=False)

    def json(self, *args: str, user: str | None = None):
        result = self(*args, "--json", user=user)
        assert result.exit_code == 0, result.output + result.stderr
        return json.loads(result.stdout)


@pytest.fixture
def cli(home: Path) -> Cli:
    c = Cli(home)
    r = c("init", "--admin", "root", "--security", "secofficer", "--auditor", "audit1")
    assert r.exit_code == 0, r.output
    for name, role, level in (("wang", "archivist", "secret"), ("li", "staff", "internal"),
                              ("guest", "staff", "public")):
        assert c("user", "add", name, "--role", role, "--clearance", level, user="secofficer").exit_code == 0
    assert c("project", "add", "A", "--name", "翠湖花园", "--type", "residential", user="root").exit_code == 0
    return c


@pytest.fixture
def text_pdf(tmp_path: Path) -> Path:
    from dangan.demo import render

    return Path(render.text_pdf(tmp_path / "报修单.pdf", [FORM]))
