"""Errors a user can act on.

Every refusal or failure that reaches a person is a `DanganError` whose message is one
sentence saying what went wrong and, where it helps, what to do. The CLI prints it on
stderr and exits 1; the web app turns it into `{"error": ...}` with the matching status.
"""

from __future__ import annotations


class DanganError(Exception):
    """Base class: an operation was refused or failed for a reason the user can read."""

    http_status = 400


class InvalidInput(DanganError):
    """The input (a code, a file, a date, a setting) is malformed or unsupported."""

    http_status = 400


class NotFound(DanganError):
    """The named record, user, project or object does not exist."""

    http_status = 404


class PermissionDenied(DanganError):
    """The acting user lacks the role or clearance for the operation."""

    http_status = 403


class Conflict(DanganError):
    """The operation contradicts the current state (duplicate, already exists, on hold)."""

    http_status = 409


class IntegrityError(DanganError):
    """Stored content failed authentication: tampered, truncated, reordered or misplaced."""

    http_status = 500
