"""Keyset paging over a read model: a page ends at a (moment, id) key, and the next page
starts strictly after it, in the same order, however many documents arrive meanwhile."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from muster_runtime.mongo import ASCENDING, DESCENDING

# Where the previous page ended: its last document's moment and id.
PageKey = tuple[datetime, str]


def after_key(field: str, key: PageKey, *, descending: bool = False) -> dict[str, Any]:
    """The condition of the documents that come after `key` when sorted by `field`, `_id`."""
    beyond = "$lt" if descending else "$gt"
    return {"$or": [{field: {beyond: key[0]}}, {field: key[0], "_id": {beyond: key[1]}}]}


def key_order(field: str, *, descending: bool = False) -> list[tuple[str, int]]:
    """The sort that `after_key` pages through: by `field`, then `_id`, one direction."""
    direction = DESCENDING if descending else ASCENDING
    return [(field, direction), ("_id", direction)]
