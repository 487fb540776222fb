"""How the document-store adapters write: one profile per store, chosen by configuration
(`MUSTER_STORE_PROFILE`), invisible to application code.

- `mongodb`, the production setting: plain writes the store applies in place. Each append
  inserts its outbox marker and its commit with a write of its own, streams are read from
  the store, and counter cells are nested counts updated with `$inc` guarded by their
  marks.
- `ferretdb`, the development store's tuning (FerretDB 1.24 on SQLite, where every
  command costs a transaction on one writer per database and every field read costs
  microseconds): concurrent appends are written together (group commit), the commits this
  process stored are read from memory, and cells read only whole are packed into one
  compressed value replaced under a version guard.

Both profiles give the same results on both stores; the adapters' contract suites and
the store tests run under each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

StoreProfile = Literal["mongodb", "ferretdb"]


@dataclass(frozen=True)
class DocumentStoreOptions:
    """What the adapters do beyond plain reads and writes."""

    # Appends that arrive while a batch is being written are inserted together.
    group_commit: bool
    # Commits this process stored, kept for reads of their streams (0: none).
    recent_commits: int
    # Counter cells read only whole are stored packed (one compressed value).
    packed_counters: bool

    @classmethod
    def of(cls, profile: StoreProfile) -> DocumentStoreOptions:
        if profile == "ferretdb":
            return cls(group_commit=True, recent_commits=5_000, packed_counters=True)
        return cls(group_commit=False, recent_commits=0, packed_counters=False)
