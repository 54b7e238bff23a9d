"""Login throttling: too many failed passwords for one account or from one address in a
window refuse further attempts for a while. Attempts are rows in the database, so every
web worker process sees the same count; refusals are audited."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select

from dangan.archive.models import utcnow
from dangan.archive.permissions import Actor
from dangan.errors import PermissionDenied
from dangan.web.models import LoginAttempt

if TYPE_CHECKING:
    from dangan.system import Dangan

WINDOW = dt.timedelta(minutes=15)
PER_ACCOUNT = 5
PER_ADDRESS = 20


class TooManyAttempts(PermissionDenied):
    http_status = 429


class LoginGuard:
    def __init__(self, system: Dangan, per_account: int = PER_ACCOUNT, per_address: int = PER_ADDRESS,
                 window: dt.timedelta = WINDOW) -> None:
        self.system = system
        self.per_account = per_account
        self.per_address = per_address
        self.window = window

    def _failures(self, name: str, address: str) -> tuple[int, int]:
        since = utcnow() - self.window
        with self.system.db.read() as s:
            by_name = s.execute(select(func.count()).where(
                LoginAttempt.name == name, LoginAttempt.at >= since, LoginAttempt.ok.is_(False))).scalar_one()
            by_addr = s.execute(select(func.count()).where(
                LoginAttempt.address == address, LoginAttempt.at >= since,
                LoginAttempt.ok.is_(False))).scalar_one()
        return by_name, by_addr

    def login(self, name: str, password: str, address: str) -> Actor:
        """Check the password unless the account or address is throttled; record the attempt."""
        name = (name or "").strip()[:64]
        address = (address or "unknown")[:64]
        by_name, by_addr = self._failures(name, address)
        if by_name >= self.per_account or by_addr >= self.per_address:
            with self.system.db.session() as s:
                self.system.audit.append(s, "anonymous", "user.login", name or None, "throttled",
                                         {"address": address, "account_failures": by_name,
                                          "address_failures": by_addr})
            minutes = int(self.window.total_seconds() // 60)
            raise TooManyAttempts(f"登录失败次数过多，请 {minutes} 分钟后再试或联系安全保密员。")
        try:
            actor = self.system.users.login(name, password)
        except PermissionDenied:
            self._record(name, address, False)
            raise
        self._record(name, address, True)
        return actor

    def _record(self, name: str, address: str, ok: bool) -> None:
        with self.system.db.session() as s:
            s.add(LoginAttempt(name=name, address=address, ok=ok))
            if ok:  # a good password clears the account's failures
                s.execute(delete(LoginAttempt).where(LoginAttempt.name == name,
                                                     LoginAttempt.ok.is_(False)))
