"""The seen-events port on the document store: drops events the relay published twice (at
least once, at a later offset).

A relay that dies after Kafka acknowledged a batch but before marking it published sends
that batch again, right after the originals in the same partitions. Partition offsets
cannot tell such a repeat from a new event, so each consumer keeps, per source partition,
the ids of the last events it applied, and skips an event it has seen. The window is
written after the batch's effects: a crash in between redelivers the originals (same
offsets, skipped by the effects' own marks) before any repeat.

A window is stored as a ring of `CHUNKS` small documents of `CHUNK` ids each (16 bytes an
id), so a batch rewrites only the chunk its ids went into, never the whole window (a
document update rewrites the whole document: a 5,000-id array cost the development store
tens of milliseconds to read and as much to write, every batch). A live consumer keeps its
partitions' windows in memory while it reads them on: a batch that starts where the last
one it applied ended needs no read. One that does not (the first, one after a rebalance
moved the partition, one redelivered after a failure) reads the window from the store.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from bson import Binary
from pymongo.errors import DuplicateKeyError

from muster_runtime.mongo import Database, Document
from muster_runtime.ports.seen_events import (
    SEEN_WINDOW,
    D,
    Seen,
    SeenEvents,
    unseen,
)
from muster_runtime.ports.seen_events import event_id_bytes as _id_bytes

# Ids remembered per partition, at least: far more than one relay batch, which is what repeats.
WINDOW = SEEN_WINDOW
# Ids per stored chunk, and chunks in a partition's ring (one more than the window needs:
# the chunk being filled may hold few).
CHUNK = 250
CHUNKS = WINDOW // CHUNK + 1
ID_BYTES = 16


@dataclass
class _Window:
    """One partition's last ids, oldest first: `ids[k]` is the `base + k`-th ever stored."""

    ids: list[bytes]
    base: int
    # Ring slots whose chunk document exists.
    stored: set[int]
    # Where the next batch starts if it continues the last one applied here (None: unknown).
    next_offset: int | None = None
    known: set[bytes] = field(init=False)

    def __post_init__(self) -> None:
        self.known = set(self.ids)

    @property
    def count(self) -> int:
        return self.base + len(self.ids)

    def add(self, ids: list[bytes]) -> range:
        """Add `ids`; returns the numbers of the chunks they went into."""
        first = self.count
        self.ids.extend(ids)
        self.known.update(ids)
        excess = len(self.ids) - CHUNKS * CHUNK
        if excess > 0:
            self.known.difference_update(self.ids[:excess])
            del self.ids[:excess]
            self.base += excess
        return range(first // CHUNK, (self.count - 1) // CHUNK + 1) if ids else range(0)

    def chunk(self, number: int) -> bytes:
        """The ids of chunk `number` (sequence numbers from `number * CHUNK` on)."""
        start = max(number * CHUNK - self.base, 0)
        return b"".join(self.ids[start : (number + 1) * CHUNK - self.base])

    def holds(self, number: int) -> bool:
        """Whether chunk `number` is whole here (not partly forgotten) and not written over
        in the ring by a later one."""
        return number * CHUNK >= self.base and number > (self.count - 1) // CHUNK - CHUNKS


def _window_of(chunks: list[Document], legacy: Document | None) -> _Window:
    """The window from its stored chunks (and a window stored before they were chunked)."""
    top = max((int(d["first"]) + len(d["ids"]) // ID_BYTES for d in chunks), default=0)
    ids: list[bytes] = []
    base = top
    # The run of chunks that ends at the top, newest first: a gap ends it.
    for doc in sorted(chunks, key=lambda d: -int(d["first"])):
        held = bytes(doc["ids"])
        if int(doc["first"]) + len(held) // ID_BYTES != base or len(ids) >= WINDOW:
            break
        ids = [held[k : k + ID_BYTES] for k in range(0, len(held), ID_BYTES)] + ids
        base = int(doc["first"])
    if legacy is not None and len(ids) < WINDOW:
        older: list[bytes] = []
        for event_id in legacy.get("ids", []):
            with contextlib.suppress(ValueError):
                older.append(_id_bytes(event_id))
        older = older[max(len(older) - (WINDOW - len(ids)), 0) :]
        ids = older + ids
        base -= len(older)
    return _Window(ids, base, set())


class RepeatFilter(SeenEvents):
    """Args:
    deferred: keep the windows in memory after their first read and write them only on
        `save` — for a single reader of every partition (a rebuild), never for a live
        consumer group, whose partitions move between processes.
    """

    def __init__(self, db: Database, group: str, *, deferred: bool = False) -> None:
        self._chunks = db["consumer_windows"]
        self._group = group
        self._deferred = deferred
        self._windows: dict[str, _Window] = {}
        # Deferred mode: the chunks changed since the last `save`.
        self._unsaved: dict[str, set[int]] = {}

    def _chunk_key(self, source: str, slot: int) -> str:
        return f"{self._group}|{source}#{slot}"

    async def _load(self, source: str) -> _Window:
        keys = {self._chunk_key(source, slot): slot for slot in range(CHUNKS)}
        legacy_key = f"{self._group}|{source}"  # one document of id strings, as before
        found = self._chunks.find({"_id": {"$in": [*keys, legacy_key]}})
        docs = {d["_id"]: d async for d in found}
        window = _window_of([d for k, d in docs.items() if k in keys], docs.get(legacy_key))
        window.stored = {keys[k] for k in docs if k in keys}
        return window

    async def fresh(
        self, events: list[D], batch: Mapping[str, range] | None = None
    ) -> tuple[list[D], Seen]:
        """The events not applied before, and what to `remember` once they are applied.

        `batch`: per source, the offsets the batch's records span (`batch_offsets`); a
        window kept in memory is used for a batch that continues the last one remembered.
        """
        windows: dict[str, _Window] = {}
        for source in {e.source for e in events}:
            window = self._windows.get(source)
            span = batch.get(source) if batch is not None else None
            continues = window is not None and (
                self._deferred or (span is not None and window.next_offset == span.start)
            )
            if window is None or not continues:
                window = self._windows[source] = await self._load(source)
            windows[source] = window
        ends = {s: span.stop for s, span in (batch or {}).items()}
        return unseen(events, {s: w.known for s, w in windows.items()}, ends)

    async def remember(self, seen: Seen) -> None:
        for source, ids in seen.ids.items():
            window = self._windows[source]
            chunks = window.add(ids)
            if self._deferred:
                self._unsaved.setdefault(source, set()).update(chunks)
                continue
            try:
                for number in chunks:
                    await self._write(source, window, number)
            except BaseException:
                del self._windows[source]  # memory is ahead of the store: read it again
                raise
        for source, next_offset in seen.next_offsets.items():
            if source in self._windows:
                self._windows[source].next_offset = next_offset

    async def save(self) -> None:
        """Write the windows kept in memory (deferred mode)."""
        for source, chunks in self._unsaved.items():
            window = self._windows[source]
            for number in sorted(n for n in chunks if window.holds(n)):
                await self._write(source, window, number)
        self._unsaved = {}

    async def _write(self, source: str, window: _Window, number: int) -> None:
        slot = number % CHUNKS
        key = self._chunk_key(source, slot)
        fields: Document = {"first": number * CHUNK, "ids": Binary(window.chunk(number))}
        if slot not in window.stored:
            # Insert first, so later writes are updates of a document that exists.
            with contextlib.suppress(DuplicateKeyError):
                await self._chunks.insert_one({"_id": key, "group": self._group, **fields})
                window.stored.add(slot)
                return
            window.stored.add(slot)
        await self._chunks.update_one({"_id": key}, {"$set": fields})

    async def forget(self) -> None:
        """Start the windows afresh (a rebuild replays from the beginning)."""
        await self._chunks.delete_many({"group": self._group})
        self._windows = {}
        self._unsaved = {}
