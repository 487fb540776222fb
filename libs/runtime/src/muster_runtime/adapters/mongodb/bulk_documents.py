"""Writing and reading many documents of one collection at once: bulk inserts a few chunks
in flight (what a rebuild's `flush` does), reads by many ids in one query, and the ids a
process knows exist (an insert it may skip).

A rebuild folds the log in memory in parts: when its folds (`BulkFolded` and the like,
gathered by `Folds` while `FOLDS` is set) hold more than a limit of documents, each writes
what it holds and frees it (`spill`), and folds on. A document met again after that is
merged with what was written: a fold that adds (counts) merges at writing (`_merge`, e.g.
an `$inc`), a fold that decides by what a document holds reads it back first
(`_read_back`) and replaces it whole.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from cachetools import FIFOCache
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.operations import ReplaceOne, UpdateOne

from muster_runtime.mongo import Document

log = logging.getLogger(__name__)


class KnownIds:
    """Ids of documents this process knows exist, the oldest forgotten past `limit`: for
    documents that are never deleted, so a remembered id may skip the insert and go
    straight to the update, and a forgotten one costs one more round trip, never a wrong
    answer."""

    def __init__(self, limit: int) -> None:
        self._ids: FIFOCache[str, None] = FIFOCache(maxsize=limit)

    def __contains__(self, document_id: object) -> bool:
        return document_id in self._ids

    def add(self, document_id: str) -> None:
        if document_id not in self._ids:  # a known id keeps its place in line
            self._ids[document_id] = None


# Told how many documents each bulk insert wrote (a rebuild's progress while it writes).
DOCUMENTS_WRITTEN: ContextVar[Callable[[int], None] | None] = ContextVar(
    "documents_written", default=None
)


Part = TypeVar("Part")


async def write_in_chunks(
    items: Iterable[Part],
    write: Callable[[list[Part]], Awaitable[None]],
    chunk: int = 1000,
    in_flight: int = 4,
) -> None:
    """Write many items by `write`, a chunk at a time, a few chunks in flight at once
    (encoding overlaps I/O).

    `items` is read as the chunks go out, so a generator that builds them (and drops
    what it built them from) holds only the chunks in flight in memory.
    """
    written = DOCUMENTS_WRITTEN.get()
    pending: set[asyncio.Task[Any]] = set()

    async def write_part(part: list[Part]) -> None:
        await write(part)
        if written is not None:
            written(len(part))

    async def send(part: list[Part]) -> None:
        while len(pending) >= in_flight:
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            pending.difference_update(done)
            for task in done:
                task.result()  # raises what the write raised
        pending.add(asyncio.create_task(write_part(part)))

    try:
        part: list[Part] = []
        for item in items:
            part.append(item)
            if len(part) == chunk:
                await send(part)
                part = []
        if part:
            await send(part)
        await asyncio.gather(*pending)
    finally:
        for task in pending:
            task.cancel()


async def insert_in_chunks(
    collection: AsyncCollection[Document],
    documents: Iterable[Document],
    chunk: int = 1000,
    in_flight: int = 4,
) -> None:
    """Insert many new documents, a few chunks in flight at once (`write_in_chunks`)."""

    async def insert(part: list[Document]) -> None:
        await collection.insert_many(part, ordered=False)

    await write_in_chunks(documents, insert, chunk, in_flight)


def by_ids(ids: Sequence[str]) -> Document:
    """The filter for the documents of `ids`: one query served by the `_id` index, a
    plain point read when there is one (a report's one cell)."""
    return {"_id": ids[0]} if len(ids) == 1 else {"_id": {"$in": list(ids)}}


def drained(buffer: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """A buffer's items, each dropped from it as it is taken (a flush frees as it writes)."""
    while buffer:
        yield buffer.popitem()


class Spilling(Protocol):
    """A rebuild's fold in memory that can write what it holds and go on (see the module)."""

    def held(self) -> int:
        """How many documents (or the like) it holds in memory now."""

    async def spill(self) -> None:
        """Write what it holds, free it, and fold on in memory."""


class Folds:
    """The folds of one rebuild (each added by `folding` as it starts to buffer), written
    out together whenever they hold more than `limit` documents (None: never)."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._folds: dict[int, Spilling] = {}
        self.spills = 0  # how many times they were written out
        self.seconds = 0.0  # and how long that took

    def add(self, fold: Spilling) -> None:
        self._folds[id(fold)] = fold

    def held(self) -> int:
        return sum(fold.held() for fold in self._folds.values())

    async def spill_if_full(self) -> bool:
        """Between two batches: if the folds hold more than the limit, write them out (a
        batch is never split: what a batch counts in a document stays together)."""
        if self.limit is None or self.held() <= self.limit:
            return False
        started = time.perf_counter()
        for fold in self._folds.values():
            await fold.spill()
        self.spills += 1
        self.seconds += time.perf_counter() - started
        log.info("wrote the read models folded so far (part %d)", self.spills)
        return True


# The folds of the rebuild under way (None: no rebuild, nothing is gathered).
FOLDS: ContextVar[Folds | None] = ContextVar("folds", default=None)


def folding(fold: Spilling) -> None:
    """Count `fold` among the folds of the rebuild under way, if any."""
    folds = FOLDS.get()
    if folds is not None:
        folds.add(fold)


Folded = TypeVar("Folded")
# Ids per read of documents an earlier part of a rebuild wrote (one `$in` query each).
READ_BACK_CHUNK = 500


class BulkFolded(Generic[Folded]):
    """Documents of one collection that a rebuild into an empty collection folds in memory
    (`buffer`, then each `_buffer` entry by `_id`) and writes in bulk (`flush`), each as
    `_document` makes it from what was folded: the documents live applying leaves.

    A long rebuild writes in parts (`spill`, see the module): the first part of a document
    is inserted, a later one merged (`_merge`: replaced whole by default, for a fold that
    reads a document back before it folds into it, `_read_back`)."""

    collection: AsyncCollection[Document]
    _buffer: dict[str, Folded] | None = None
    # An earlier part of this rebuild is in the store (written by `spill`).
    _spilled: bool = False
    # Ids read back and found in no earlier part, since the last spill.
    _absent: set[str] | None = None
    # What `_merge` reads of a document an earlier part wrote (None: all of it).
    MERGE_READS: ClassVar[Mapping[str, Any] | None] = {"_id": 1}

    def buffer(self) -> None:
        """Fold in memory from now on (a rebuild into an empty collection); see `flush`."""
        self._buffer = {}
        self._spilled = False
        self._absent = set()
        folding(self)

    def held(self) -> int:
        return len(self._buffer) if self._buffer else 0

    @property
    def spilled(self) -> bool:
        """Whether an earlier part of this rebuild was written (not all is in memory)."""
        return self._spilled

    async def spill(self) -> None:
        """Write the folded documents and free them, folding on in memory."""
        if not self._buffer:
            return
        buffer, self._buffer = self._buffer, {}
        self._absent = set()
        await self.write_folded(drained(buffer), merge=self._spilled)
        self._spilled = True

    async def flush(self) -> None:
        """Write the folded documents in bulk, freeing each as it is written."""
        if self._buffer is None:
            return
        buffer, self._buffer = self._buffer, None
        self._absent = None
        await self.write_folded(drained(buffer), merge=self._spilled)

    async def write_folded(self, folded: Iterable[tuple[str, Folded]], *, merge: bool) -> None:
        """Write folded documents: inserted, or with `merge` (an earlier part may hold some)
        merged with what is there."""
        if not merge:
            await insert_in_chunks(self.collection, (self._document(i, f) for i, f in folded))
            return
        await write_in_chunks(folded, self._merge_part)

    async def _merge_part(self, part: list[tuple[str, Folded]]) -> None:
        found = self.collection.find(by_ids([doc_id for doc_id, _ in part]), self.MERGE_READS)
        stored = {document["_id"]: document async for document in found}
        new = [self._document(doc_id, f) for doc_id, f in part if doc_id not in stored]
        merged = [
            op
            for doc_id, f in part
            if doc_id in stored and (op := self._merge(stored[doc_id], doc_id, f)) is not None
        ]
        if new:
            await self.collection.insert_many(new, ordered=False)
        if merged:
            await self.collection.bulk_write(merged, ordered=False)

    def _merge(
        self, stored: Document, doc_id: str, folded: Folded
    ) -> ReplaceOne[Document] | UpdateOne | None:
        """The write that merges `folded` into what an earlier part wrote (`stored`, as
        `MERGE_READS` reads it); None: nothing to write. By default the folded document
        holds it all (read back before it was folded into): it replaces what is there."""
        return ReplaceOne({"_id": doc_id}, self._document(doc_id, folded))

    async def _read_back(self, doc_ids: Iterable[str]) -> None:
        """Before folding into documents (a fold that decides by what they hold): those
        among `doc_ids` that an earlier part wrote, back into memory (`_folded`)."""
        buffer, absent = self._buffer, self._absent
        if not self._spilled or buffer is None or absent is None:
            return
        missing = [i for i in dict.fromkeys(doc_ids) if i not in buffer and i not in absent]
        for start in range(0, len(missing), READ_BACK_CHUNK):
            async for document in self.collection.find(
                by_ids(missing[start : start + READ_BACK_CHUNK])
            ):
                buffer[document["_id"]] = self._folded(document)
        absent.update(i for i in missing if i not in buffer)

    def _folded(self, document: Document) -> Folded:
        """A stored document as folded (for `_read_back`)."""
        raise NotImplementedError

    def _document(self, doc_id: str, folded: Folded) -> Document:
        raise NotImplementedError
