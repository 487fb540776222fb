"""What concurrent writes to one database cost the store: the latency of inserts sent by
1, 4 and 16 tasks at once, as sent and queued one at a time in the client. Runs against a
store of your choosing (a database of its own, dropped after); no Kafka.

    python -m tools.store_write_contention mongodb://127.0.0.1:27617/ [WRITES_PER_TASK]

On MongoDB concurrent writes overlap. SQLite has one writer per database, and FerretDB's
writers used to wait for it in SQLite's busy handler, which sleeps 1, 2, 5, 10 ... 100 ms
between tries: concurrent inserts then waited much longer than the same inserts queued
(the local build's patch 0003 queues them in FerretDB instead).
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid

from muster_cli.bench.measure import latency_line
from muster_runtime.mongo import Database, scratch_database


async def _run(db: Database, tasks: int, writes: int, queued: bool) -> tuple[float, list[float]]:
    """Writes/s and latencies (s) of `tasks` tasks inserting `writes` documents each into
    two collections (`queued`: one insert in flight at a time)."""
    gate = asyncio.Semaphore(1 if queued else tasks)
    latencies: list[float] = []

    async def task(n: int) -> None:
        for i in range(writes):
            started = time.perf_counter()
            async with gate:
                await db[f"c{i % 2}"].insert_one({"_id": f"{n}-{i}-{uuid.uuid4().hex}", "i": i})
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(task(n) for n in range(tasks)))
    return tasks * writes / (time.perf_counter() - started), latencies


async def main(url: str, writes: int) -> None:
    async with scratch_database(url, "write_contention") as db:
        for collection in ("c0", "c1"):  # created first: creation is not what is measured
            await db[collection].insert_one({"_id": "seed"})
        for tasks, queued in ((1, False), (4, False), (4, True), (16, False), (16, True)):
            rate, latencies = await _run(db, tasks, writes, queued)
            way = "queued" if queued else "at once"
            print(f"{tasks:2d} tasks, {way}: {rate:6.0f} inserts/s, {latency_line(latencies)}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 100))
