"""Group commit: inserts into one collection written together, for a store whose cost is
per round trip and per transaction (the development store's SQLite commits): concurrent
appends and check-in claims become one `insert_many`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from pymongo.errors import BulkWriteError, DuplicateKeyError, WriteError

from muster_runtime.mongo import DUPLICATE_KEY, Collection, Document

# Documents written by one `insert_many` of a group commit, at most.
GROUP_COMMIT_LIMIT = 100


class GroupInserts:
    """Inserts into one collection, written together: those that arrive while a batch
    is being written form the next batch. No timer: a lone insert is written at once."""

    def __init__(self, collection: Collection) -> None:
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
