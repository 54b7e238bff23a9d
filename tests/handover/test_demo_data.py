"""The sample archive shows 四性检测 and handover in use."""

from __future__ import annotations

from pathlib import Path

from dangan.demo.handover import TAKEOVER, add_handover_demo
from tests.handover.conftest import add_record


def test_demo_files_a_report_an_export_a_takeover_and_leaves_a_package_waiting(system, tmp_path: Path) -> None:
    system.users.add(system.actor("secofficer"), "auditor", ["auditor"], "public")
    add_record(system, tmp_path, "电梯设备台账", "equipment", "A-01")
    add_handover_demo(system)
    assert system.verify.latest(system.actor("wang"))["checked"] == 1
    kinds = sorted((p["direction"], p["ok"]) for p in system.handover.packages(system.actor("wang")))
    assert kinds == [("export", True), ("import", True)]
    assert (system.settings.home / "exports" / "移交-A-01" / "bagit.txt").exists()
    assert system.handover.incoming_packages() == ["滨江公园-补交资料"]
    total, _ = system.records.list(system.actor("wang"), location_prefix="D")
    assert total == len(TAKEOVER)
