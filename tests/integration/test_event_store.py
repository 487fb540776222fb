"""The document-store event store's own mechanics: outbox markers, the stream head, group
commit, position blocks and the caches, and what the `mongodb` profile does instead. What every adapter promises is in the contract
suite (libs/runtime/tests/contract/test_event_store_contract.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import pytest

from muster_contracts.envelope import Actor, Role
from muster_contracts.events import DomainEvent
from muster_runtime.adapters.mongodb.event_store import ORPHAN_MARKER_AGE, MongoEventStore
from muster_runtime.adapters.mongodb.profile import DocumentStoreOptions
from muster_runtime.mongo import Database, Document
from muster_runtime.ports.event_store import CommandContext, ConcurrencyError, Stream
from tests.integration.conftest import Commands


class ThingHappened(DomainEvent):
    event_type: ClassVar[str] = "test.thing_happened"
    stream_type: ClassVar[str] = "thing"
    n: int


CONTEXT = CommandContext(Actor(subject="tester", role=Role.ORGANISER))


@pytest.fixture
async def store(db: Database) -> MongoEventStore:
    store = MongoEventStore(db)
    await store.create_indexes()
    return store


async def test_an_append_that_died_before_its_commit_holds_its_stream_then_is_swept(
    store: MongoEventStore, db: Database
) -> None:
    await store.append("thing-1", "thing", 0, [ThingHappened(n=1)], CONTEXT)
    await store.append("thing-2", "thing", 0, [ThingHappened(n=2)], CONTEXT)
    now = datetime.now(UTC)
    # Markers of appends that wrote their marker but not (yet) their commit.
    await db["events_outbox"].insert_one({"_id": "thing-3@1", "position": 0, "written_at": now})
    await db["events_outbox"].insert_one(
        {
            "_id": "thing-4@1",
            "position": 0,
            "written_at": now - timedelta(seconds=ORPHAN_MARKER_AGE + 1),
        }
    )

    ready = await store.unpublished(10)

    assert [c["_id"] for c in ready] == ["thing-1@1", "thing-2@1"]
    assert await db["events_outbox"].find_one({"_id": "thing-3@1"}) is not None  # in flight
    assert await db["events_outbox"].find_one({"_id": "thing-4@1"}) is None  # swept


async def test_a_commit_whose_head_was_never_advanced_is_read_and_the_head_mended(
    store: MongoEventStore, db: Database
) -> None:
    await store.append("thing-9", "thing", 0, [ThingHappened(n=1)], CONTEXT)
    # The writer died (the store went away) between its commit and the head.
    await db["events_heads"].delete_one({"_id": "thing-9"})

    stream = await store.read_stream("thing-9")
    await store.append("thing-9", "thing", 1, [ThingHappened(n=2)], CONTEXT)

    assert [e.payload["n"] for e in stream.events] == [1]
    assert stream.version == 1
    assert await store.stream_version("thing-9") == 2
    with pytest.raises(ConcurrencyError) as refused:
        await store.append("thing-9", "thing", 1, [ThingHappened(n=99)], CONTEXT)
    assert refused.value.actual == 2


async def test_an_append_after_a_read_is_refused_once_the_stream_moved_on(
    store: MongoEventStore,
) -> None:
    await store.append("thing-1", "thing", 0, [ThingHappened(n=1)], CONTEXT)
    read = await store.read_stream("thing-1")
    await store.append_after(read, "thing", [ThingHappened(n=2)], CONTEXT)

    with pytest.raises(ConcurrencyError):
        await store.append_after(read, "thing", [ThingHappened(n=99)], CONTEXT)
    with pytest.raises(ConcurrencyError):  # a new stream assumed, but it exists
        await store.append_after(Stream("thing-1", 0, []), "thing", [ThingHappened(n=0)], CONTEXT)

    stream = await store.read_stream("thing-1")
    assert [e.payload["n"] for e in stream.events] == [1, 2]
    # Every refused append took its outbox marker back: only the two commits are pending.
    assert sorted(c["_id"] for c in await store.unpublished(10)) == ["thing-1@1", "thing-1@2"]
    # The head is a hint that append_after leaves behind; a blind append walks past it.
    await store.append("thing-1", "thing", 2, [ThingHappened(n=3)], CONTEXT)
    assert await store.stream_version("thing-1") == 3


async def test_positions_rise_within_every_stream_whichever_process_appends(
    db: Database,
) -> None:
    # Two processes (stores) hand out positions from blocks of their own: the first
    # holds the lower block, yet a stream the second wrote to last continues above it.
    first, second = MongoEventStore(db), MongoEventStore(db)
    await first.create_indexes()
    await first.append("thing-a", "thing", 0, [ThingHappened(n=1)], CONTEXT)
    await second.append("thing-b", "thing", 0, [ThingHappened(n=1)], CONTEXT)
    await second.append_after(
        await second.read_stream("thing-a"), "thing", [ThingHappened(n=2)], CONTEXT
    )
    await first.append_after(
        await first.read_stream("thing-a"), "thing", [ThingHappened(n=3)], CONTEXT
    )
    await first.append("thing-b", "thing", 1, [ThingHappened(n=2)], CONTEXT)

    for stream_id in ("thing-a", "thing-b"):
        positions = [e.position for e in (await first.read_stream(stream_id)).events]
        assert positions == sorted(set(positions)), (stream_id, positions)
    replayed = [(e.stream_id, e.payload["n"]) async for e in first.read_all()]
    assert [n for s, n in replayed if s == "thing-a"] == [1, 2, 3]
    assert [n for s, n in replayed if s == "thing-b"] == [1, 2]
    ready = await first.unpublished(10)
    assert [c["_id"] for c in ready if c["stream_id"] == "thing-a"] == [
        "thing-a@1",
        "thing-a@2",
        "thing-a@3",
    ]


async def test_concurrent_appends_written_together_each_learn_their_own_outcome(
    store: MongoEventStore,
) -> None:
    # Appends that arrive together share an insert_many (group commit); a duplicate in
    # the batch refuses that append alone.
    await asyncio.gather(
        *(store.append(f"thing-{n}", "thing", 0, [ThingHappened(n=0)], CONTEXT) for n in range(5))
    )

    reads = [await store.read_stream(f"thing-{n}") for n in range(5)]

    async def write(stream: int, n: int) -> bool:
        try:
            await store.append_after(reads[stream], "thing", [ThingHappened(n=n)], CONTEXT)
        except ConcurrencyError:
            return False
        return True

    outcomes = await asyncio.gather(*(write(n % 5, n) for n in range(40)))

    for stream in range(5):
        events = (await store.read_stream(f"thing-{stream}")).events
        won = [n for n in range(40) if n % 5 == stream and outcomes[n]]
        assert [e.payload["n"] for e in events][1:] == won
        assert len(events) == 2
    assert outcomes.count(True) == 5
    assert len(await store.unpublished(100)) == 10


async def test_the_marker_of_an_append_that_lost_never_republishes_the_winners_commit(
    store: MongoEventStore, db: Database
) -> None:
    await store.append("thing-1", "thing", 0, [ThingHappened(n=1)], CONTEXT)
    await store.mark_published([c["_id"] for c in await store.unpublished(10)])
    # A writer that assumed a new stream has written its marker for thing-1@1 and is
    # about to find its commit taken: the marker names its own append, not the winner's.
    now = datetime.now(UTC)
    loser = {"_id": "thing-1@1", "position": 10**6, "written_at": now, "event_id": "not-1"}
    await db["events_outbox"].insert_one(loser)
    await store.append("thing-2", "thing", 0, [ThingHappened(n=2)], CONTEXT)

    assert [c["_id"] for c in await store.unpublished(10)] == ["thing-2@1"]
    with pytest.raises(ConcurrencyError):
        await store.append_after(Stream("thing-1", 0, []), "thing", [ThingHappened(n=9)], CONTEXT)
    stale = {**loser, "written_at": now - timedelta(seconds=ORPHAN_MARKER_AGE + 1)}
    await db["events_outbox"].replace_one({"_id": "thing-1@1"}, stale)
    assert [c["_id"] for c in await store.unpublished(10)] == ["thing-2@1"]
    assert await db["events_outbox"].find_one({"_id": "thing-1@1"}) is None  # swept


async def test_the_relay_holds_this_process_s_append_in_flight_without_reading_for_it(
    listened: tuple[Database, Commands],
) -> None:
    db, commands = listened
    store = MongoEventStore(db)
    await store.create_indexes()
    # The commit's insert waits, as under a busy store, until released.
    release = asyncio.Event()
    insert_commit = store._insert_commit

    async def held(commit: Document) -> None:
        await release.wait()
        await insert_commit(commit)

    store._insert_commit = held
    appending = asyncio.create_task(
        store.append("thing-1", "thing", 0, [ThingHappened(n=1)], CONTEXT)
    )
    while await store.count_unpublished() == 0:  # its marker is stored
        await asyncio.sleep(0.01)
    commands.take()

    assert await store.unpublished(10) == []  # held: its commit is not stored yet
    assert commands.take() == [("find", "events_outbox")]  # and not looked for

    release.set()
    await appending
    commands.take()
    assert [c["_id"] for c in await store.unpublished(10)] == ["thing-1@1"]
    assert commands.take() == [("find", "events_outbox")]  # the commit from memory


async def test_a_stream_this_process_appended_to_is_read_from_memory_up_to_its_last_commit(
    listened: tuple[Database, Commands],
) -> None:
    db, commands = listened
    store = MongoEventStore(db)
    await store.create_indexes()
    await store.append("thing-1", "thing", 0, [ThingHappened(n=1)], CONTEXT)
    await store.append("thing-1", "thing", 1, [ThingHappened(n=2)], CONTEXT)
    commands.take()

    prefix = await store.read_stream("thing-1", up_to=2)
    assert commands.take() == []
    whole = await store.read_stream("thing-1")  # the end is only known from the store
    assert commands.take() == [("find", "events")]

    assert [e.payload["n"] for e in prefix.events] == [1, 2]
    assert whole == await MongoEventStore(db).read_stream("thing-1")  # as another process reads it


async def test_the_mongodb_profile_inserts_each_append_alone_and_reads_streams_from_the_store(
    listened: tuple[Database, Commands],
) -> None:
    db, commands = listened
    store = MongoEventStore(db, options=DocumentStoreOptions.of("mongodb"))
    await store.create_indexes()
    await store.append("thing-1", "thing", 0, [ThingHappened(n=1)], CONTEXT)
    commands.take()

    await asyncio.gather(
        *(store.append(f"thing-{n}", "thing", 0, [ThingHappened(n=n)], CONTEXT) for n in (2, 3, 4))
    )
    inserts = [c for c in commands.take() if c[0] == "insert" and c[1] != "events_heads"]
    # A marker and a commit each, never written together.
    assert sorted(inserts) == [("insert", "events")] * 3 + [("insert", "events_outbox")] * 3

    prefix = await store.read_stream("thing-1", up_to=1)
    assert commands.take() == [("find", "events")]  # from the store, not from memory
    assert [e.payload["n"] for e in prefix.events] == [1]
