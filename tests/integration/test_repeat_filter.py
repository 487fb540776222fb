"""The repeat filter's windows on the real store: what a consumer remembers, another one (or
the same after a restart or a rebalance) knows, and a batch writes one small chunk."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from muster_contracts.envelope import Actor, EventEnvelope, Role
from muster_runtime.adapters.mongodb.seen_events import CHUNK, CHUNKS, WINDOW, RepeatFilter
from muster_runtime.mongo import Database
from muster_runtime.projections import ConsumedEvent
from tests.integration.conftest import Commands

TOPIC = "muster.thing.events"
SOURCE = "muster_thing_events:0"


def published(count: int) -> list[EventEnvelope]:
    now = datetime.now(UTC)
    return [
        EventEnvelope(
            event_id=uuid4(),
            type="test.thing_happened",
            schema_version=1,
            stream_id=f"thing-{n}",
            stream_type="thing",
            stream_version=1,
            position=n,
            occurred_at=now,
            recorded_at=now,
            correlation_id=uuid4(),
            actor=Actor(subject="tester", role=Role.ORGANISER),
            payload={"n": n},
        )
        for n in range(count)
    ]


def at_offsets(envelopes: list[EventEnvelope], first: int) -> list[ConsumedEvent]:
    return [ConsumedEvent(e, TOPIC, 0, first + n) for n, e in enumerate(envelopes)]


async def apply(
    repeats: RepeatFilter, envelopes: list[EventEnvelope], first: int
) -> list[EventEnvelope]:
    """One consumed batch at offsets from `first`: the events it applies."""
    batch = at_offsets(envelopes, first)
    fresh, seen = await repeats.fresh(batch, {SOURCE: range(first, first + len(batch))})
    await repeats.remember(seen)
    return [e.envelope for e in fresh]


async def test_a_consumer_reading_on_writes_one_small_chunk_a_batch_and_reads_nothing(
    listened: tuple[Database, Commands],
) -> None:
    db, commands = listened
    events = published(3 * CHUNK)
    repeats = RepeatFilter(db, "reporting")
    assert await apply(repeats, events[:10], 0) == events[:10]  # reads the window once
    commands.take()
    offset = 10
    for start in range(10, len(events), 40):
        batch = events[start : start + 40]
        assert await apply(repeats, batch, offset) == batch
        offset += len(batch)
        sent = commands.take()
        # The chunk being filled, and the next one when the batch reaches it.
        assert 1 <= len(sent) <= 2
        assert set(sent) <= {("update", "consumer_windows"), ("insert", "consumer_windows")}
    # A relay's repeats, right after the originals: dropped, still without reading.
    assert await apply(repeats, events[-30:], offset) == []
    assert not any(command == "find" for command, _ in commands.take())

    chunks = [d async for d in db["consumer_windows"].find()]
    assert len(chunks) == 3
    assert max(len(d["ids"]) for d in chunks) == CHUNK * 16  # bytes, never a whole window


async def test_a_batch_that_does_not_continue_the_last_one_reads_what_others_wrote(
    db: Database,
) -> None:
    events = published(60)
    ours, theirs = RepeatFilter(db, "dispatch"), RepeatFilter(db, "dispatch")
    assert await apply(ours, events[:20], 0) == events[:20]
    # The partition moved to another consumer, which applied the next batch...
    assert await apply(theirs, events[20:40], 20) == events[20:40]
    # ...and came back: a batch at offset 40 does not continue ours (next: 20), so the
    # window is read again, and a repeat of what the other consumer applied is dropped.
    assert await apply(ours, events[30:60], 40) == events[40:60]

    # A restarted consumer knows every id remembered, however many batches wrote them.
    restarted = RepeatFilter(db, "dispatch")
    assert await apply(restarted, events, 60) == []


async def test_the_window_keeps_the_last_ids_across_the_ring_of_chunks(db: Database) -> None:
    events = published(WINDOW + 2 * CHUNK + 17)
    repeats = RepeatFilter(db, "reporting")
    offset = 0
    for start in range(0, len(events), 333):
        batch = events[start : start + 333]
        assert await apply(repeats, batch, offset) == batch
        offset += len(batch)

    assert await db["consumer_windows"].count_documents({}) == CHUNKS
    reread = RepeatFilter(db, "reporting")
    last = events[-WINDOW:]
    assert await apply(reread, last, offset) == []  # every one of the last WINDOW known
    forgotten = events[: len(events) - CHUNKS * CHUNK]
    assert await apply(RepeatFilter(db, "reporting"), forgotten, offset) == forgotten


async def test_a_window_stored_before_chunks_is_still_known(db: Database) -> None:
    events = published(40)
    await db["consumer_windows"].insert_one(
        {
            "_id": f"reporting|{SOURCE}",
            "group": "reporting",
            "ids": [str(e.event_id) for e in events[:30]],
        }
    )
    repeats = RepeatFilter(db, "reporting")
    assert await apply(repeats, events, 30) == events[30:]
    assert await apply(RepeatFilter(db, "reporting"), events, 70) == []


async def test_a_rebuild_keeps_its_windows_in_memory_and_saves_them_at_the_end(
    db: Database,
) -> None:
    events = published(2 * CHUNK)
    rebuild = RepeatFilter(db, "reporting", deferred=True)
    await rebuild.forget()
    assert await apply(rebuild, events[:CHUNK], 0) == events[:CHUNK]
    assert await apply(rebuild, events, CHUNK) == events[CHUNK:]  # repeats dropped
    assert await db["consumer_windows"].count_documents({}) == 0

    await rebuild.save()
    assert await apply(RepeatFilter(db, "reporting"), events, 2 * CHUNK) == []
