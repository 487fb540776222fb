"""The event store port's contract: the same assertions on every adapter, the in-memory
one and the document store (FerretDB in development, in a database of the test's own)."""

from __future__ import annotations

import asyncio
from typing import ClassVar

import pytest

from muster_contracts.envelope import Actor, Role
from muster_contracts.events import DomainEvent
from muster_runtime.adapters.memory.event_store import InMemoryEventStore
from muster_runtime.adapters.mongodb.event_store import MongoEventStore
from muster_runtime.adapters.mongodb.profile import DocumentStoreOptions, StoreProfile
from muster_runtime.mongo import Database
from muster_runtime.ports.event_store import (
    CommandContext,
    ConcurrencyError,
    Stream,
)


class ThingHappened(DomainEvent):
    event_type: ClassVar[str] = "test.thing_happened"
    stream_type: ClassVar[str] = "thing"
    n: int


# What every adapter is: the event store and its outbox.
Store = InMemoryEventStore | MongoEventStore


CONTEXT = CommandContext(Actor(subject="tester", role=Role.ORGANISER))


@pytest.fixture
async def store(scratch_db: Database | None, store_profile: StoreProfile | None) -> Store:
    if scratch_db is None or store_profile is None:
        return InMemoryEventStore()
    mongo = MongoEventStore(scratch_db, options=DocumentStoreOptions.of(store_profile))
    await mongo.create_indexes()
    return mongo


def things(*numbers: int) -> list[DomainEvent]:
    return [ThingHappened(n=n) for n in numbers]


async def test_a_stream_reads_back_its_appends_in_version_order(store: Store) -> None:
    await store.append("thing-1", "thing", 0, things(1, 2), CONTEXT)
    await store.append("thing-1", "thing", 2, things(3), CONTEXT)

    stream = await store.read_stream("thing-1")

    assert stream.version == 3
    assert [e.payload["n"] for e in stream.events] == [1, 2, 3]
    assert [e.stream_version for e in stream.events] == [1, 2, 3]
    assert {e.stream_id for e in stream.events} == {"thing-1"}
    assert {e.correlation_id for e in stream.events} == {CONTEXT.correlation_id}
    assert await store.stream_version("thing-1") == 3


async def test_a_stream_never_written_is_empty_at_version_zero(store: Store) -> None:
    stream = await store.read_stream("thing-none")

    assert (stream.version, stream.events) == (0, [])
    assert await store.stream_version("thing-none") == 0


async def test_a_stale_expected_version_is_refused_and_nothing_is_stored(store: Store) -> None:
    await store.append("thing-1", "thing", 0, things(1, 2), CONTEXT)

    with pytest.raises(ConcurrencyError) as refused:
        await store.append("thing-1", "thing", 1, things(99), CONTEXT)

    assert refused.value.stream_id == "thing-1"
    assert refused.value.expected == 1
    assert refused.value.actual == 2
    assert [e.payload["n"] for e in (await store.read_stream("thing-1")).events] == [1, 2]


async def test_an_append_after_a_stale_read_is_refused(store: Store) -> None:
    await store.append("thing-1", "thing", 0, things(1), CONTEXT)
    read = await store.read_stream("thing-1")
    await store.append_after(read, "thing", things(2), CONTEXT)

    with pytest.raises(ConcurrencyError):
        await store.append_after(read, "thing", things(3), CONTEXT)

    assert [e.payload["n"] for e in (await store.read_stream("thing-1")).events] == [1, 2]


async def test_a_repeated_append_to_a_new_stream_stores_it_once(store: Store) -> None:
    """A retried command that creates a stream collides with its own first try."""
    new = Stream("thing-1", 0, [])
    first = await store.append_after(new, "thing", things(1), CONTEXT)

    with pytest.raises(ConcurrencyError):
        await store.append_after(new, "thing", things(1), CONTEXT)

    assert (await store.read_stream("thing-1")).events == first


async def test_of_many_racing_writers_exactly_one_wins_each_version(store: Store) -> None:
    async def write(expected: int, n: int) -> bool:
        try:
            await store.append("thing-1", "thing", expected, things(n, n), CONTEXT)
        except ConcurrencyError:
            return False
        return True

    winners = []
    for round_ in range(3):
        expected = 2 * round_
        outcomes = await asyncio.gather(*(write(expected, n) for n in range(20)))
        assert outcomes.count(True) == 1
        winners.append(outcomes.index(True))

    stream = await store.read_stream("thing-1")
    assert stream.version == 6
    assert [e.payload["n"] for e in stream.events] == [w for w in winners for _ in (1, 2)]


async def test_positions_rise_within_a_stream_and_replays_follow_them(store: Store) -> None:
    for i in range(6):
        await store.append(f"thing-{i % 2}", "thing", i // 2, things(i), CONTEXT)

    replayed = [e async for e in store.read_all()]

    assert sorted(e.payload["n"] for e in replayed) == list(range(6))
    positions = [e.position for e in replayed]
    assert positions == sorted(positions)
    for stream_id in ("thing-0", "thing-1"):
        in_stream = [e.position for e in (await store.read_stream(stream_id)).events]
        assert in_stream == sorted(set(in_stream))
    later = [e async for e in store.read_all(after_position=positions[2])]
    assert later == replayed[3:]


async def test_a_stream_reads_from_a_version_and_up_to_one(store: Store) -> None:
    await store.append("thing-1", "thing", 0, things(1, 2), CONTEXT)
    await store.append("thing-1", "thing", 2, things(3), CONTEXT)
    await store.append("thing-1", "thing", 3, things(4), CONTEXT)

    after = await store.read_stream("thing-1", after=2)
    prefix = await store.read_stream("thing-1", up_to=2)
    nothing_new = await store.read_stream("thing-1", after=4)

    assert (after.version, [e.payload["n"] for e in after.events]) == (4, [3, 4])
    assert (nothing_new.version, nothing_new.events) == (4, [])
    assert (prefix.version, [e.payload["n"] for e in prefix.events]) == (2, [1, 2])


async def test_an_empty_append_stores_nothing(store: Store) -> None:
    assert await store.append("thing-1", "thing", 0, [], CONTEXT) == []
    assert (await store.read_stream("thing-1")).version == 0


async def test_appends_are_unpublished_until_marked(store: Store) -> None:
    await store.append("thing-1", "thing", 0, things(1), CONTEXT)
    await store.append("thing-2", "thing", 0, things(2, 3), CONTEXT)
    assert store.appended.is_set()

    pending = await store.unpublished(10)

    assert [c["stream_id"] for c in pending] == ["thing-1", "thing-2"]
    assert [len(c["events"]) for c in pending] == [1, 2]
    assert await store.count_unpublished() == 2
    assert await store.oldest_unpublished_age() >= 0
    await store.mark_published([c["_id"] for c in pending])
    assert await store.unpublished(10) == []
    assert await store.count_unpublished() == 0
    assert await store.oldest_unpublished_age() == 0


async def test_one_relay_holds_the_lease_at_a_time(store: Store) -> None:
    assert await store.hold_relay_lease("relay-a", 30)
    assert not await store.hold_relay_lease("relay-b", 30)
    assert await store.hold_relay_lease("relay-a", 30)
