"""What single-document updates by `_id` cost the store, alone and concurrently, and whether
concurrent updates of one document all count. Runs against a store of your choosing (a
database of its own, dropped after); no Kafka.

    python -m tools.store_update_cost mongodb://127.0.0.1:27617/ [DOCUMENTS]

One client updates random documents of a DOCUMENTS-document collection one at a time
(`$inc` by `_id`, then the same behind a version guard): latency percentiles. Then 4 clients
with 8 tasks each update for a few seconds either one document or random documents:
updates/s, and for one document how many `$inc`s the document lost (0 on a store that
applies single-document updates atomically, as MongoDB does).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable

from muster_runtime.mongo import Database, connect

CLIENTS = 4
TASKS_PER_CLIENT = 8
CONCURRENT_SECONDS = 3.0
SEQUENTIAL_UPDATES = 500


def _doc_id(i: int) -> str:
    return f"cell-{i:06d}"


async def _sequential(db: Database, documents: int, guarded: bool) -> list[float]:
    rng = random.Random(1)
    latencies = []
    for _ in range(SEQUENTIAL_UPDATES):
        doc_id = _doc_id(rng.randrange(documents))
        selector = {"_id": doc_id, "v": {"$lt": 1 << 40}} if guarded else {"_id": doc_id}
        started = time.perf_counter()
        await db["cells"].update_one(selector, {"$inc": {"n": 1, "v": 1}})
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


async def _concurrent(dbs: list[Database], pick: Callable[[random.Random], str]) -> int:
    """Updates until the time is up; returns how many were acknowledged."""
    deadline = time.perf_counter() + CONCURRENT_SECONDS
    acknowledged = 0

    async def task(db: Database, seed: int) -> None:
        nonlocal acknowledged
        rng = random.Random(seed)
        while time.perf_counter() < deadline:
            result = await db["cells"].update_one({"_id": pick(rng)}, {"$inc": {"n": 1}})
            acknowledged += result.modified_count

    await asyncio.gather(
        *(task(db, c * 100 + t) for c, db in enumerate(dbs) for t in range(TASKS_PER_CLIENT))
    )
    return acknowledged


def _percentiles(latencies: list[float]) -> str:
    cuts = statistics.quantiles(latencies, n=100)
    return (
        f"p50 {cuts[49]:.2f} ms, p95 {cuts[94]:.2f} ms, mean {statistics.fmean(latencies):.2f} ms"
    )


async def main(url: str, documents: int) -> None:
    name = f"store_update_cost_{uuid.uuid4().hex[:8]}"
    clients = [connect(url) for _ in range(CLIENTS)]
    dbs = [client[name] for client in clients]
    db = dbs[0]
    try:
        await db["cells"].insert_many(
            [{"_id": _doc_id(i), "n": 0, "v": 0} for i in range(documents)]
        )
        for guarded in (False, True):
            latencies = await _sequential(db, documents, guarded)
            label = "guarded update_one" if guarded else "update_one"
            print(
                f"1 client, {label} by _id ($inc), {documents} documents: {_percentiles(latencies)}"
            )

        hot = _doc_id(0)
        before = (await db["cells"].find_one({"_id": hot}) or {})["n"]
        acknowledged = await _concurrent(dbs, lambda _: hot)
        after = (await db["cells"].find_one({"_id": hot}) or {})["n"]
        print(
            f"{CLIENTS} clients x {TASKS_PER_CLIENT} tasks, one document: "
            f"{acknowledged / CONCURRENT_SECONDS:.0f} updates/s, "
            f"lost {acknowledged - (after - before)} of {acknowledged}"
        )
        acknowledged = await _concurrent(dbs, lambda rng: _doc_id(rng.randrange(documents)))
        print(
            f"{CLIENTS} clients x {TASKS_PER_CLIENT} tasks, random documents: "
            f"{acknowledged / CONCURRENT_SECONDS:.0f} updates/s"
        )
    finally:
        await clients[0].drop_database(name)
        for client in clients:
            await client.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2000))
