"""Idempotent consumers: every effect is stored together with what was already applied.

Two ways, both safe under redelivery, restarts and replays:

* `VersionedDocuments` — one document per stream, written only if the event's stream
  version is newer than the document's (`_v`), in the same atomic update.
* `CounterCells` — counters shared by many streams (rollups). Each cell keeps a
  high-water mark per source topic-partition, advanced in the same update as the
  counters, so an offset is counted at most once per cell.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from muster_contracts.envelope import EventEnvelope
from muster_runtime.mongo import Document


@dataclass(frozen=True)
class ConsumedEvent:
    """An event as read from Kafka, with where it came from."""

    envelope: EventEnvelope
    topic: str
    partition: int
    offset: int

    @property
    def source(self) -> str:
        # Field names in MongoDB may not contain dots; topic names do.
        return f"{self.topic}:{self.partition}".replace(".", "_")


class VersionedDocuments:
    """Per-stream documents guarded by the stream version."""

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection

    async def apply(self, doc_id: str, version: int, update: Mapping[str, Any]) -> bool:
        """Apply `update` if `version` is newer than what the document has seen.

        Returns whether it was applied (False: a redelivery or replay of an old event).
        """
        update = dict(update)
        update["$set"] = {**update.get("$set", {}), "_v": version}
        try:
            result = await self.collection.update_one(
                {"_id": doc_id, "_v": {"$lt": version}}, update, upsert=True
            )
        except DuplicateKeyError:
            return False  # the document exists with _v >= version
        return bool(result.modified_count or result.upserted_id is not None)


@dataclass
class CellDelta:
    increments: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    on_insert: dict[str, Any] = field(default_factory=dict)


class CounterCells:
    """Counters in shared cells (e.g. one per area), applied exactly once per event."""

    MAX_ATTEMPTS = 20

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection

    async def apply(
        self, contributions: list[tuple[ConsumedEvent, str, Mapping[str, int], Mapping[str, Any]]]
    ) -> None:
        """Apply (event, cell id, increments, fields set on insert) contributions.

        Reads the cells' marks, counts only offsets above them, and writes each cell
        conditionally on the marks it read; a cell that moved meanwhile is retried.
        """
        remaining = contributions
        for _ in range(self.MAX_ATTEMPTS):
            if not remaining:
                return
            remaining = await self._attempt(remaining)
        raise RuntimeError(f"{self.collection.name}: cells kept changing under the consumer")

    async def _attempt(
        self, contributions: list[tuple[ConsumedEvent, str, Mapping[str, int], Mapping[str, Any]]]
    ) -> list[tuple[ConsumedEvent, str, Mapping[str, int], Mapping[str, Any]]]:
        cell_ids = list({cell for _, cell, _, _ in contributions})
        marks: dict[str, dict[str, int]] = {cid: {} for cid in cell_ids}
        exists: set[str] = set()
        async for doc in self.collection.find({"_id": {"$in": cell_ids}}, {"hwm": 1}):
            marks[doc["_id"]] = doc.get("hwm", {})
            exists.add(doc["_id"])

        deltas: dict[str, CellDelta] = defaultdict(CellDelta)
        new_marks: dict[str, dict[str, int]] = defaultdict(dict)
        by_cell: dict[str, list[Any]] = defaultdict(list)
        for item in contributions:
            event, cell, increments, on_insert = item
            by_cell[cell].append(item)
            if event.offset <= marks[cell].get(event.source, -1):
                continue  # already counted in this cell
            delta = deltas[cell]
            for name, amount in increments.items():
                delta.increments[name] += amount
            delta.on_insert.update(on_insert)
            new_marks[cell][event.source] = max(new_marks[cell].get(event.source, -1), event.offset)

        ops: list[UpdateOne] = []
        op_cells: list[str] = []
        for cell, delta in deltas.items():
            if not new_marks[cell]:
                continue
            guard: dict[str, Any] = {"_id": cell}
            for source in new_marks[cell]:
                old = marks[cell].get(source)
                guard[f"hwm.{source}"] = old if old is not None else {"$exists": False}
            update: dict[str, Any] = {
                "$inc": dict(delta.increments) or {"events": 0},
                "$set": {f"hwm.{s}": off for s, off in new_marks[cell].items()},
            }
            if delta.on_insert and cell not in exists:
                update["$setOnInsert"] = delta.on_insert
            ops.append(UpdateOne(guard, update, upsert=cell not in exists))
            op_cells.append(cell)
        if not ops:
            return []

        failed: set[str] = set()
        try:
            result = await self.collection.bulk_write(ops, ordered=False)
            applied = result.matched_count + result.upserted_count
        except BulkWriteError as exc:
            # A duplicate key means another consumer inserted the cell first: retry it.
            failed = {op_cells[e["index"]] for e in exc.details.get("writeErrors", [])}
            applied = exc.details.get("nMatched", 0) + exc.details.get("nUpserted", 0) + len(failed)
        if applied < len(ops):
            # Some guard did not match: we cannot tell which from a bulk result, so
            # re-read every cell; the ones already written now skip their offsets.
            return contributions
        return [item for cell in failed for item in by_cell[cell]]
