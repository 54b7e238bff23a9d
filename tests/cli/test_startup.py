"""Start-up guard: a plain `dangan` command must not import the heavy libraries that only
some commands need (OCR and numpy, PDF rendering, migrations, the web app, the S3 and
Elasticsearch clients). Each import here costs 0.05–0.3 s on every command
(bench/bench_startup.py); one top-level import in a module the CLI loads brings it back.

Each command runs in a fresh interpreter, on the code under test (PYTHONPATH), in-process
through click so that the modules it loaded can be listed afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dangan

HEAVY = frozenset({"numpy", "cv2", "PIL", "reportlab", "alembic", "flask", "werkzeug", "jinja2", "openpyxl",
                   "minio", "elasticsearch", "tantivy", "pypdf", "pypdfium2", "rapidocr_onnxruntime",
                   "onnxruntime", "pytesseract"})
SEARCH_NEEDS = frozenset({"numpy", "tantivy"})  # the query's Chinese analysis and the embedded index

_RUN = """
import json, sys
from dangan.cli import main
code = 0
try:
    main.main(sys.argv[2:], prog_name="dangan")
except SystemExit as exc:
    code = exc.code or 0
loaded = sorted(m for m in json.loads(sys.argv[1]) if m in sys.modules)
print(json.dumps({"exit": code, "loaded": loaded}), file=sys.stderr)
"""


def run(*args: str) -> tuple[int, list[str], str]:
    """(exit status, heavy modules loaded, stdout) of one command in a fresh interpreter."""
    root = str(Path(dangan.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": root}
    proc = subprocess.run([sys.executable, "-c", _RUN, json.dumps(sorted(HEAVY)), *args],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    return report["exit"], report["loaded"], proc.stdout


def test_importing_the_cli_loads_no_heavy_library() -> None:
    code, loaded, out = run("--help")
    assert code == 0 and "retention" in out and "worker" in out and "serve" in out
    assert loaded == []


def test_plain_commands_load_no_heavy_library(cli, text_pdf: Path) -> None:
    [rec] = cli.json("ingest", str(text_pdf), "--category", "maintenance", "--location", "A-01-001-0101",
                     user="wang")
    home = ["--home", str(cli.home), "--as", "wang"]
    for command in (["retention", "due", "--json", "--limit", "10", "--as-of", "2100-01-01"],
                    ["show", rec["archive_no"], "--json"],
                    ["borrow", "list", "--json"],
                    ["review", "--json"]):
        code, loaded, out = run(*home, *command)
        assert code == 0, (command, out)
        assert loaded == [], command
        json.loads(out)
    due = json.loads(run(*home, "retention", "due", "--json", "--as-of", "2100-01-01")[2])
    assert rec["archive_no"] in {r["archive_no"] for r in due["records"]}


def test_search_loads_only_what_a_query_needs(cli, text_pdf: Path) -> None:
    [rec] = cli.json("ingest", str(text_pdf), user="wang")
    code, loaded, out = run("--home", str(cli.home), "--as", "wang", "search", "漏水", "--json")
    assert code == 0
    assert set(loaded) <= SEARCH_NEEDS
    assert rec["archive_no"] in [h["archive_no"] for h in json.loads(out)["hits"]]
