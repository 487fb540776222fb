"""Writing and reading many documents of one collection at once: bulk inserts a few chunks
in flight (what a rebuild's `flush` does), reads by many ids in one query, and the ids a
process knows exist (an insert it may skip)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from typing import Any, Generic, TypeVar

from cachetools import FIFOCache
from pymongo.asynchronous.collection import AsyncCollection

from muster_runtime.mongo import Document


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


async def insert_in_chunks(
    collection: AsyncCollection[Document],
    documents: Iterable[Document],
    chunk: int = 1000,
    in_flight: int = 4,
) -> None:
    """Insert many new documents, a few chunks in flight at once (encoding overlaps I/O).

    `documents` is read as the chunks go out, so a generator that builds them (and drops
    what it built them from) holds only the chunks in flight in memory.
    """
    written = DOCUMENTS_WRITTEN.get()
    pending: set[asyncio.Task[Any]] = set()

    async def insert(part: list[Document]) -> None:
        await collection.insert_many(part, ordered=False)
        if written is not None:
            written(len(part))

    async def send(part: list[Document]) -> None:
        while len(pending) >= in_flight:
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            pending.difference_update(done)
            for task in done:
                task.result()  # raises what the insert raised
        pending.add(asyncio.create_task(insert(part)))

    try:
        part: list[Document] = []
        for document in documents:
            part.append(document)
            if len(part) == chunk:
                await send(part)
                part = []
        if part:
            await send(part)
        await asyncio.gather(*pending)
    finally:
        for task in pending:
            task.cancel()


def by_ids(ids: Sequence[str]) -> Document:
    """The filter for the documents of `ids`: one query served by the `_id` index, a
    plain point read when there is one (a report's one cell)."""
    return {"_id": ids[0]} if len(ids) == 1 else {"_id": {"$in": list(ids)}}


def drained(buffer: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """A buffer's items, each dropped from it as it is taken (a flush frees as it writes)."""
    while buffer:
        yield buffer.popitem()


Folded = TypeVar("Folded")


class BulkFolded(Generic[Folded]):
    """Documents of one collection that a rebuild into an empty collection folds in memory
    (`buffer`, then each `_buffer` entry by `_id`) and writes in bulk (`flush`), each as
    `_document` makes it from what was folded: the documents live applying leaves."""

    collection: AsyncCollection[Document]
    _buffer: dict[str, Folded] | None = None

    def buffer(self) -> None:
        """Fold in memory from now on (a rebuild into an empty collection); see `flush`."""
        self._buffer = {}

    async def flush(self) -> None:
        """Write the folded documents in bulk, freeing each as it is written."""
        if self._buffer is None:
            return
        buffer, self._buffer = self._buffer, None
        await insert_in_chunks(
            self.collection, (self._document(doc_id, f) for doc_id, f in drained(buffer))
        )

    def _document(self, doc_id: str, folded: Folded) -> Document:
        raise NotImplementedError
