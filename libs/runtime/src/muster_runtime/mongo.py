"""The document store connection (MongoDB in production, FerretDB in development).

The one module that speaks the driver's names: services' domain and application code take
the store's vocabulary from here (`Collection`, `DuplicateKeyError`, `ASCENDING`) and never
import pymongo (an import-linter contract holds them to it).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pymongo import ASCENDING as ASCENDING
from pymongo import DESCENDING as DESCENDING
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError
from pymongo.errors import DuplicateKeyError as DuplicateKeyError

Document = dict[str, Any]
Database = AsyncDatabase[Document]
Collection = AsyncCollection[Document]
MongoClient = AsyncMongoClient[Document]

DUPLICATE_KEY = 11000
# The largest integer a document holds (BSON int64): integers an API takes are bounded by it.
INT64_MAX = 2**63 - 1


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
