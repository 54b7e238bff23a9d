"""The `dangan` command line (CONTRACT.md). Thin: parse, call a service, print."""

from dangan.cli import admin, ingest, records, search, web  # noqa: F401  (register their commands)
from dangan.cli.base import main

__all__ = ["main"]
