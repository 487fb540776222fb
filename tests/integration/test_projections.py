"""Idempotent consumers on the real store and broker: redelivery never double-counts."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from uuid import uuid4

from aiokafka import AIOKafkaProducer

from muster_contracts.envelope import EventEnvelope
from muster_runtime.adapters.mongodb.counter_cells import CounterCells
from muster_runtime.adapters.mongodb.event_store import MongoEventStore
from muster_runtime.adapters.mongodb.versioned_documents import StoredVersionedDocuments
from muster_runtime.mongo import Database
from muster_runtime.projections import ConsumedEvent
from muster_runtime.service import ServiceRuntime
from muster_runtime.settings import ServiceSettings
from tests.integration.conftest import Commands
from tests.integration.helpers import ThingCounter, counting_consumer, eventually
from tests.integration.test_event_store import CONTEXT, ThingHappened

Contribution = tuple[ConsumedEvent, str, Mapping[str, int], Mapping[str, Any]]


async def _events(db: Database, count: int) -> list[EventEnvelope]:
    store = MongoEventStore(db, collection="source_events")
    await store.create_indexes()
    for n in range(count):
        await store.append(f"thing-{n}", "thing", 0, [ThingHappened(n=n)], CONTEXT)
    return [e async for e in store.read_all()]


def _contributions(envelopes: list[EventEnvelope], offsets: range) -> list[Contribution]:
    out: list[Contribution] = []
    for offset in offsets:
        consumed = ConsumedEvent(envelopes[offset], "muster.thing.events", 0, offset)
        out += [
            (consumed, "total", {"things": 1}, {"level": "all"}),
            (consumed, f"odd-{offset % 2}", {"things": 1}, {}),
        ]
    return out


async def test_counter_cells_count_each_offset_once_whatever_the_batch_boundaries(
    db: Database,
) -> None:
    envelopes = await _events(db, 30)
    cells = CounterCells(db["cells"])

    await cells.apply(_contributions(envelopes, range(0, 10)))
    await cells.apply(_contributions(envelopes, range(0, 10)))  # redelivered as is
    await cells.apply(_contributions(envelopes, range(5, 25)))  # overlapping, larger batch
    await cells.apply(_contributions(envelopes, range(20, 30)))

    docs = {d["_id"]: d async for d in db["cells"].find()}
    assert docs["total"]["things"] == 30
    assert docs["total"]["level"] == "all"
    assert docs["odd-0"]["things"] == 15
    assert docs["odd-1"]["things"] == 15


async def test_an_event_s_several_contributions_to_a_cell_all_count_live_and_rebuilt(
    db: Database,
) -> None:
    """Unmerged: one event adds to a cell twice in one call (the rollup's service counts and
    its new volunteer); both count, live and in a rebuild's buffer alike, and the same
    events applied again later (a failed batch retried one event at a time) count nothing."""
    envelopes = await _events(db, 12)

    def twice(offsets: range) -> list[Contribution]:
        out: list[Contribution] = []
        for offset in offsets:
            consumed = ConsumedEvent(envelopes[offset], "muster.thing.events", 0, offset)
            out += [
                (consumed, "total", {"things": 1, "minutes": 30}, {"level": "all"}),
                (consumed, "total", {"things": 1, "volunteers": 1}, {"level": "all"}),
            ]
        return out

    live, rebuilt = CounterCells(db["live"]), CounterCells(db["rebuilt"])
    rebuilt.buffer()
    for cells in (live, rebuilt):
        await cells.apply(twice(range(0, 6)))
        await cells.apply(twice(range(6, 12)))
        for offset in range(4, 12):  # applied again, one event at a time
            await cells.apply(twice(range(offset, offset + 1)))
    await rebuilt.flush()

    counted = await db["live"].find_one({"_id": "total"})
    assert counted is not None
    assert (counted["things"], counted["minutes"], counted["volunteers"]) == (24, 360, 12)
    assert counted == await db["rebuilt"].find_one({"_id": "total"})


async def test_two_consumers_with_remembered_marks_count_each_offset_once(db: Database) -> None:
    """Each consumer remembers the marks it wrote and guards its next update with them; a
    cell the other consumer moved meanwhile (a rebalance handing the partition over and
    back) fails the guard and is read again, never counted twice or skipped."""
    envelopes = await _events(db, 40)
    first, second = CounterCells(db["cells"]), CounterCells(db["cells"])

    await first.apply(_contributions(envelopes, range(0, 10)))  # first remembers marks at 9
    await second.apply(_contributions(envelopes, range(5, 25)))  # second takes over up to 24
    # The partition comes back to the first consumer, which replays from 10: its remembered
    # marks (9) are stale, so its guarded updates miss and it must re-read (24).
    await first.apply(_contributions(envelopes, range(10, 30)))
    await second.apply(_contributions(envelopes, range(28, 35)))  # stale again for second
    await first.apply(_contributions(envelopes, range(30, 40)))

    docs = {d["_id"]: d async for d in db["cells"].find()}
    assert docs["total"]["things"] == 40
    assert docs["odd-0"]["things"] == 20
    assert docs["odd-1"]["things"] == 20
    assert docs["total"]["hwm"] == {"muster_thing_events:0": 39}


class ReadCountingCells(CounterCells):
    def __init__(self, db: Database) -> None:
        super().__init__(db["cells"])
        self.reads: list[list[str]] = []

    async def read(
        self, cell_ids: list[str], projection: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        if cell_ids:
            self.reads.append(cell_ids)
        return await super().read(cell_ids, projection)


async def test_remembered_marks_save_the_reads_of_later_batches(db: Database) -> None:
    envelopes = await _events(db, 20)
    cells = ReadCountingCells(db)
    await cells.apply(_contributions(envelopes, range(0, 10)))
    await cells.apply(_contributions(envelopes, range(10, 20)))
    assert cells.reads == []  # new cells inserted whole, then guarded by remembered marks

    other = ReadCountingCells(db)  # a consumer that never wrote them reads their marks once
    await other.apply(_contributions(envelopes, range(10, 20)))  # a redelivery
    await other.apply(_contributions(envelopes, range(10, 20)))
    assert sorted(map(sorted, other.reads)) == [["odd-0", "odd-1", "total"]]

    doc = await db["cells"].find_one({"_id": "total"})
    assert doc is not None
    assert doc["things"] == 20


async def test_fields_are_set_on_new_and_existing_cells_alike(db: Database) -> None:
    envelopes = await _events(db, 2)
    counted = CounterCells(db["cells"])
    await counted.apply(_contributions(envelopes, range(0, 2)))  # creates total, odd-0, odd-1
    cells = CounterCells(db["cells"])  # knows none of them

    await cells.set_fields({"total": {"label": "all"}, "fresh": {"label": "new"}})
    await cells.set_fields({"fresh": {"label": "renamed"}, "odd-0": {"label": "even"}})

    docs = {d["_id"]: d async for d in db["cells"].find()}
    assert {k: d.get("label") for k, d in docs.items()} == {
        "total": "all",
        "fresh": "renamed",
        "odd-0": "even",
        "odd-1": None,
    }
    assert docs["total"]["things"] == 2  # counts untouched


async def test_a_stream_s_first_event_writes_its_document_in_one_insert(
    listened: tuple[Database, Commands],
) -> None:
    db, commands = listened
    documents = StoredVersionedDocuments(db["docs"])
    created = {
        "$set": {"activity_id": "a1", "place.area": "130203"},
        "$inc": {"edits": 1},
        "$push": {"events": {"type": "checked_in"}},
    }
    assert await documents.apply("a1:v1", 1, created, create=True)
    assert commands.take() == [("insert", "docs")]

    assert not await documents.apply("a1:v1", 1, created, create=True)  # a redelivery
    assert await documents.apply("a1:v1", 2, {"$push": {"events": {"type": "out"}}})
    # One the update must finish: left as a stub by a process before this one.
    await db["docs"].insert_one({"_id": "a2:v1", "_v": 0})
    assert await documents.apply("a2:v1", 1, created, create=True)
    # Not foldable in memory: a stub, then the update.
    assert await documents.apply("a3:v1", 1, {"$addToSet": {"tags": "x"}}, create=True)

    docs = {d.pop("_id"): d async for d in db["docs"].find()}
    assert docs["a1:v1"] == {
        "_v": 2,
        "activity_id": "a1",
        "place": {"area": "130203"},
        "edits": 1,
        "events": [{"type": "checked_in"}, {"type": "out"}],
    }
    assert docs["a2:v1"] == docs["a1:v1"] | {"_v": 1, "events": [{"type": "checked_in"}]}
    assert docs["a3:v1"] == {"_v": 1, "tags": ["x"]}


async def test_a_batch_that_fails_after_its_effects_is_redelivered_and_counted_once(
    settings: ServiceSettings, db: Database
) -> None:
    producer = ServiceRuntime(settings, produces="thing")
    consumer = counting_consumer(settings)
    counter = ThingCounter(db)
    failures = {"left": 2}

    async def count_then_maybe_crash(events: list[ConsumedEvent]) -> None:
        await counter.count(events)
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("crash after the effects, before the offsets were committed")

    consumer.consume_with(count_then_maybe_crash)
    async with producer.running(), consumer.running():
        assert producer.store is not None
        for n in range(40):
            await producer.store.append(
                f"thing-{uuid4()}", "thing", 0, [ThingHappened(n=n)], CONTEXT
            )

        async def all_counted() -> bool:
            return await counter.reached(40) and failures["left"] == 0

        await eventually(all_counted, timeout=60)

    assert await counter.total() == 40
    assert failures["left"] == 0


async def test_an_event_the_relay_published_twice_is_counted_once(
    settings: ServiceSettings, db: Database
) -> None:
    envelopes = await _events(db, 3)
    consumer = counting_consumer(settings)
    counter = ThingCounter(db)
    consumer.consume_with(counter.count)
    kafka = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    topic = f"{settings.topic_prefix}.thing.events"
    async with consumer.running():
        await kafka.start()
        first, second, third = (e.to_json() for e in envelopes)
        # A relay that died before marking its batch sends it again: same bytes, new offsets.
        for body in (first, second, first, second):
            await kafka.send_and_wait(topic, body, key=b"k", partition=0)
        await eventually(lambda: counter.reached(2))
        await kafka.send_and_wait(topic, first, key=b"k", partition=0)  # a later repeat, own batch
        await kafka.send_and_wait(topic, third, key=b"k", partition=0)
        await eventually(lambda: counter.reached(3))
        await asyncio.sleep(0.5)
        await kafka.stop()

    assert await counter.total() == 3
