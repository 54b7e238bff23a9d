"""The `dangan` command line (CONTRACT.md). Thin: parse, call a service, print."""

from dangan.cli import admin, backup, handover, ingest, loans, records, retention, search, web, worker  # noqa: F401  (register their commands)
from dangan.cli.base import main

__all__ = ["main"]
