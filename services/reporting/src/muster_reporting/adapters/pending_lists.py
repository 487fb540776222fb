"""The lists of pending activities in the document store: one document per area, its
activities packed in one compressed value, written guarded by its version and counted once per
event (see `application/pending_activities.py` for what a list holds)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence

from muster_reporting.application.pending_activities import (
    Listed,
    PendingActivity,
    PendingChange,
    apply_above_marks,
)
from muster_reporting.application.ports import PendingLists
from muster_runtime.adapters.mongodb.bulk_documents import BulkFolded, by_ids
from muster_runtime.adapters.mongodb.packed_json import pack_json, unpack_json
from muster_runtime.mongo import Database, Document, insert_absent

COLLECTION = "pending_activities"


class PendingActivities(BulkFolded[Listed], PendingLists):
    """The lists of pending activities, one document per area."""

    MAX_ATTEMPTS = 20
    BACKOFF_SECONDS = 0.002

    def __init__(self, db: Database) -> None:
        self.collection = db[COLLECTION]
        self._buffer: dict[str, Listed] | None = None

    @staticmethod
    def _document(area_id: str, listed: Listed, version: int = 0) -> Document:
        return {
            "_id": area_id,
            "hwm": dict(listed.hwm),
            "v": version,
            "activities": pack_json(listed.activities),
        }

    def _folded(self, document: Document) -> Listed:
        return Listed(
            unpack_json(document["activities"]),
            dict(document.get("hwm", {})),
            int(document.get("v", 0)),
        )

    async def _read(self, area_ids: Sequence[str]) -> dict[str, Listed]:
        if self._buffer is not None:
            await self._read_back(area_ids)
            return {a: self._buffer[a] for a in area_ids if a in self._buffer}
        found: dict[str, Listed] = {}
        async for document in self.collection.find(by_ids(area_ids)):
            found[document["_id"]] = self._folded(document)
        return found

    async def of_area(self, area_id: str) -> list[PendingActivity]:
        """The activities pending in an area and beneath it: one read by `_id`."""
        listed = (await self._read([area_id])).get(area_id)
        return [] if listed is None else listed.pending()

    async def apply(self, changes: Sequence[PendingChange]) -> None:
        if not changes:
            return
        if self._buffer is not None:
            await self._read_back(change.area_id for change in changes)
            apply_above_marks(changes, self._buffer)
            return
        remaining = changes
        for attempt in range(self.MAX_ATTEMPTS):
            if attempt:  # writers that keep meeting on a list draw apart
                await asyncio.sleep(random.uniform(0, min(self.BACKOFF_SECONDS * 2**attempt, 0.5)))
            remaining = await self._attempt(remaining)
            if not remaining:
                return
        raise RuntimeError(f"{COLLECTION}: lists kept changing under the writer")

    async def _attempt(self, changes: Sequence[PendingChange]) -> list[PendingChange]:
        """Read the lists, change them, write each guarded by its version; returns the
        changes to lists another writer took or moved meanwhile."""
        ids = list(dict.fromkeys(change.area_id for change in changes))
        found = await self._read(ids)
        new = {a: Listed() for a in ids if a not in found}
        changed = apply_above_marks(changes, found | new)
        missed: set[str] = set()
        if new:
            documents = [self._document(a, listed, 0) for a, listed in new.items()]
            taken = await insert_absent(self.collection, documents)
            missed.update(documents[i]["_id"] for i in taken)

        async def write(area_id: str) -> None:
            listed = found[area_id]
            version = listed.version or 0
            result = await self.collection.replace_one(
                {"_id": area_id, "v": version}, self._document(area_id, listed, version + 1)
            )
            if result.matched_count == 0:
                missed.add(area_id)

        await asyncio.gather(*(write(a) for a in found if a in changed))
        return [change for change in changes if change.area_id in missed]
