"""Crypto-shredding: the one way a record's content leaves the archive.

The record's wrapped data key is forgotten in the caller's transaction, so once that
commits the ciphertext is unreadable wherever a copy of it lies (object store, a
backup of the objects). Deleting the objects afterwards is tidiness, idempotent and
safe to repeat after a crash. The row stays as a tombstone: 档号, title, category,
dates and hashes remain for the destruction register; the number is never reused.
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.orm import Session

from dangan.archive.models import BlindIndex, Outbox, Record
from dangan.archive.records import object_key
from dangan.archive.storage import ObjectStore
from dangan.errors import NotFound

DESTROYED = "destroyed"
OBJECT_KINDS = ("original", "text")


def object_keys(record_id: str) -> list[str]:
    return [object_key(record_id, kind) for kind in OBJECT_KINDS]


def forget_key(s: Session, rec: Record) -> None:
    """In the caller's transaction: key, blind-index tokens and index entry go; the row
    becomes a tombstone. Commit it before `purge_objects`."""
    rec.wrapped_dek = None
    rec.kek_id = None
    rec.has_text = False
    rec.status = DESTROYED
    s.execute(delete(BlindIndex).where(BlindIndex.record_id == rec.id))
    s.add(Outbox(record_id=rec.id, op="delete"))


def purge_objects(store: ObjectStore, record_id: str) -> int:
    """Delete whatever objects of the record remain; returns how many were there."""
    removed = 0
    for key in object_keys(record_id):
        try:
            if store.exists(key):
                store.delete(key)
                removed += 1
        except NotFound:
            pass
    return removed


def remaining_objects(store: ObjectStore, record_id: str) -> list[str]:
    """The record's objects still in storage (empty once it is fully destroyed)."""
    return [key for key in object_keys(record_id) if store.exists(key)]
