"""What reading many documents by `_id` costs the store: 25 of 50,000 documents (an as-of
figure reads about 25 buckets) as 25 concurrent point reads, and as one `$in` query,
alternated. Runs against a store of your choosing (a database of its own, dropped after);
no Kafka.

    python -m tools.store_id_reads mongodb://127.0.0.1:27617/ [READS]

MongoDB serves both from its `_id` index; FerretDB's SQLite backend does since the local
build's patch 0001, and then one query costs one round trip and one statement instead of
25 of each.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from muster_runtime.bench.measure import latency_line
from muster_runtime.mongo import Document, scratch_database

DOCUMENTS = 50_000
PER_READ = 25


def _document(n: int) -> Document:
    """A bucket-like document: marks, counts, a breakdown and children."""
    children = {f"c{j}": {"minutes": j, "turnouts": 1} for j in range(5)}
    return {
        "_id": f"cell{n // 50}@b{n % 50}",
        "hwm": {"source:0": n},
        "minutes": n,
        "turnouts": 1,
        "category": {"elderly_care": {"minutes": n}},
        "children": children,
    }


async def main(url: str, reads: int) -> None:
    async with scratch_database(url, "id_reads") as db:
        collection = db["buckets"]
        for start in range(0, DOCUMENTS, 1000):
            await collection.insert_many([_document(n) for n in range(start, start + 1000)])
        pick = random.Random(5)
        asked = [
            [f"cell{cell}@b{b}" for b in pick.sample(range(50), PER_READ)]
            for cell in pick.choices(range(DOCUMENTS // 50), k=reads)
        ]

        async def points(ids: list[str]) -> list[Any]:
            found = await asyncio.gather(*(collection.find_one({"_id": i}) for i in ids))
            return [d for d in found if d is not None]

        async def one_query(ids: list[str]) -> list[Any]:
            return [d async for d in collection.find({"_id": {"$in": ids}})]

        ways: dict[str, Callable[[list[str]], Awaitable[list[Any]]]] = {
            "point reads": points,
            "one $in query": one_query,
        }
        for _ in range(2):  # alternated: the machine's load drifts
            for label, read in ways.items():
                latencies = []
                for ids in asked:
                    started = time.perf_counter()
                    found = await read(ids)
                    latencies.append(time.perf_counter() - started)
                    assert len(found) == PER_READ
                print(f"{PER_READ} of {DOCUMENTS:,} by _id, {label:13s}: {latency_line(latencies)}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 300))
