"""What packing a counter cell's counts into one value saves the store: 25 of 20,000
bucket-like documents of 130 counts read by `_id` (what an as-of figure reads), and one
counted into, and one event counted into 25 at once (a live batch's cells), unpacked
(nested fields, `$inc`, `CounterCells`) against packed (`PackedCounters`: one compressed
value in bytes, a read and a guarded write), alternated; reads of the same documents
packed as plain JSON (as before compression) beside them. Runs against a store of your
choosing (a database of its own, dropped after); no Kafka.

    python -m tools.store_packed_cells mongodb://127.0.0.1:27617/ [READS]

FerretDB decodes and encodes a document field by field, so it pays per count on every
read and every `$inc`; a packed document costs it one value, whose price grows with its
bytes (it keeps bytes as base64 text). MongoDB pays less per field, and packed documents
cost it no more.
"""

from __future__ import annotations

import asyncio
import random
import sys
from typing import NamedTuple

import orjson

from muster_cli.bench.measure import print_alternated
from muster_runtime.adapters.mongodb.counter_cells import CounterCells, PackedCounters, unpack
from muster_runtime.adapters.mongodb.packed_json import pack_json
from muster_runtime.mongo import Database, Document, scratch_database
from muster_runtime.projections import Contribution

DOCUMENTS = 20_000
PER_READ = 25
PER_CELL = 50  # buckets per cell: ids `cell<n>@b<k>`


class At(NamedTuple):
    source: str
    offset: int


def _counts(n: int) -> dict[str, int]:
    """A district-like cell's counts by dotted name: totals, 8 categories, 6 groups and 12
    children with their own categories (130 counts)."""
    counts = {"minutes": n, "turnouts": 3, "activities": 2, "beneficiaries": 9}
    for k in range(8):
        counts |= {f"category.c{k}.minutes": k, f"category.c{k}.turnouts": 1}
        counts[f"category.c{k}.beneficiaries"] = 2
    counts |= {f"group.g{k}": k for k in range(6)}
    for j in range(12):
        child = f"children.s{j:02d}"
        counts |= {f"{child}.minutes": n + j, f"{child}.turnouts": j, f"{child}.activities": 1}
        counts |= {f"{child}.beneficiaries": 3}
        counts |= {f"{child}.category.c{k}.minutes": k + n for k in range(4)}
    return counts


def _nested(document_id: str, counts: dict[str, int]) -> Document:
    document: Document = {"_id": document_id, "hwm": {"t:0": 0}}
    for dotted, value in counts.items():
        *parents, leaf = dotted.split(".")
        target = document
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return document


async def _fill(db: Database) -> None:
    for start in range(0, DOCUMENTS, 1000):
        ids = [(n, f"cell{n // PER_CELL}@b{n % PER_CELL}") for n in range(start, start + 1000)]
        await db["unpacked"].insert_many([_nested(i, _counts(n)) for n, i in ids])
        await db["packed"].insert_many(
            [PackedCounters.document(i, _counts(n), {"t:0": 0}) for n, i in ids]
        )
        await db["plain"].insert_many(
            [
                {"_id": i, "hwm": {"t:0": 0}, "v": 0, "counts": orjson.dumps(_counts(n))}
                for n, i in ids
            ]
        )


async def main(url: str, reads: int) -> None:
    async with scratch_database(url, "packed_cells") as db:
        await _fill(db)
        print(f"{DOCUMENTS:,} documents of {len(_counts(0))} counts each, unpacked and packed")
        print(
            f"packed: {len(pack_json(_counts(0))):,} bytes; as plain JSON {len(orjson.dumps(_counts(0))):,}"
        )
        pick = random.Random(5)
        asked = [
            [f"cell{cell}@b{b}" for b in pick.sample(range(PER_CELL), PER_READ)]
            for cell in pick.choices(range(DOCUMENTS // PER_CELL), k=reads)
        ]
        packed = PackedCounters(db["packed"])
        plain = PackedCounters(db["plain"])

        async def read_unpacked(ids: list[str]) -> None:
            found = db["unpacked"].find({"_id": {"$in": ids}})
            assert len([unpack(d) async for d in found]) == PER_READ

        async def read_packed(ids: list[str]) -> None:
            assert len(await packed.read(ids)) == PER_READ

        async def read_plain(ids: list[str]) -> None:
            assert len(await plain.read(ids)) == PER_READ

        offsets = iter(range(1, 10**9))
        increments = {f"children.s{j:02d}.minutes": 1 for j in range(12)} | {"minutes": 12}

        async def count_unpacked(ids: list[str]) -> None:
            offset = next(offsets)
            update = {"$inc": increments, "$set": {"hwm.t:0": offset}}
            result = await db["unpacked"].update_one(
                {"_id": ids[0], "hwm.t:0": {"$lt": offset}}, update
            )
            assert result.modified_count == 1

        async def count_packed(ids: list[str]) -> None:
            contribution: Contribution = (At("t:0", next(offsets)), ids[0], increments, {})
            await packed.apply([contribution])

        # A live batch's cells: the same hot ones each time (their marks remembered).
        batch = [f"cell0@b{b}" for b in range(PER_READ)]
        unpacked_cells = CounterCells(db["unpacked"])

        async def count_batch_unpacked(_: list[str]) -> None:
            event = At("t:0", next(offsets))
            await unpacked_cells.apply([(event, cell, increments, {}) for cell in batch])

        async def count_batch_packed(_: list[str]) -> None:
            event = At("t:0", next(offsets))
            await packed.apply([(event, cell, increments, {}) for cell in batch])

        await print_alternated(
            {
                f"read {PER_READ} by _id, unpacked": read_unpacked,
                f"read {PER_READ} by _id, packed": read_packed,
                f"read {PER_READ} by _id, packed as plain JSON": read_plain,
                "count into one, unpacked ($inc)": count_unpacked,
                "count into one, packed": count_packed,
                f"count one event into {PER_READ}, unpacked ($inc)": count_batch_unpacked,
                f"count one event into {PER_READ}, packed": count_batch_packed,
            },
            asked,
        )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 300))
