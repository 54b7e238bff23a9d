"""Corrections reach search at once: a command or request that changed records applies
its own outbox rows before it returns (`index_now`). The background drain and `dangan
search sync` stay for backlogs and for an index outage, when the caller says so."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def index_now(system: Any, refs: Iterable[str]) -> str | None:
    """None when the search index already shows these records as they are now; else one
    sentence for the user saying that search will catch up."""
    refs = [r for r in refs if r]
    if not refs:
        return None
    try:
        service = system.search_service
    except Exception as exc:  # the index cannot even be opened (Elasticsearch down at start)
        return f"检索索引暂不可用（{type(exc).__name__}），修改已保存，检索将在索引恢复后自动补上。"
    result: str | None = service.apply_now(refs)
    return result


def edit_and_index(system: Any, actor: Any, ref: str, changes: dict, reason: str) -> dict:
    """`records.edit` (confirming a queued record, or correcting one), then its outbox rows
    applied; the result carries `search`: "indexed" or the catching-up sentence."""
    data: dict = system.records.edit(actor, ref, changes, reason)
    problem = index_now(system, [data["archive_no"] or data["provisional_no"]])
    data["search"] = "indexed" if problem is None else problem
    return data
