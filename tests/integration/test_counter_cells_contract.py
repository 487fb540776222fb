"""One contract for reporting's counter cells, held by every adapter: in memory, and on the
real store in both its forms (packed cells, nested counts), live and counted in bulk."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from muster_reporting.adapters.counter_store import DocumentReadModelStore
from muster_reporting.adapters.memory_counters import MemoryReadModelStore
from muster_reporting.application.ports import ReadModelStore
from muster_runtime.mongo import Database


@dataclass(frozen=True)
class At:
    """Where an event was read."""

    source: str
    offset: int


STORES: dict[str, Callable[[Database], ReadModelStore]] = {
    "memory": lambda _: MemoryReadModelStore(),
    "store, packed": lambda db: DocumentReadModelStore(db),
    "store, nested": lambda db: DocumentReadModelStore(db, pack=False),
}


@pytest.fixture(params=[(name, bulk) for name in STORES for bulk in (False, True)], ids=str)
def store(request: pytest.FixtureRequest, db: Database) -> ReadModelStore:
    name, bulk = request.param
    made = STORES[name](db)
    if bulk:
        made.buffer()
    return made


async def settled(store: ReadModelStore) -> None:
    await store.flush()


async def test_counts_add_up_and_read_as_nested_documents(store: ReadModelStore) -> None:
    cells = store.counters("cells", read_whole=True)
    await cells.add([(At("p0", 0), "a", {"minutes": 30, "children.b.minutes": 30})])
    await cells.add([(At("p0", 1), "a", {"minutes": 15}), (At("p0", 1), "c", {"turnouts": 1})])
    await settled(store)
    assert await cells.read(["a", "c", "absent"]) == {
        "a": {"minutes": 45, "children": {"b": {"minutes": 30}}},
        "c": {"turnouts": 1},
    }


async def test_an_event_counts_once_per_cell_however_often_it_is_applied(
    store: ReadModelStore,
) -> None:
    cells = store.counters("cells")
    once = [(At("p0", 7), "a", {"registered": 1}), (At("p0", 7), "a", {"category.student": 1})]
    await cells.add(once)
    await cells.add(once)  # redelivered
    await cells.add([(At("p0", 3), "a", {"registered": 1})])  # older than what was counted
    await cells.add([(At("p1", 3), "a", {"registered": 1})])  # another partition's
    await settled(store)
    assert await cells.read(["a"]) == {"a": {"registered": 2, "category": {"student": 1}}}
