"""The document store connection (MongoDB in production, FerretDB in development).

The one module that speaks the driver's names: services' domain and application code take
the store's vocabulary from here (`Collection`, `DuplicateKeyError`, `ASCENDING`) and never
import pymongo (an import-linter contract holds them to it).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from pymongo import ASCENDING as ASCENDING
from pymongo import DESCENDING as DESCENDING
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, WriteError
from pymongo.errors import DuplicateKeyError as DuplicateKeyError

Document = dict[str, Any]
Database = AsyncDatabase[Document]
Collection = AsyncCollection[Document]
MongoClient = AsyncMongoClient[Document]

DUPLICATE_KEY = 11000
# The largest integer a document holds (BSON int64): integers an API takes are bounded by it.
INT64_MAX = 2**63 - 1
# Documents written by one `insert_many` of a group commit, at most.
GROUP_COMMIT_LIMIT = 100


def connect(url: str, max_pool_size: int = 32) -> AsyncMongoClient[Document]:
    """A client with short timeouts so an unreachable store fails fast, not after 30 s."""
    return AsyncMongoClient(
        url,
        maxPoolSize=max_pool_size,
        serverSelectionTimeoutMS=5000,
        connectTimeoutMS=3000,
        tz_aware=True,
        uuidRepresentation="standard",
    )


@asynccontextmanager
async def scratch_database(url: str, prefix: str) -> AsyncIterator[Database]:
    """A database of its own on the store at `url` (`<prefix>_<random>`), dropped after: for
    tools that measure the store."""
    client = connect(url)
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    try:
        yield client[name]
    finally:
        await client.drop_database(name)
        await client.close()


async def insert_absent(
    collection: AsyncCollection[Document], documents: list[Document]
) -> set[int]:
    """Insert, unordered, every document whose `_id` is not taken; returns the indexes of
    those whose `_id` was (any other write error is raised)."""
    taken: set[int] = set()
    try:
        await collection.insert_many(documents, ordered=False)
    except BulkWriteError as exc:
        for error in exc.details.get("writeErrors", []):
            if error.get("code") != DUPLICATE_KEY:
                raise
            taken.add(error["index"])
    return taken


async def update_or_insert(
    collection: Collection,
    doc_id: str,
    update: dict[str, Any],
    created: Document,
    guard: dict[str, Any] | None = None,
) -> bool:
    """Apply `update` to the document, or insert `created` if there is none (an upsert
    that matches nothing scans the collection on some stores). Returns whether anything
    was written."""
    for _ in range(3):
        result = await collection.update_one({"_id": doc_id, **(guard or {})}, update)
        if result.modified_count:
            return True
        if result.matched_count or await collection.find_one({"_id": doc_id}, {"_id": 1}):
            return False
        try:
            await collection.insert_one({"_id": doc_id, **created})
            return True
        except DuplicateKeyError:
            continue  # created meanwhile: apply the update to it
    return False


async def ping(db: Database) -> None:
    await db.command("ping")


class GroupInserts:
    """Inserts into one collection, written together: those that arrive while a batch
    is being written form the next batch. No timer: a lone insert is written at once."""

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._collection = collection
        self._waiting: list[tuple[Document, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def insert(self, document: Document) -> None:
        """Insert `document`; raises what its own insert would (DuplicateKeyError...)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((document, done))
        writer = self._writer
        if writer is None or writer.get_loop() is not done.get_loop():
            # None running (or one left behind by a loop that is gone: tests run many).
            self._waiting = [w for w in self._waiting if w[1].get_loop() is done.get_loop()]
            self._writer = asyncio.create_task(self._write_batches())
        await done

    async def _write_batches(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[:GROUP_COMMIT_LIMIT]
                del self._waiting[:GROUP_COMMIT_LIMIT]
                await self._write(batch)
        finally:
            self._writer = None
            for _, done in self._waiting:  # only if this task was cancelled
                done.cancel()
            self._waiting.clear()

    async def _write(self, batch: list[tuple[Document, asyncio.Future[None]]]) -> None:
        failures: dict[int, Mapping[str, Any]] = {}
        try:
            if len(batch) == 1:
                await self._collection.insert_one(batch[0][0])
            else:
                await self._collection.insert_many([doc for doc, _ in batch], ordered=False)
        except BulkWriteError as exc:
            failures = {int(e["index"]): e for e in exc.details.get("writeErrors", [])}
            if exc.details.get("writeConcernErrors"):
                failures = {i: exc.details for i in range(len(batch))}
        except Exception as exc:
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
            return
        except BaseException:
            for _, done in batch:
                done.cancel()
            raise
        for index, (_, done) in enumerate(batch):
            if done.done():
                continue  # its caller gave up waiting
            failure = failures.get(index)
            if failure is None:
                done.set_result(None)
            elif failure.get("code") == DUPLICATE_KEY:
                done.set_exception(
                    DuplicateKeyError(failure.get("errmsg", ""), DUPLICATE_KEY, failure)
                )
            else:
                done.set_exception(WriteError(failure.get("errmsg", ""), failure.get("code")))
