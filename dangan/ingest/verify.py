"""`dangan verify`: fixity plus the 四性 checks (DA/T 70) of stored records.

The archive checks what it can alone (the key unwraps, every segment authenticates, the
SHA-256 matches, the 档号 follows its rule, required metadata is there); this adds the
check library's periodic checks on the decrypted original (the format is what was
recorded, every page opens and renders, no active content, an archival format). The
plaintext exists only in a private temporary file for the moment of the check.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from dangan.archive.permissions import Actor
from dangan.errors import DanganError
from dangan.ingest.checks import CATEGORIES, CheckContext, by_category, run_checks, select

# pages_complete needs an extraction (a full OCR pass); opens_and_renders already draws every page
PERIODIC = [c.name for c in select("periodic") if c.name != "pages_complete"]


def verify_records(system, actor: Actor, refs: list[str] | None = None) -> list[dict]:  # type: ignore[no-untyped-def]
    """One result per record: {"archive_no", "ok", "checks": {category: True | sentence}}."""
    results = system.records.verify(actor, refs)
    scratch = system.settings.home / "tmp"
    scratch.mkdir(mode=0o700, exist_ok=True)
    for result in results:
        if result["checks"]["security"] is not True:
            continue  # nothing trustworthy to open
        with system.db.read() as s:
            rec = system.records.find(s, result["archive_no"])
        if rec.sha256 is None:
            continue  # a paper original
        found = _periodic(system, rec, scratch)
        for category in CATEGORIES:
            if result["checks"].get(category) is True and found.get(category, True) is not True:
                result["checks"][category] = found[category]
        result["ok"] = all(v is True for v in result["checks"].values())
    return results


def _periodic(system, rec, scratch: Path) -> dict[str, bool | str]:  # type: ignore[no-untyped-def]
    fd, tmp = tempfile.mkstemp(prefix="verify-", dir=scratch)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in system.records.iter_original(rec):
                out.write(chunk)
        ctx = CheckContext(path=Path(tmp), sha256=rec.sha256, media_type=rec.media_type,
                           extra={"expected_pages": rec.pages})
        return by_category(run_checks(ctx, PERIODIC))
    except DanganError as exc:
        return {"security": f"原件无法解密：{exc}"}
    finally:
        Path(tmp).unlink(missing_ok=True)
