"""The classifier learns from what archivists have already classified or corrected.

Training data is every confirmed record (its title and text, category as the label); the
model is retrained when that set changes (new records, corrections) and cached in the
object store, encrypted like everything else — it is made of the archive's text.
"""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from dangan.archive import crypto
from dangan.archive.models import Record
from dangan.errors import DanganError, NotFound
from dangan.ingest.classify import Classifier

if TYPE_CHECKING:
    from dangan.system import Dangan

MODEL_KEY = "models/classifier"
MAX_SAMPLES = 5000


def _signature(system: Dangan) -> str:
    with system.db.read() as s:
        count, versions = s.execute(
            select(func.count(), func.coalesce(func.sum(Record.version), 0))
            .where(Record.status != "queued", Record.category.is_not(None))).one()
    return f"{count}:{versions}:{system.settings.classify_threshold}"


def _load_cached(system: Dangan, signature: str) -> Classifier | None:
    """The cached model, or None: missing, changed since, or sealed under an older
    classifier-cache key (`dangan keys rotate-cache`) — a miss, never an error."""
    try:
        blob = b"".join(system.store.get(MODEL_KEY))
        doc = json.loads(crypto.decrypt_bytes(system.settings.cipher_suite, system.derived_key("model"),
                                              blob, MODEL_KEY.encode()))
    except (NotFound, DanganError, ValueError):
        return None
    if doc.get("signature") != signature:
        return None
    return Classifier.from_json(doc["model"], system.scheme.categories)


def current_classifier(system: Dangan) -> Classifier:
    """The model trained on the archive as it is now (cached while nothing changed)."""
    signature = _signature(system)
    cached = _load_cached(system, signature)
    if cached is not None:
        cached.threshold = system.settings.classify_threshold
        return cached
    model = Classifier.from_scheme(system.scheme, threshold=system.settings.classify_threshold)
    with system.db.read() as s:
        rows = list(s.execute(select(Record).where(Record.status != "queued", Record.category.is_not(None))
                              .order_by(Record.ingested_at.desc()).limit(MAX_SAMPLES)).scalars())
    samples: list[tuple[str, str | None, str]] = []
    for rec in rows:
        if rec.category is None:  # excluded by the query; narrows the type
            continue
        try:
            text = "\n".join(p.get("text", "") for p in system.records.read_text_pages(rec))
        except DanganError:
            continue
        samples.append((text, rec.title, rec.category))
    if samples:
        model.train(samples)
    doc = json.dumps({"signature": signature, "model": model.to_json()}, ensure_ascii=False).encode()
    system.store.put(MODEL_KEY, [crypto.encrypt_bytes(system.settings.cipher_suite, system.derived_key("model"),
                                                      doc, MODEL_KEY.encode())])
    return model


def forget_cached(system: Dangan) -> None:
    """Delete the cached model (after a classifier-cache key rotation); it is retrained
    on the next classification. Tidiness only: under the new key the old entry is a miss
    anyway, so a store that cannot be reached now is no failure."""
    with contextlib.suppress(DanganError):
        system.store.delete(MODEL_KEY)
