"""`dangan verify` reports and incremental runs; `dangan handover export|import` by the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import bagit


def test_verify_writes_pdf_and_json_reports_and_runs_incrementally(cli, text_pdf: Path, tmp_path: Path) -> None:
    [row] = cli.json("ingest", "--category", "maintenance", "--location", "A-01-001-0101", str(text_pdf),
                     user="wang")
    [result] = cli.json("verify", "--all", user="audit1")
    assert result["archive_no"] == row["archive_no"] and result["ok"] is True
    assert set(result["checks"]) == {"authenticity", "integrity", "usability", "security"}
    assert result["details"]["fixity"] is True
    assert cli.json("verify", "--incremental", user="audit1") == []  # nothing new or changed
    out = cli("verify", "--last", "--report", str(tmp_path / "r.pdf"), user="audit1")
    assert out.exit_code == 0 and (tmp_path / "r.pdf").read_bytes()[:5] == b"%PDF-"
    cli("verify", row["archive_no"], "--report", str(tmp_path / "r.json"), user="audit1")
    assert json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["mode"] == "selected"
    usage = cli("verify", user="audit1")
    assert usage.exit_code == 2


def test_handover_round_trip_through_the_cli(cli, text_pdf: Path, tmp_path: Path) -> None:
    [row] = cli.json("ingest", "--category", "equipment", "--location", "A-01", str(text_pdf), user="wang")
    out = tmp_path / "pkg"
    facts = cli.json("handover", "export", "A-01", "-o", str(out), user="wang")
    assert facts["items"] == 1
    bagit.Bag(str(out)).validate()
    again = cli("handover", "import", str(out), "--json", user="wang")  # same archive: 档号 taken
    assert again.exit_code == 1 and json.loads(again.stdout)["ok"] is False
    refused = cli("handover", "export", "A-01", "-o", str(out), user="wang")
    assert refused.exit_code == 1 and "不是空目录" in refused.stderr
    both = cli("handover", "export", "A-01", "--query", "x", "-o", str(tmp_path / "x"), user="wang")
    assert both.exit_code == 2
    report = cli("handover", "import", str(out), "--dry-run", "--report", str(tmp_path / "t.pdf"), user="wang")
    assert report.exit_code == 1 and (tmp_path / "t.pdf").read_bytes()[:5] == b"%PDF-"
    assert row["archive_no"] in report.stdout
