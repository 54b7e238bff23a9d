"""三员分立 and role grants: who may create accounts, and what each role may do."""

from __future__ import annotations

import pytest

from dangan.errors import Conflict, DanganError, InvalidInput, NotFound, PermissionDenied
from dangan.system import init_archive


def test_init_creates_three_separated_accounts(system) -> None:
    roles = {u["name"]: u["roles"] for u in system.users.list(system.actor("secofficer"))}
    assert roles["root"] == ["admin"] and roles["secofficer"] == ["security"] and roles["audit1"] == ["auditor"]


def test_init_refuses_one_person_in_two_separated_roles(home) -> None:
    with pytest.raises(DanganError, match="三员分立"):
        init_archive(home, "same", "same", "audit1")


def test_only_the_security_officer_grants_roles(system) -> None:
    with pytest.raises(PermissionDenied, match="安全保密员"):
        system.users.add(system.actor("root"), "newbie", ["staff"], "internal")
    with pytest.raises(PermissionDenied):
        system.users.add(system.actor("wang"), "newbie", ["staff"], "internal")
    made = system.users.add(system.actor("secofficer"), "newbie", ["staff"], "internal")
    assert made["roles"] == ["staff"]


def test_nobody_holds_two_separated_roles(system) -> None:
    with pytest.raises(InvalidInput, match="三员分立"):
        system.users.add(system.actor("secofficer"), "both", ["admin", "auditor"], "internal")


def test_a_person_may_hold_ordinary_roles_together(system) -> None:
    made = system.users.add(system.actor("secofficer"), "zhou", ["archivist", "manager"], "secret")
    actor = system.actor("zhou")
    assert made["roles"] == ["archivist", "manager"]
    assert actor.can("record.ingest") and actor.can("loan.approve")


def test_security_officer_cannot_grant_to_itself(system) -> None:
    with pytest.raises((PermissionDenied, Conflict)):
        system.users.add(system.actor("secofficer"), "secofficer", ["archivist"], "secret")


def test_unknown_user_is_refused(system) -> None:
    with pytest.raises(NotFound, match="未知用户"):
        system.actor("nobody")


def test_bad_role_clearance_and_name_are_named(system) -> None:
    sec = system.actor("secofficer")
    with pytest.raises(InvalidInput, match="未知角色"):
        system.users.add(sec, "x1", ["janitor"], "internal")
    with pytest.raises(InvalidInput, match="未知密级"):
        system.users.add(sec, "x2", ["staff"], "topsecret")
    with pytest.raises(InvalidInput, match="用户名"):
        system.users.add(sec, "Bad Name", ["staff"], "internal")


def test_auditor_reads_the_trail_admin_does_not(system) -> None:
    assert system.audit_log(system.actor("audit1"), limit=5)
    with pytest.raises(PermissionDenied):
        system.audit_log(system.actor("root"))
    with pytest.raises(PermissionDenied):
        system.verify_audit(system.actor("wang"))


def test_passwords_are_hashed_and_checked(system) -> None:
    sec = system.actor("secofficer")
    system.users.add(sec, "web1", ["staff"], "internal", password="correct horse")
    with system.db.session() as s:
        from dangan.archive.users import find_user

        stored = find_user(s, "web1").password_hash
    assert "correct horse" not in stored and stored.startswith("$argon2")
    assert system.users.login("web1", "correct horse").name == "web1"
    with pytest.raises(PermissionDenied):
        system.users.login("web1", "wrong password")


def test_api_token_identifies_its_user_and_only_its_hash_is_stored(system) -> None:
    token = system.users.new_token(system.actor("li"), "li")
    assert system.users.by_token(token).name == "li"
    with pytest.raises(PermissionDenied):
        system.users.by_token(token + "x")
    with pytest.raises(PermissionDenied):
        system.users.new_token(system.actor("li"), "wang")
