"""The retention service: due list, appraisal, legal holds, destruction batches, execution,
the destruction register and its verification. The CLI, the API and the pages call this.

Rules it keeps:
- every state change writes its audit entry in the change's own transaction;
- a record is destroyed only from an approved batch, by an executor other than the
  supervisor, after every record of the batch passed the re-checks (due, appraised
  "destroy", not permanent, not on hold, not on loan, not already destroyed) — otherwise
  the whole batch is refused, naming the records;
- the maker of a batch never approves it; a hold added to a record of an approved batch
  voids the approval (the manager approved a set of facts that no longer holds);
- destruction is crypto-shredding: per record, in one transaction, the data key is
  forgotten, the row becomes a tombstone, the register row and the audit entry are
  written; objects and index entries are deleted after the commit. A crash leaves the
  batch "executing"; running execute again purges every record of the batch again
  (idempotent) and shreds the rest, so nothing is half-destroyed or skipped.
"""

from __future__ import annotations

from dangan.retention.appraisal import Appraisals
from dangan.retention.base import (  # noqa: F401  (re-exported for the CLI, the pages and tests)
    CHUNK,
    DECISION_NAMES,
    DECISIONS,
    STATES,
    IndexGetter,
    OnLoan,
    no_loans,
)
from dangan.retention.destruction import Destruction
from dangan.retention.due import DueList
from dangan.retention.holds import Holds
from dangan.retention.registry import RegisterBook


class RetentionService(DueList, Appraisals, Holds, Destruction, RegisterBook):
    """One service behind the CLI, the API and the pages; its parts live in the modules
    named after them (due, appraisal, holds, destruction, registry), its hooks and shared
    lookups in `base`."""
