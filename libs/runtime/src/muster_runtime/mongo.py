"""The document store connection (MongoDB in production, FerretDB in development)."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

Document = dict[str, Any]
Database = AsyncDatabase[Document]

DUPLICATE_KEY = 11000


def connect(url: str, max_pool_size: int = 100) -> AsyncMongoClient[Document]:
    """A client with short timeouts so an unreachable store fails fast, not after 30 s."""
    return AsyncMongoClient(
        url,
        maxPoolSize=max_pool_size,
        serverSelectionTimeoutMS=5000,
        connectTimeoutMS=3000,
        tz_aware=True,
        uuidRepresentation="standard",
    )


async def ping(db: Database) -> None:
    await db.command("ping")
