"""Retention fixtures: records that fell due long ago, people for each part of the workflow."""

from __future__ import annotations

import datetime as dt
import io
import os

import pytest

from dangan.archive.records import RecordInput

OLD = dt.date(2005, 3, 1)  # maintenance records: 10 years, due 2015-03-01


def add(system, title: str = "电梯维修单", category: str = "maintenance", date: dt.date | None = OLD,
        location: str = "A-01-001-0101", custody: str | None = None, text: str | None = "二号楼电梯门维修") -> str:
    data = RecordInput(original_name="a.pdf", media_type="application/pdf", title=title, category=category,
                       location=location, doc_date=date, custody=custody,
                       text_pages=[{"page": 1, "text": text}] if text else None)
    return system.records.create(system.actor("wang"), io.BytesIO(os.urandom(200)), data).archive_no


@pytest.fixture
def people(system):
    """A second manager (supervisor) besides zhao (approver); wang the archivist makes and executes."""
    system.users.add(system.actor("secofficer"), "sun", ["manager"], "confidential")
    return system


def destroyable(system, n: int = 1, **kw) -> list[str]:
    nos = [add(system, title=f"维修单{i}", **kw) for i in range(n)]
    system.retention.appraise(system.actor("wang"), nos, "destroy", "保管期满，无保存价值")
    return nos


def approved_batch(system, nos: list[str]) -> str:
    batch = system.retention.create_batch(system.actor("wang"), nos, "2015 年到期维修记录")["batch_id"]
    system.retention.approve(system.actor("zhao"), batch)
    return batch
