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

from muster_cli.bench.measure import print_alternated
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

        async def points(ids: list[str]) -> None:
            found = await asyncio.gather(*(collection.find_one({"_id": i}) for i in ids))
            assert sum(d is not None for d in found) == PER_READ

        async def one_query(ids: list[str]) -> None:
            assert len([d async for d in collection.find({"_id": {"$in": ids}})]) == PER_READ

        await print_alternated(
            {
                f"{PER_READ} of {DOCUMENTS:,} by _id, point reads": points,
                f"{PER_READ} of {DOCUMENTS:,} by _id, one $in query": one_query,
            },
            asked,
        )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 300))
