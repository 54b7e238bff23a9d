"""Reminders for overdue loans (and the worker's scheduled-check notices) through a
notifier: the log (default) or SMTP."""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
from email.message import EmailMessage
from typing import TYPE_CHECKING, Protocol

from dangan.archive.permissions import Actor
from dangan.loans.rules import LoanRules

if TYPE_CHECKING:  # the service imports this module
    from dangan.loans.service import LoansService

log = logging.getLogger("dangan.loans")


class Notifier(Protocol):
    def send(self, to: str, subject: str, body: str) -> str:
        """Deliver one message; return where it went (an address or 'log')."""
        ...


class LogNotifier:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    def send(self, to: str, subject: str, body: str) -> str:
        log.warning("通知 → %s：%s", to, subject)  # the subject says what it is
        self.sent.append((to, subject, body))
        return "log"


class SmtpNotifier:
    def __init__(self, host: str, port: int, sender: str, domain: str) -> None:
        self.host, self.port, self.sender, self.domain = host, port, sender, domain

    def send(self, to: str, subject: str, body: str) -> str:
        address = to if "@" in to else f"{to}@{self.domain or 'localhost'}"
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = self.sender, address, subject
        msg.set_content(body)
        with smtplib.SMTP(self.host, self.port, timeout=30) as smtp:
            smtp.send_message(msg)
        return address


def notifier_for(rules: LoanRules) -> Notifier:
    if rules.smtp_host:
        return SmtpNotifier(rules.smtp_host, rules.smtp_port, rules.mail_from, rules.mail_domain)
    return LogNotifier()


def send_reminders(loans: LoansService, actor: Actor, notifier: Notifier, as_of: dt.date | None = None) -> list[dict]:
    """One reminder per overdue physical loan; each is a `remind` event in the ledger."""
    return loans.remind(actor, notifier, as_of)
