"""Areas admins added (dispatch's `AreaAdded` events), for a service that consumes them.

Each is kept in the service's own small `reference_areas` collection (inserted by `_id`, so
a redelivered event changes nothing) and added to its in-memory tree. At start the tree is
the packaged file, then what the collection holds; events are applied only after that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from pymongo.errors import DuplicateKeyError

from muster_contracts.areas import AreaTree, AreaTreeError
from muster_contracts.events.areas import AreaAdded
from muster_runtime.mongo import Database
from muster_runtime.projections import ConsumedEvent, of_type

log = logging.getLogger(__name__)


class ReferenceAreas:
    """Applies `AreaAdded` to `areas` and keeps it across restarts."""

    def __init__(self, db: Database, areas: AreaTree) -> None:
        self._collection = db["reference_areas"]
        self.areas = areas
        self.loaded = asyncio.Event()

    async def load(self) -> None:
        """Add the stored areas to the tree, parents first (once, at start)."""
        stored = [doc async for doc in self._collection.find({})]
        for doc in sorted(stored, key=lambda d: (len(d["_id"]), d["_id"])):
            if doc["_id"] in self.areas:
                continue  # a later seed file holds it
            try:
                self.areas.add(doc["_id"], doc["name"])
            except AreaTreeError:
                log.exception("a stored area does not fit the tree", extra={"area_id": doc["_id"]})
        self.loaded.set()

    async def apply(self, events: list[ConsumedEvent]) -> None:
        # Not before the stored areas: a child must not arrive before its stored parent.
        await self.loaded.wait()
        for consumed, event in of_type(events, AreaAdded):
            with contextlib.suppress(DuplicateKeyError):
                await self._collection.insert_one(
                    {
                        "_id": event.area_id,
                        "name": event.name,
                        "added_at": consumed.envelope.recorded_at,
                    }
                )
            if event.area_id not in self.areas:
                # One ordered stream: its parent came first. If not (another seed file),
                # this raises and the event is set aside, to be re-driven once it fits.
                self.areas.add(event.area_id, event.name)
