"""Overdue reminders (log and a real SMTP server from aiosmtpd) and watermarked copies."""

from __future__ import annotations

import datetime as dt
import hashlib
import io

import pytest

from dangan.errors import Conflict, PermissionDenied
from dangan.loans.notify import LogNotifier, SmtpNotifier
from tests.smtp_inbox import smtp_inbox


def _overdue_loan(system, lend, who: str = "sun") -> str:
    wang = lend["who"]("wang")
    lid = system.loans.request(lend["who"](who), [lend["a"]], "核对", "physical", days=3)["loan_id"]
    system.loans.approve(wang, lid)
    system.loans.checkout(wang, lid)
    return lid


def test_reminders_go_to_the_log_and_are_events_in_the_ledger(system, lend):
    lid = _overdue_loan(system, lend)
    log = LogNotifier()
    sent = system.loans.remind(lend["who"]("wang"), log, dt.date(2026, 3, 20))
    assert [(s["loan_id"], s["days_overdue"]) for s in sent] == [(lid, 15)]
    assert log.sent[0][0] == "sun" and "逾期 15 天" in log.sent[0][1]
    assert system.loans.show(lend["who"]("sun"), lid)["events"][-1]["event"] == "remind"
    assert system.loans.remind(lend["who"]("wang"), log, dt.date(2026, 3, 4)) == []
    with pytest.raises(PermissionDenied):
        system.loans.remind(lend["who"]("li"), log)


def test_reminders_by_smtp_reach_a_real_mail_server(sqlite_system, tmp_path):
    from tests.loans.conftest import Clock, add_record

    system = sqlite_system
    system.loans.clock = Clock(dt.datetime(2026, 3, 2, 9))
    system.users.add(system.actor("secofficer"), "sun", ["staff"], "internal", "客服部")
    lend = {"a": add_record(system, "电梯维修记录"), "who": system.actor}
    lid = _overdue_loan(system, lend)
    with smtp_inbox() as (inbox, port):
        sent = system.loans.remind(system.actor("wang"), SmtpNotifier("127.0.0.1", port, "archive@wy.example",
                                                                      "wy.example"), dt.date(2026, 3, 10))
    assert sent[0]["to"] == "sun@wy.example"
    [msg] = inbox.messages
    assert msg.rcpt_tos == ["sun@wy.example"]
    from email import message_from_bytes
    from email.policy import default

    mail = message_from_bytes(msg.content, policy=default)
    assert lid in mail["Subject"] and "逾期 5 天" in mail.get_content()


def test_a_copy_carries_a_watermark_on_every_page_and_the_original_never_changes(system, lend, clock, tmp_path):
    from pypdf import PdfReader


    li, zhao = lend["who"]("li"), lend["who"]("zhao")
    before = system.records.show(lend["who"]("wang"), lend["c"])["sha256"]
    lid = system.loans.request(li, [lend["c"]], "纠纷", "copy", days=2)["loan_id"]
    with pytest.raises(PermissionDenied):
        system.loans.copy(li, lid, lend["c"])  # not approved yet
    system.loans.approve(zhao, lid)
    data, name = system.loans.copy(li, lid, lend["c"])
    pages = PdfReader(io.BytesIO(data)).pages
    assert len(pages) == 2 and name.endswith(".pdf")
    for p in pages:
        text = p.extract_text()
        assert "li" in text and lid in text and "2026-03-02" in text
    with pytest.raises(PermissionDenied):
        system.loans.copy(lend["who"]("sun"), lid, lend["c"])
    system.records.get(lend["who"]("wang"), lend["c"], tmp_path / "orig.pdf")
    assert hashlib.sha256((tmp_path / "orig.pdf").read_bytes()).hexdigest() == before
    view = system.loans.request(li, [lend["a"]], "核对", "view")["loan_id"]
    system.loans.approve(lend["who"]("wang"), view)
    with pytest.raises(Conflict):
        system.loans.copy(li, view, lend["a"])
    clock.advance(3)
    with pytest.raises(PermissionDenied):
        system.loans.copy(li, lid, lend["c"])
