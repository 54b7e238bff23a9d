"""The composition root: one place turns settings into backends for the CLI and the web."""

from __future__ import annotations

import io
import json

from dangan.archive.records import RecordInput
from dangan.system import open_dangan


def test_an_index_from_an_older_version_is_rebuilt_from_the_database(sqlite_system) -> None:
    system = sqlite_system
    system.records.create(system.actor("wang"), io.BytesIO(b"x" * 100), RecordInput(
        original_name="a.pdf", media_type="application/pdf", title="电梯维修", category="maintenance",
        location="A-01", text_pages=[{"page": 1, "text": "三号电梯维修"}]))
    system.search_service.sync()
    system.search_service.backend.close()
    marker = system.settings.index_path / "dangan-search.json"
    marker.write_text(json.dumps({"schema": -1, "engine": "tantivy"}), encoding="utf-8")
    reopened = open_dangan(system.settings.home)
    assert reopened.search_service.search(reopened.actor("wang"), "电梯")["total"] == 1
    assert json.loads(marker.read_text(encoding="utf-8"))["schema"] != -1
    reopened.close()
