"""A real SMTP server for tests (aiosmtpd on a free local port) that keeps what it receives,
shared by the loans reminders and the worker's notices so both talk to the same thing."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager


class Inbox:
    """aiosmtpd handler: every message accepted, kept in `messages` (envelopes)."""

    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"


@contextmanager
def smtp_inbox() -> Iterator[tuple[Inbox, int]]:
    """An SMTP server on 127.0.0.1 for the duration of the block: (its inbox, its port)."""
    from aiosmtpd.controller import Controller

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()
