"""Demo data for the web app: an owner account (业主查询) bound to the flat with the most
records, whose owner-facing records (registration, renovation, repairs, complaints) are
marked owner-visible — so a newcomer can log in as `yezhu` and see the portal in use."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select

from dangan.archive.models import Record, User
from dangan.web.owners import OwnerService

if TYPE_CHECKING:
    from dangan.system import Dangan

OWNER = "yezhu"
OWNER_CATEGORIES = ("owner", "renovation", "maintenance", "service")


def setup_owner_portal(system: Dangan, password: str) -> str | None:
    """Create the owner, bind the busiest flat, mark its owner-facing records; returns the flat."""
    with system.db.read() as s:
        row = s.execute(select(Record.location, func.count()).where(
            Record.status == "active", Record.location.like("%-%-%-%"))
            .group_by(Record.location).order_by(func.count().desc(), Record.location).limit(1)).first()
        if row is None or row[0] is None:  # (the LIKE already excludes a missing location)
            return None
        flat = row[0]
        numbers = [no for no in s.execute(select(Record.archive_no).where(
            Record.location == flat, Record.status == "active",
            Record.category.in_(OWNER_CATEGORIES))).scalars() if no is not None]
        officer = s.execute(select(User.name).where(User.roles.like("%security%"))).scalars().first()
    sec = system.actor(officer)
    if OWNER not in {u["name"] for u in system.users.list(sec)}:
        system.users.add(sec, OWNER, ["owner"], "public", "业主", None, password)
    owners = OwnerService(system)
    owners.bind(sec, OWNER, flat)
    for no in numbers:
        owners.set_visible(system.actor("wang"), no, True, "演示：业主可查")
    return flat
