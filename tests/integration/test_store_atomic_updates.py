"""The document store applies each single-document update atomically, as MongoDB does.

Muster's read models count with `$inc` on counter cells and advance versioned documents
with guarded updates (`{_id, _v: {$lt: n}}`); several consumers of one group write the same
documents at once. MongoDB applies every single-document update, upsert and findAndModify
as one atomic read-modify-write. The local FerretDB is built with a patch
(deploy/local/ferretdb/patches) so it does too; unpatched, it read a document, applied the
operators and wrote it back in separate steps, and concurrent updates of one document lost
writes. Several clients (each with its own connection pool) and tasks per client race here.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from pymongo import ReturnDocument

from muster_runtime.mongo import Database, connect
from tests.conftest import mongo_url

CLIENTS = 4
TASKS_PER_CLIENT = 4
WRITES_PER_TASK = 20
WRITERS = CLIENTS * TASKS_PER_CLIENT
TOTAL = WRITERS * WRITES_PER_TASK


@pytest.fixture
async def writers_dbs(db: Database) -> AsyncIterator[list[Database]]:
    """The test's database, reached through several clients at once."""
    clients = [connect(mongo_url()) for _ in range(CLIENTS)]
    try:
        yield [client[db.name] for client in clients]
    finally:
        for client in clients:
            await client.close()


async def race(dbs: list[Database], write: Callable[[Database, int], Awaitable[None]]) -> None:
    """Each task of each client calls `write(db, task)` WRITES_PER_TASK times."""

    async def task(db: Database, index: int) -> None:
        for _ in range(WRITES_PER_TASK):
            await write(db, index)

    await asyncio.gather(
        *(
            task(db, c * TASKS_PER_CLIENT + t)
            for c, db in enumerate(dbs)
            for t in range(TASKS_PER_CLIENT)
        )
    )


async def test_concurrent_increments_of_one_document_all_count(
    db: Database, writers_dbs: list[Database]
) -> None:
    await db["cells"].insert_one({"_id": "area-1", "n": 0})

    async def increment(writer: Database, _: int) -> None:
        await writer["cells"].update_one({"_id": "area-1"}, {"$inc": {"n": 1}})

    await race(writers_dbs, increment)

    assert await db["cells"].find_one({"_id": "area-1"}) == {"_id": "area-1", "n": TOTAL}


async def test_updates_by_id_and_by_another_field_of_one_document_all_count(
    db: Database, writers_dbs: list[Database]
) -> None:
    # By `_id` a statement can touch one document only; by another field, any: both kinds
    # of statements must still exclude each other on the document they share.
    await db["cells"].insert_many([{"_id": f"area-{i}", "area": f"a{i}", "n": 0} for i in range(5)])

    async def increment(writer: Database, task: int) -> None:
        selector = {"_id": "area-3"} if task % 2 else {"area": "a3"}
        await writer["cells"].update_one(selector, {"$inc": {"n": 1}})

    await race(writers_dbs, increment)

    assert await db["cells"].find_one({"_id": "area-3"}) == {
        "_id": "area-3",
        "area": "a3",
        "n": TOTAL,
    }


async def test_concurrent_upserts_of_a_new_document_create_it_once_and_all_count(
    db: Database, writers_dbs: list[Database]
) -> None:
    await db["cells"].insert_one({"_id": "other", "n": 0})  # the collection exists

    async def increment(writer: Database, _: int) -> None:
        await writer["cells"].update_one({"_id": "area-2"}, {"$inc": {"n": 1}}, upsert=True)

    await race(writers_dbs, increment)

    assert await db["cells"].find({"_id": "area-2"}).to_list() == [{"_id": "area-2", "n": TOTAL}]


async def test_compare_and_set_on_a_version_succeeds_once_per_version(
    db: Database, writers_dbs: list[Database]
) -> None:
    await db["docs"].insert_one({"_id": "doc-1", "v": 0})
    successes = [0] * WRITERS

    async def advance(writer: Database, task: int) -> None:
        while True:
            seen = await writer["docs"].find_one({"_id": "doc-1"})
            assert seen is not None
            result = await writer["docs"].update_one(
                {"_id": "doc-1", "v": seen["v"]}, {"$set": {"v": seen["v"] + 1}}
            )
            if result.modified_count == 1:
                successes[task] += 1
                return

    await race(writers_dbs, advance)

    # Each success moved v from the value it read: none was overwritten by another.
    assert sum(successes) == TOTAL
    assert await db["docs"].find_one({"_id": "doc-1"}) == {"_id": "doc-1", "v": TOTAL}


async def test_versions_applied_out_of_order_behind_a_guard_keep_the_highest(
    db: Database, writers_dbs: list[Database]
) -> None:
    await db["docs"].insert_one({"_id": "doc-2", "_v": 0, "applied": 0})
    versions = list(range(1, TOTAL + 1))
    random.Random(7).shuffle(versions)
    pending = iter(versions)
    applied = 0

    async def apply_next(writer: Database, _: int) -> None:
        nonlocal applied
        version = next(pending)
        result = await writer["docs"].update_one(
            {"_id": "doc-2", "_v": {"$lt": version}},
            {"$set": {"_v": version}, "$inc": {"applied": 1}},
        )
        applied += result.modified_count

    await race(writers_dbs, apply_next)

    # A version is applied only over a lower one, so the last write carries the highest.
    assert await db["docs"].find_one({"_id": "doc-2"}) == {
        "_id": "doc-2",
        "_v": TOTAL,
        "applied": applied,
    }


async def test_concurrent_find_and_modify_hands_out_each_value_once(
    db: Database, writers_dbs: list[Database]
) -> None:
    await db["sequences"].insert_one({"_id": "seq", "next": 0})
    handed_out: list[Any] = []

    async def take(writer: Database, _: int) -> None:
        after = await writer["sequences"].find_one_and_update(
            {"_id": "seq"}, {"$inc": {"next": 1}}, return_document=ReturnDocument.AFTER
        )
        assert after is not None
        handed_out.append(after["next"])

    await race(writers_dbs, take)

    assert sorted(handed_out) == list(range(1, TOTAL + 1))
