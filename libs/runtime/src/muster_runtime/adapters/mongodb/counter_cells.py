"""Counter cells on the document store: counters shared by many streams (rollups), each
event counted at most once per cell, safe under redelivery, restarts and replays.

* `CounterCells` — each cell keeps a high-water mark per source topic-partition, advanced
  in the same update as the counters, so an offset is counted at most once per cell. The
  update is guarded by the marks the consumer expects (those it last wrote or read, kept
  in memory): a cell another consumer moved meanwhile fails the guard and is read again
  and retried.
* `PackedCounters` — counter cells read only whole, their counts packed in one
  compressed value (`pack_json`): the same marks, written by replacing the document
  guarded by its version.

A rebuild counts either in memory (`buffer` … `flush`); when it writes in parts (`spill`),
a cell an earlier part wrote gets a later part's counts added (`$inc`, or the packed
counts read, added and replaced), never replaced by them.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError
from pymongo.operations import ReplaceOne, UpdateOne

from muster_runtime.adapters.mongodb.bulk_documents import BulkFolded, by_ids
from muster_runtime.adapters.mongodb.packed_json import pack_json, unpack_json
from muster_runtime.mongo import Document, insert_absent
from muster_runtime.projections import Contribution, add_nested, count_above_marks


@dataclass
class _BufferedCell:
    on_insert: dict[str, Any]
    counts: dict[str, int] = field(default_factory=dict)
    hwm: dict[str, int] = field(default_factory=dict)

    def document(self, cell_id: str) -> Document:
        document: Document = {"_id": cell_id, "hwm": dict(self.hwm), **self.on_insert}
        add_nested(document, self.counts)
        return document

    def merged_into(self, stored: Document) -> Document:
        """The cell an earlier part of a rebuild wrote (`stored`, whole) with this part's
        counts added, its fields set and its marks raised."""
        document = dict(stored)
        hwm = dict(document.get("hwm", {}))
        for source, offset in self.hwm.items():
            hwm[source] = max(hwm.get(source, -1), offset)
        document["hwm"] = hwm
        document.update(self.on_insert)
        add_nested(document, self.counts)
        return document

    def update(self) -> Document | None:
        """The update that merges this part's counts, fields and marks into the cell an
        earlier part of a rebuild wrote (None: nothing to merge)."""
        update: Document = {}
        if self.counts:
            update["$inc"] = dict(self.counts)
        if self.on_insert:
            update["$set"] = dict(self.on_insert)
        if self.hwm:
            update["$max"] = {f"hwm.{source}": offset for source, offset in self.hwm.items()}
        return update or None


class CounterCells(BulkFolded["_BufferedCell"]):
    """Counters in shared cells (e.g. one per area), applied exactly once per event."""

    MAX_ATTEMPTS = 20
    # Cells remembered to exist (a bucket per minute would grow it without end): forgetting
    # one costs only a failed insert before its update.
    MAX_KNOWN = 100_000
    # Cells whose marks are remembered; past it the memory starts again (reads return).
    MAX_REMEMBERED = 100_000
    # Cell updates in flight at once. Four: since the development store queues a
    # database's writes in Go (FerretDB patch 0003) instead of in SQLite's busy handler,
    # updates in flight overlap their round trips and encoding (`tools.reporting_store_cost`,
    # 5,000 events live: 163/169 events/s with one in flight, 209/201 with four, 207 with
    # eight; with one it was the faster before that patch). MongoDB gains from more.
    CONCURRENCY = 4

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection
        self.concurrency = self.CONCURRENCY
        self._known: set[str] = set()
        self._buffer: dict[str, _BufferedCell] | None = None
        # Each cell's marks as this consumer last wrote or read them: the guard of its next
        # update, so a batch needs no reads. Never ahead of the store (marks only rise), so
        # a stale entry only fails the guard; the cell is then read and retried.
        self._marks: dict[str, dict[str, int]] = {}

    def _document(self, doc_id: str, folded: _BufferedCell) -> Document:
        """A folded cell as live counting would hold it."""
        return folded.document(doc_id)

    def _merge(self, stored: Document, doc_id: str, folded: _BufferedCell) -> UpdateOne | None:
        update = folded.update()
        return None if update is None else UpdateOne({"_id": doc_id}, update)

    def _count_in_buffer(
        self, contributions: Sequence[Contribution], buffer: dict[str, _BufferedCell]
    ) -> None:
        for _, cell_id, _, on_insert in contributions:
            if cell_id not in buffer:
                buffer[cell_id] = _BufferedCell(dict(on_insert))
        count_above_marks(contributions, buffer)

    async def _ensure(self, cells: dict[str, Mapping[str, Any]]) -> None:
        """Create the cells not known to exist, as stubs (insert first: no empty queries)."""
        for cell, on_insert in cells.items():
            if cell in self._known:
                continue
            with contextlib.suppress(DuplicateKeyError):
                await self.collection.insert_one({"_id": cell, "hwm": {}, **on_insert})
            self._known.add(cell)

    async def set_fields(self, cells: Mapping[str, Mapping[str, Any]]) -> set[str]:
        """Set plain fields on cells, whether or not they exist yet (idempotent, no
        counting): the cells not known to exist in one bulk insert, the others updated.

        Returns the cells this call created (holding just these fields and no counts).
        """
        if self._buffer is not None:
            for cell_id, fields in cells.items():
                self._buffer.setdefault(cell_id, _BufferedCell({})).on_insert.update(fields)
            return set()
        existing = [c for c in cells if c in self._known]
        new = [c for c in cells if c not in self._known]
        created: set[str] = set()
        if new:
            taken = await insert_absent(
                self.collection, [{"_id": c, "hwm": {}, **cells[c]} for c in new]
            )
            existing += [new[i] for i in sorted(taken)]
            created = {new[i] for i in range(len(new)) if i not in taken}
            self._known.update(new)
        for cell_id in existing:
            await self.collection.update_one({"_id": cell_id}, {"$set": dict(cells[cell_id])})
        return created

    async def read(
        self, cell_ids: list[str], projection: Mapping[str, Any] | None = None
    ) -> list[Document]:
        """The existing cells among `cell_ids`, in no particular order: one query by `_id`
        (`$in`, served by the `_id` index; on the development store since FerretDB patch
        0001). One query, not a point read per cell: 25 bucket documents of 50,000 took p50
        4.5 ms, p99 9 ms, against 8.5 and 15 ms for 25 concurrent point reads.

        While buffering, what was counted so far (whole cells): in memory, added to what
        earlier parts wrote.
        """
        buffer = self._buffer
        if buffer is not None and not self._spilled:
            return [buffer[c].document(c) for c in cell_ids if c in buffer]
        if not cell_ids:
            return []
        if buffer is None:
            return [d async for d in self.collection.find(by_ids(cell_ids), projection)]
        stored = {d["_id"]: d async for d in self.collection.find(by_ids(cell_ids))}
        cells: list[Document] = []
        for cell_id in cell_ids:
            cell, document = buffer.get(cell_id), stored.get(cell_id)
            if cell is not None:
                cells.append(
                    cell.document(cell_id) if document is None else cell.merged_into(document)
                )
            elif document is not None:
                cells.append(document)
        return cells

    async def apply(self, contributions: Sequence[Contribution]) -> dict[str, Document]:
        """Apply (event, cell id, increments, fields set on insert) contributions.

        Counts only offsets above the cells' marks (remembered, or read once), and writes
        each cell conditionally on them; a cell that moved meanwhile is read and retried.
        Returns the cells this call created whole, as it created them (no read needed to
        know what they held then).
        """
        created: dict[str, Document] = {}
        if self._buffer is not None:
            self._count_in_buffer(contributions, self._buffer)
            return created
        if len(self._marks) > self.MAX_REMEMBERED:
            self._marks.clear()
        remaining = await self._insert_new(contributions, created)
        for _ in range(self.MAX_ATTEMPTS):
            if not remaining:
                return created
            remaining = await self._attempt(remaining)
        raise RuntimeError(f"{self.collection.name}: cells kept changing under the consumer")

    async def _insert_new(
        self, contributions: Sequence[Contribution], created: dict[str, Document]
    ) -> Sequence[Contribution]:
        """Insert the cells not known to exist whole, counts and marks included: one write,
        no read, no update. A cell that exists after all (another writer, an earlier run)
        is left to the usual read-and-update path."""
        new: dict[str, _BufferedCell] = {}
        for event, cell_id, increments, on_insert in contributions:
            if cell_id in self._known:
                continue
            cell = new.setdefault(cell_id, _BufferedCell(dict(on_insert)))
            for name, amount in increments.items():
                cell.counts[name] = cell.counts.get(name, 0) + amount
            cell.hwm[event.source] = max(cell.hwm.get(event.source, -1), event.offset)
        if not new:
            return contributions
        ids = list(new)
        documents = [new[c].document(c) for c in ids]
        taken = await insert_absent(self.collection, documents)
        existing = {ids[i] for i in taken}
        created.update((ids[i], documents[i]) for i in range(len(ids)) if i not in taken)
        if len(self._known) + len(ids) > self.MAX_KNOWN:
            self._known.clear()
        self._known.update(ids)
        for cell_id in ids:
            if cell_id not in existing:
                self._marks[cell_id] = dict(new[cell_id].hwm)
        return [c for c in contributions if c[1] not in new or c[1] in existing]

    async def _attempt(self, contributions: Sequence[Contribution]) -> list[Contribution]:
        """Count above the expected marks and write each cell guarded by them; returns the
        contributions to cells whose guard missed (their marks are read again next time)."""
        await self._ensure({cell: on_insert for _, cell, _, on_insert in contributions})
        unknown = list({cell for _, cell, _, _ in contributions if cell not in self._marks})
        for cell in unknown:
            self._marks[cell] = {}
        for doc in await self.read(unknown, {"hwm": 1}):
            self._marks[doc["_id"]] = doc.get("hwm", {})

        deltas: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        new_marks: dict[str, dict[str, int]] = defaultdict(dict)
        for event, cell, increments, _ in contributions:
            if event.offset <= self._marks[cell].get(event.source, -1):
                continue  # already counted in this cell
            for name, amount in increments.items():
                deltas[cell][name] += amount
            new_marks[cell][event.source] = max(new_marks[cell].get(event.source, -1), event.offset)

        limit = asyncio.Semaphore(self.concurrency)

        async def write(cell: str) -> bool:
            marks = self._marks[cell]
            guard: dict[str, Any] = {"_id": cell}
            for source in new_marks[cell]:
                old = marks.get(source)
                guard[f"hwm.{source}"] = old if old is not None else {"$exists": False}
            update: dict[str, Any] = {
                "$inc": dict(deltas[cell]),
                "$set": {f"hwm.{s}": off for s, off in new_marks[cell].items()},
            }
            async with limit:
                result = await self.collection.update_one(guard, update)
            if result.matched_count == 0:
                # Another consumer wrote it since: forget the marks, read them again.
                self._marks.pop(cell, None)
                return False
            marks.update(new_marks[cell])
            return True

        cells = list(deltas)
        written = await asyncio.gather(*(write(cell) for cell in cells))
        moved = {cell for cell, ok in zip(cells, written, strict=True) if not ok}
        return [item for item in contributions if item[1] in moved]


@dataclass
class PackedCell:
    """A packed cell as read: counts by dotted name, marks, and the version its next write
    is guarded by (None: a document in the unpacked form, see `unpack`)."""

    counts: dict[str, int]
    hwm: dict[str, int]
    version: int | None

    def nested(self) -> dict[str, Any]:
        """The counts as nested documents, as a cell in the unpacked form holds them."""
        nested: dict[str, Any] = {}
        add_nested(nested, self.counts)
        return nested


class PackedCounters(BulkFolded["PackedCell"]):
    """Counter cells whose counts are stored packed: one compressed JSON value in bytes per
    document (`{_id, hwm, v, counts}`, see `pack_json`; BSON binary on MongoDB), applied
    exactly once per event as `CounterCells` are, for cells that are only ever read whole
    by `_id`, never queried or projected inside (the service rollup's cells, the as-of
    history's buckets).

    Why: a store decodes a value of bytes at once where it decodes a document's counts
    field by field, and rewrites it whole either way (FerretDB decodes and encodes the
    whole document on every `$inc`): 25 documents of 130 counts by `_id`, p50 50–52 ms
    unpacked, 3.0–4.5 ms packed; counting into one, 4.0–4.8 ms as `$inc`, 3.1–3.5 ms as a
    read and a guarded write; one event into each of 25 such cells (a batch's service
    record), p50 69–76 ms as `$inc`, 30–31 ms packed (`tools.store_packed_cells`).

    A write is a read, the counts above the cell's marks (`count_above_marks`), and the
    document replaced only if its version `v` is still the one read; a cell another writer
    moved meanwhile is read and counted again. So several writers (processes) are safe, and
    a redelivered event counts once per cell.

    Documents in the unpacked form (counts as nested fields, written by versions before
    this class) are read as they are and packed by their next write; no writer of that
    earlier version may run beside this one.
    """

    MAX_ATTEMPTS = CounterCells.MAX_ATTEMPTS
    CONCURRENCY = CounterCells.CONCURRENCY  # writes in flight, for the same reasons
    # Before attempt n (from 1), a wait of up to this × 2ⁿ seconds (at most 0.5 s), drawn
    # at random: writers whose guards keep missing on the same cells draw apart.
    BACKOFF_SECONDS = 0.002
    # Ids per read: one `$in` query each (served by the `_id` index).
    READ_CHUNK = 500

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection
        self.concurrency = self.CONCURRENCY
        self._buffer: dict[str, PackedCell] | None = None

    # A later part of a rebuild adds its counts to what an earlier one wrote: all of it.
    MERGE_READS = None

    def _document(self, doc_id: str, folded: PackedCell) -> Document:
        """A folded cell at version 0: the counts and marks live counting would have left."""
        return self.document(doc_id, folded.counts, folded.hwm)

    def _merge(self, stored: Document, doc_id: str, folded: PackedCell) -> ReplaceOne[Document]:
        cell = merged(unpack(stored), folded)
        return ReplaceOne(
            {"_id": doc_id}, self.document(doc_id, cell.counts, cell.hwm, (cell.version or 0) + 1)
        )

    @staticmethod
    def document(
        cell_id: str, counts: Mapping[str, int], hwm: Mapping[str, int], version: int = 0
    ) -> Document:
        """A packed cell's document (a new one: version 0)."""
        return {"_id": cell_id, "hwm": dict(hwm), "v": version, "counts": pack_json(counts)}

    async def read(self, cell_ids: Sequence[str]) -> dict[str, PackedCell]:
        """The existing cells among `cell_ids`, unpacked (while buffering, what was
        counted so far: in memory, added to what earlier parts wrote)."""
        buffer = self._buffer
        if buffer is not None:
            folded = {c: buffer[c] for c in cell_ids if c in buffer}
            if not self._spilled:
                return folded
            stored = await self._read_stored(cell_ids)
            return {
                c: merged(stored[c], folded[c])
                if c in stored and c in folded
                else folded.get(c) or stored[c]
                for c in cell_ids
                if c in folded or c in stored
            }
        return await self._read_stored(cell_ids)

    async def _read_stored(self, cell_ids: Sequence[str]) -> dict[str, PackedCell]:
        cells: dict[str, PackedCell] = {}
        for start in range(0, len(cell_ids), self.READ_CHUNK):
            found = self.collection.find(by_ids(cell_ids[start : start + self.READ_CHUNK]))
            cells.update([(d["_id"], unpack(d)) async for d in found])
        return cells

    async def apply(self, contributions: Sequence[Contribution]) -> None:
        """Apply (event, cell id, increments, -) contributions (no fields are set on
        insert: a packed cell holds counts only)."""
        if any(on_insert for *_, on_insert in contributions):
            raise ValueError("packed cells hold counts only: nothing can be set on insert")
        if self._buffer is not None:
            for _, cell_id, _, _ in contributions:
                if cell_id not in self._buffer:
                    self._buffer[cell_id] = PackedCell({}, {}, None)
            count_above_marks(contributions, self._buffer)
            return
        remaining = contributions
        for attempt in range(self.MAX_ATTEMPTS):
            if not remaining:
                return
            if attempt:  # writers that keep meeting on a cell draw apart
                await asyncio.sleep(random.uniform(0, min(self.BACKOFF_SECONDS * 2**attempt, 0.5)))
            remaining = await self._attempt(remaining)
        raise RuntimeError(f"{self.collection.name}: cells kept changing under the writer")

    async def _attempt(self, contributions: Sequence[Contribution]) -> list[Contribution]:
        """Read the cells, count, write each guarded by its version; returns the
        contributions to cells another writer took or moved meanwhile."""
        ids = list(dict.fromkeys(cell_id for _, cell_id, _, _ in contributions))
        found = await self.read(ids)
        new = {c: PackedCell({}, {}, None) for c in ids if c not in found}
        cells = found | new  # counted in place
        changed = count_above_marks(contributions, cells)
        missed: set[str] = set()
        if new:
            documents = [self.document(c, cell.counts, cell.hwm) for c, cell in new.items()]
            taken = await insert_absent(self.collection, documents)
            missed.update(documents[i]["_id"] for i in taken)
        limit = asyncio.Semaphore(self.concurrency)

        async def write(cell_id: str) -> None:
            cell = found[cell_id]
            guard: dict[str, Any] = {"_id": cell_id}
            guard["v"] = cell.version if cell.version is not None else {"$exists": False}
            document = self.document(cell_id, cell.counts, cell.hwm, (cell.version or 0) + 1)
            async with limit:
                result = await self.collection.replace_one(guard, document)
            if result.matched_count == 0:
                missed.add(cell_id)

        await asyncio.gather(*(write(c) for c in found if c in changed))
        return [item for item in contributions if item[1] in missed]


def merged(stored: PackedCell, folded: PackedCell) -> PackedCell:
    """A cell an earlier part of a rebuild wrote with a later part's counts added and its
    marks raised (its version the stored one)."""
    counts = dict(stored.counts)
    for name, amount in folded.counts.items():
        counts[name] = counts.get(name, 0) + amount
    hwm = dict(stored.hwm)
    for source, offset in folded.hwm.items():
        hwm[source] = max(hwm.get(source, -1), offset)
    return PackedCell(counts, hwm, stored.version)


def unpack(document: Document) -> PackedCell:
    """A packed cell's document as counts by dotted name; a document in the unpacked form
    (its counts nested beside `_id` and `hwm`) as the same."""
    hwm = dict(document.get("hwm", {}))
    packed = document.get("counts")
    if isinstance(packed, bytes):
        return PackedCell(unpack_json(packed), hwm, int(document.get("v", 0)))
    counts: dict[str, int] = {}

    def flatten(fields: Mapping[str, Any], prefix: str) -> None:
        for key, value in fields.items():
            if isinstance(value, Mapping):
                flatten(value, f"{prefix}{key}.")
            elif isinstance(value, int) and not isinstance(value, bool):  # counts are whole
                counts[f"{prefix}{key}"] = value

    flatten({k: v for k, v in document.items() if k not in ("_id", "hwm")}, "")
    return PackedCell(counts, hwm, None)
