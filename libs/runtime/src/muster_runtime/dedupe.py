"""Drops events the relay published twice (at least once, at a later offset).

A relay that dies after Kafka acknowledged a batch but before marking it published sends
that batch again, right after the originals in the same partitions. Partition offsets
cannot tell such a repeat from a new event, so each consumer keeps, per source partition,
the ids of the last events it applied, and skips an event it has seen. The window is
written after the batch's effects: a crash in between redelivers the originals (same
offsets, skipped by the effects' own marks) before any repeat.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterable

from pymongo.errors import DuplicateKeyError

from muster_runtime.mongo import Database
from muster_runtime.projections import ConsumedEvent

# Ids remembered per partition: far more than one relay batch, which is what repeats.
WINDOW = 5000


class RepeatFilter:
    """Args:
    deferred: keep the windows in memory after their first read and write them only on
        `save` — for a single reader of every partition (a rebuild), never for a live
        consumer group, whose partitions move between processes.
    """

    def __init__(
        self, db: Database, group: str, window: int = WINDOW, *, deferred: bool = False
    ) -> None:
        self._windows = db["consumer_windows"]
        self._group = group
        self._size = window
        self._cache: dict[str, list[str]] | None = {} if deferred else None

    def _key(self, source: str) -> str:
        return f"{self._group}|{source}"

    async def _load(self, sources: Iterable[str]) -> dict[str, list[str]]:
        seen: dict[str, list[str]] = {}
        for source in sources:
            if self._cache is not None and source in self._cache:
                seen[source] = self._cache[source]
                continue
            doc = await self._windows.find_one({"_id": self._key(source)})
            if doc is None:
                # Insert first, so later writes are updates of a document that exists.
                with contextlib.suppress(DuplicateKeyError):
                    await self._windows.insert_one(
                        {"_id": self._key(source), "group": self._group, "ids": []}
                    )
                seen[source] = []
            else:
                seen[source] = list(doc["ids"])
        return seen

    async def fresh(
        self, events: list[ConsumedEvent]
    ) -> tuple[list[ConsumedEvent], dict[str, list[str]]]:
        """The events not applied before, and the windows to save once they are applied."""
        windows = await self._load({e.source for e in events})
        known = {source: set(ids) for source, ids in windows.items()}
        fresh: list[ConsumedEvent] = []
        added: dict[str, list[str]] = defaultdict(list)
        for event in events:
            event_id = str(event.envelope.event_id)
            if event_id in known[event.source]:
                continue
            known[event.source].add(event_id)
            added[event.source].append(event_id)
            fresh.append(event)
        updated = {s: (windows[s] + ids)[-self._size :] for s, ids in added.items()}
        return fresh, updated

    async def remember(self, updated: dict[str, list[str]]) -> None:
        if self._cache is not None:
            self._cache.update(updated)
            return
        await self._write(updated)

    async def save(self) -> None:
        """Write the windows kept in memory (deferred mode)."""
        if self._cache is not None:
            await self._write(self._cache)

    async def _write(self, updated: dict[str, list[str]]) -> None:
        for source, ids in updated.items():
            await self._windows.update_one({"_id": self._key(source)}, {"$set": {"ids": ids}})

    async def forget(self) -> None:
        """Start the windows afresh (a rebuild replays from the beginning)."""
        await self._windows.delete_many({"group": self._group})
