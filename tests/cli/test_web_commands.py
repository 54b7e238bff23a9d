"""`dangan user set` and `dangan owner ...`: the grants and the owner portal's bindings
from the command line, under the same rules as in the browser."""

from __future__ import annotations

import io

from dangan.archive.records import RecordInput
from dangan.system import open_dangan


def test_security_officer_changes_grants_and_nobody_else_may(cli) -> None:
    data = cli.json("user", "set", "li", "--clearance", "confidential", "--category", "WX", user="secofficer")
    assert data["clearance"] == "confidential" and data["categories"] == ["maintenance"]
    data = cli.json("user", "set", "li", "--all-categories", user="secofficer")
    assert data["categories"] is None
    refused = cli("user", "set", "li", "--clearance", "secret", user="root")
    assert refused.exit_code == 1 and "不是安全保密员" in refused.stderr
    own = cli("user", "set", "secofficer", "--clearance", "secret", user="secofficer")
    assert own.exit_code == 1 and "自己" in own.stderr
    both = cli("user", "set", "li", "--role", "admin", "--role", "auditor", user="secofficer")
    assert both.exit_code == 1 and "三员分立" in both.stderr
    assert cli("user", "set", "li", "--disable", user="secofficer").exit_code == 0
    assert cli("search", "x", user="li").exit_code == 1


def test_owner_is_bound_to_a_flat_and_sees_only_marked_records(cli, home) -> None:
    assert cli("user", "add", "zhang", "--role", "owner", "--clearance", "public", user="secofficer").exit_code == 0
    system = open_dangan(home)
    no = system.records.create(system.actor("wang"), io.BytesIO(b"%PDF-1.4 x"), RecordInput(
        original_name="a.pdf", media_type="application/pdf", title="装修审批表", category="renovation",
        location="A-01-001-0101")).archive_no
    assert cli.json("owner", "bind", "zhang", "A-01-001-0101", user="secofficer")["location"] == "A-01-001-0101"
    assert cli("owner", "bind", "zhang", "A-01", user="secofficer").exit_code == 1
    assert cli("owner", "bind", "zhang", "A-01-001-0102", user="root").exit_code == 1
    assert cli("owner", "visible", no, user="li").exit_code == 1
    assert cli("owner", "visible", no, "--reason", "业主申请", user="wang").exit_code == 0
    from dangan.web.owners import OwnerService

    assert [r["archive_no"] for r in OwnerService(system).records(system.actor("zhang"))] == [no]
    assert cli.json("owner", "list", user="secofficer") == {"zhang": ["A-01-001-0101"]}
    assert cli("owner", "visible", no, "--off", user="wang").exit_code == 0
    assert OwnerService(system).records(system.actor("zhang")) == []
    system.close()
