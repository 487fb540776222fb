"""Packed counter cells on the real store: each event counted once per cell, however
often it is delivered and however many writers share the cells, and documents of the
earlier, unpacked form kept exact when they are next written."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import NamedTuple

import orjson
import pytest

from muster_runtime.adapters.mongodb.counter_cells import PackedCell, PackedCounters, unpack
from muster_runtime.mongo import Database
from muster_runtime.projections import Contribution


class At(NamedTuple):
    source: str
    offset: int


def contributions(source: str, offsets: range, cells: list[str]) -> list[Contribution]:
    """Each event adds 1 visit and `offset` minutes, under a nested name, to every cell."""
    return [
        (At(source, offset), cell, {"visits": 1, "children.a.minutes": offset}, {})
        for offset in offsets
        for cell in cells
    ]


async def test_redelivered_events_count_once_and_counts_come_back_packed(db: Database) -> None:
    cells = PackedCounters(db["packed"])
    events = contributions("t:0", range(10), ["c1", "c2"])
    await cells.apply(events[:12])
    await cells.apply(events[6:])  # events 3-5 again, then the rest
    await cells.apply(events)  # all again

    stored = await db["packed"].find_one({"_id": "c1"})
    assert stored is not None
    assert isinstance(stored["counts"], bytes)
    found = await cells.read(["c1", "c2", "absent"])
    assert set(found) == {"c1", "c2"}
    for cell in found.values():
        assert cell.counts == {"visits": 10, "children.a.minutes": sum(range(10))}
        assert cell.hwm == {"t:0": 9}
    # Created (version 0), then one update; the third delivery changed nothing.
    assert found["c1"].version == 1


async def test_writers_sharing_cells_lose_nothing(db: Database) -> None:
    """Four writers, one partition each, in small batches at once over the same cells:
    every guarded write that loses to another is read and counted again."""
    shared = ["hot", "warm"]
    pick = random.Random(7)

    async def writer(source: str) -> None:
        cells = PackedCounters(db["shared"])
        start = 0
        while start < 40:
            end = min(start + pick.randint(1, 5), 40)
            await cells.apply(contributions(source, range(start, end), shared))
            start = end

    await asyncio.gather(*(writer(f"t:{p}") for p in range(4)))

    found = await PackedCounters(db["shared"]).read(shared)
    for cell in found.values():
        assert cell.counts == {"visits": 160, "children.a.minutes": 4 * sum(range(40))}
        assert cell.hwm == {f"t:{p}": 39 for p in range(4)}


class Overtaken(PackedCounters):
    """Cells whose first read is followed, before they write, by another writer's."""

    def __init__(self, db: Database, collection: str, meanwhile: list[Contribution]) -> None:
        super().__init__(db[collection])
        self.other = PackedCounters(db[collection])
        self.meanwhile = meanwhile
        self.reads = 0

    async def read(self, cell_ids: Sequence[str]) -> dict[str, PackedCell]:
        found = await super().read(cell_ids)
        self.reads += 1
        if self.reads == 1:
            await self.other.apply(self.meanwhile)
        return found


@pytest.mark.parametrize("exists", [False, True], ids=["new cell", "existing cell"])
async def test_a_write_overtaken_by_another_is_counted_again(db: Database, exists: bool) -> None:
    if exists:
        await PackedCounters(db["overtaken"]).apply(contributions("t:9", range(1), ["c"]))
    cells = Overtaken(db, "overtaken", contributions("t:1", range(3), ["c"]))

    await cells.apply(contributions("t:0", range(2), ["c"]))

    assert cells.reads == 2  # its first write missed, so it read the cell again
    cell = (await cells.read(["c"]))["c"]
    assert cell.counts["visits"] == 2 + 3 + exists
    assert cell.hwm == {"t:0": 1, "t:1": 2} | ({"t:9": 0} if exists else {})


async def test_an_unpacked_document_is_read_as_it_is_and_packed_by_its_next_write(
    db: Database,
) -> None:
    await db["legacy"].insert_one(
        {"_id": "old", "hwm": {"t:0": 4}, "visits": 5, "children": {"a": {"minutes": 10}}}
    )
    cells = PackedCounters(db["legacy"])
    before = (await cells.read(["old"]))["old"]
    assert (before.counts, before.version) == ({"visits": 5, "children.a.minutes": 10}, None)

    await cells.apply(contributions("t:0", range(3, 7), ["old"]))  # 3 and 4 counted already

    stored = await db["legacy"].find_one({"_id": "old"})
    assert stored is not None
    assert set(stored) == {"_id", "hwm", "v", "counts"}
    after = unpack(stored)
    assert after.counts == {"visits": 7, "children.a.minutes": 10 + 5 + 6}
    assert after.hwm == {"t:0": 6}


async def test_a_document_packed_uncompressed_is_read_and_compressed_by_its_next_write(
    db: Database,
) -> None:
    """Packed documents written before compression hold their counts as plain JSON."""
    counts = {"visits": 3, "children.a.minutes": 3}
    await db["plain"].insert_one(
        {"_id": "c", "hwm": {"t:0": 2}, "v": 4, "counts": orjson.dumps(counts)}
    )
    cells = PackedCounters(db["plain"])
    assert (await cells.read(["c"]))["c"] == PackedCell(counts, {"t:0": 2}, 4)

    await cells.apply(contributions("t:0", range(5), ["c"]))

    stored = await db["plain"].find_one({"_id": "c"})
    assert stored is not None
    assert not stored["counts"].startswith(b"{")
    assert unpack(stored) == PackedCell({"visits": 5, "children.a.minutes": 10}, {"t:0": 4}, 5)


async def test_a_rebuilt_document_takes_live_counting_on(db: Database) -> None:
    """A rebuild inserts packed documents whole (version 0); live writes continue them."""
    await db["rebuilt"].insert_one(
        PackedCounters.document("c", {"visits": 3, "children.a.minutes": 3}, {"t:0": 2})
    )
    cells = PackedCounters(db["rebuilt"])
    await cells.apply(contributions("t:0", range(5), ["c"]))
    cell = (await cells.read(["c"]))["c"]
    assert cell.counts == {"visits": 5, "children.a.minutes": 3 + 3 + 4}
    assert (cell.hwm, cell.version) == ({"t:0": 4}, 1)


async def test_counting_in_memory_writes_what_live_counting_leaves(db: Database) -> None:
    """A rebuild counts in memory, redeliveries included, and writes each cell once."""
    events = contributions("t:0", range(10), ["c1", "c2"]) + contributions("t:1", range(4), ["c2"])
    live = PackedCounters(db["live"])
    rebuilt = PackedCounters(db["rebuilt"])
    rebuilt.buffer()
    for cells in (live, rebuilt):
        await cells.apply(events[:12])
        await cells.apply(events)

    assert await db["rebuilt"].count_documents({}) == 0
    assert (await rebuilt.read(["c1"]))["c1"].counts["visits"] == 10  # from memory
    await rebuilt.flush()

    ids = ["c1", "c2"]
    written = await rebuilt.read(ids)
    assert {c: (cell.counts, cell.hwm) for c, cell in written.items()} == {
        c: (cell.counts, cell.hwm) for c, cell in (await live.read(ids)).items()
    }
    assert written["c2"].counts == {"visits": 14, "children.a.minutes": 45 + 6}
    assert {cell.version for cell in written.values()} == {0}
