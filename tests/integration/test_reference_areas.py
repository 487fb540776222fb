"""Areas admins add, on the real store: dispatch's `area-tree` stream under concurrent
additions from two replicas, and a consumer's `reference_areas` under redelivery and restart."""

from __future__ import annotations

import asyncio

import pytest

from muster_contracts.areas import AreaLevel, load_area_tree
from muster_contracts.envelope import Actor, Role
from muster_dispatch.application.area_tree import AreaTreeBook
from muster_runtime.adapters.mongodb.event_store import MongoEventStore
from muster_runtime.adapters.mongodb.reference_areas import ReferenceAreas
from muster_runtime.errors import ConflictError, RuleViolationError
from muster_runtime.mongo import Database
from muster_runtime.ports.event_store import CommandContext
from muster_runtime.projections import ConsumedEvent

ADMIN = CommandContext(Actor(subject="admin", role=Role.ADMIN))
GRID = load_area_tree().at_level(AreaLevel.GRID)[0].id
COMMUNITY = GRID[:12]


async def test_two_replicas_add_areas_concurrently_and_a_restart_reads_them_back(
    db: Database,
) -> None:
    store = MongoEventStore(db)
    await store.create_indexes()
    first, second = AreaTreeBook(store, load_area_tree()), AreaTreeBook(store, load_area_tree())
    new_grid = f"{COMMUNITY}99"
    added = await asyncio.gather(
        first.add(f"{GRID}91", "91号楼", ADMIN),
        second.add(f"{GRID}92", "92号楼", ADMIN),
        first.add(new_grid, "第99网格", ADMIN),
    )
    assert [was_added for _, was_added in added] == [True, True, True]
    # A building under the grid another replica added: it catches up before deciding.
    assert (await second.add(f"{new_grid}01", "1号楼", ADMIN))[1]
    assert (await first.add(f"{GRID}91", "91号楼", ADMIN))[1] is False
    with pytest.raises(ConflictError):
        await second.add(f"{GRID}91", "另一栋", ADMIN)
    with pytest.raises(RuleViolationError) as refused:
        await first.add(f"{COMMUNITY[:9]}99901", "无主网格", ADMIN)
    assert refused.value.details["rule"] == "missing_parent"

    stream = await store.read_stream("area-tree")
    assert stream.version == 4
    assert sorted(e.payload["area_id"] for e in stream.events) == sorted(
        [f"{GRID}91", f"{GRID}92", new_grid, f"{new_grid}01"]
    )
    restarted = AreaTreeBook(store, load_area_tree())
    await restarted.catch_up()
    assert restarted.version == 4
    assert restarted.areas.get(f"{new_grid}01").name == "1号楼"
    assert [a.id for a in restarted.areas.children(GRID)][-2:] == [f"{GRID}91", f"{GRID}92"]
    await first.catch_up()
    assert f"{new_grid}01" in first.areas


async def test_a_consumer_keeps_added_areas_once_and_loads_them_at_start(db: Database) -> None:
    store = MongoEventStore(db)
    await store.create_indexes()
    dispatch = AreaTreeBook(store, load_area_tree())
    new_grid = f"{COMMUNITY}98"
    await dispatch.add(new_grid, "第98网格", ADMIN)
    await dispatch.add(f"{new_grid}01", "1号楼", ADMIN)
    events = [
        ConsumedEvent(e, "muster.dispatch.events", 0, offset)
        for offset, e in enumerate((await store.read_stream("area-tree")).events)
    ]

    consumer = ReferenceAreas(db, load_area_tree())
    applying = asyncio.create_task(consumer.apply(events))
    await asyncio.sleep(0.05)
    assert not applying.done()  # waits for the stored areas to be loaded first
    await consumer.load()
    await applying
    await consumer.apply(events)  # redelivered: nothing changes
    assert consumer.areas.get(f"{new_grid}01").name == "1号楼"
    assert await db["reference_areas"].count_documents({}) == 2

    restarted = ReferenceAreas(db, load_area_tree())
    await restarted.load()
    assert restarted.areas.lineage_ids(f"{new_grid}01")[-2:] == (new_grid, f"{new_grid}01")
    assert restarted.areas.get(new_grid).name == "第98网格"
