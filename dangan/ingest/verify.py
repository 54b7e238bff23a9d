"""`dangan verify` (kept for callers of `verify_records`): now the integrity service.

The 四性 checks of stored records live in `dangan.integrity.service.VerifyService`; this
returns its per-record results, the CONTRACT.md shape plus each check's details.
"""

from __future__ import annotations

from typing import Any

from dangan.archive.permissions import Actor


def verify_records(system: Any, actor: Actor, refs: list[str] | None = None) -> list[dict]:
    """One result per record: {"archive_no", "ok", "checks": {category: True | sentence}, "details"}."""
    return system.verify.run(actor, refs)["results"]
