"""The counter-cell port's contract on every adapter: in memory, and on the real store in
both its forms (packed cells, nested counts), counted live and counted in bulk."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from muster_runtime.adapters.memory.counter_cells import InMemoryReadModelStore
from muster_runtime.adapters.mongodb.read_model_store import DocumentReadModelStore
from muster_runtime.mongo import Database
from muster_runtime.ports.counter_cells import ReadModelStore


@dataclass(frozen=True)
class At:
    """Where an event was read."""

    source: str
    offset: int


@pytest.fixture(params=["packed", "nested"])
def form(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["live", "bulk"])
def store(request: pytest.FixtureRequest, scratch_db: Database | None, form: str) -> ReadModelStore:
    if scratch_db is None:
        if form == "nested":
            pytest.skip("memory has one form")
        made: ReadModelStore = InMemoryReadModelStore()
    else:
        made = DocumentReadModelStore(scratch_db, pack=form == "packed")
    if request.param == "bulk":
        made.buffer()
    return made


async def test_counts_add_up_and_read_as_nested_documents(store: ReadModelStore) -> None:
    cells = store.counters("cells", read_whole=True)
    await cells.add([(At("p0", 0), "a", {"minutes": 30, "children.b.minutes": 30})])
    await cells.add([(At("p0", 1), "a", {"minutes": 15}), (At("p0", 1), "c", {"turnouts": 1})])
    await store.flush()
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
    await store.flush()
    assert await cells.read(["a"]) == {"a": {"registered": 2, "category": {"student": 1}}}


async def test_counting_goes_on_live_after_a_bulk_write(
    scratch_db: Database | None, form: str
) -> None:
    """A version built in bulk, then counted live (the rebuild's catch-up): an event the
    bulk write counted is not counted again."""
    if scratch_db is None:
        pytest.skip("memory writes nothing in bulk")
    built = DocumentReadModelStore(scratch_db, pack=form == "packed")
    built.buffer()
    await built.counters("cells", read_whole=True).add([(At("p0", 4), "a", {"minutes": 10})])
    await built.flush()
    live = DocumentReadModelStore(scratch_db, pack=form == "packed")
    cells = live.counters("cells", read_whole=True)
    await cells.add([(At("p0", 4), "a", {"minutes": 10}), (At("p0", 5), "a", {"minutes": 1})])
    assert await cells.read(["a"]) == {"a": {"minutes": 11}}
