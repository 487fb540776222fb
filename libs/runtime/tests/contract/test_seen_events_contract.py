"""The seen-events port's contract on every adapter: an event delivered again after it
was applied is dropped, however many events came in between (up to the window)."""

from __future__ import annotations

from typing import ClassVar

import pytest

from muster_contracts.envelope import Actor, Role
from muster_contracts.events import DomainEvent
from muster_runtime.adapters.memory.event_store import InMemoryEventStore
from muster_runtime.adapters.memory.seen_events import InMemorySeenEvents
from muster_runtime.adapters.mongodb.seen_events import RepeatFilter
from muster_runtime.mongo import Database
from muster_runtime.ports.event_store import CommandContext
from muster_runtime.ports.seen_events import SEEN_WINDOW, SeenEvents
from muster_runtime.projections import ConsumedEvent


class Noted(DomainEvent):
    event_type: ClassVar[str] = "test.noted"
    stream_type: ClassVar[str] = "note"
    n: int


@pytest.fixture
def seen(scratch_db: Database | None) -> SeenEvents:
    if scratch_db is None:
        return InMemorySeenEvents()
    return RepeatFilter(scratch_db, "contract")


async def delivered(count: int, *, partition: int = 0, offset: int = 0) -> list[ConsumedEvent]:
    """`count` distinct events as a consumer receives them from one partition."""
    store = InMemoryEventStore()
    context = CommandContext(Actor(subject="tester", role=Role.SYSTEM))
    for n in range(count):
        await store.append(f"note-{n}", "note", 0, [Noted(n=n)], context)
    envelopes = [e async for e in store.read_all()]
    return [ConsumedEvent(e, "events", partition, offset + i) for i, e in enumerate(envelopes)]


def again(events: list[ConsumedEvent], offset: int) -> list[ConsumedEvent]:
    """The same events published again: later offsets, same event ids."""
    return [
        ConsumedEvent(e.envelope, e.topic, e.partition, offset + i) for i, e in enumerate(events)
    ]


async def test_events_applied_once_are_dropped_when_delivered_again(seen: SeenEvents) -> None:
    first = await delivered(5)
    fresh, marks = await seen.fresh(first)
    await seen.remember(marks)

    repeat_and_new = [*again(first[3:], 5), *(await delivered(1, offset=7))]
    fresh_again, _ = await seen.fresh(repeat_and_new)

    assert fresh == first
    assert fresh_again == repeat_and_new[2:]


async def test_a_repeat_within_one_batch_counts_once(seen: SeenEvents) -> None:
    events = await delivered(3)

    fresh, _ = await seen.fresh([*events, *again(events[:2], 3)])

    assert fresh == events


async def test_events_not_remembered_are_fresh_again(seen: SeenEvents) -> None:
    events = await delivered(3)
    _, marks = await seen.fresh(events)
    await seen.remember(marks.without([str(events[1].envelope.event_id)]))

    fresh, _ = await seen.fresh(again(events, 3))

    assert fresh == again(events, 3)[1:2]


async def test_a_whole_window_of_events_is_remembered(seen: SeenEvents) -> None:
    events = await delivered(SEEN_WINDOW)
    for start in range(0, SEEN_WINDOW, 1000):
        _, marks = await seen.fresh(events[start : start + 1000])
        await seen.remember(marks)

    fresh, _ = await seen.fresh(again(events[:1], SEEN_WINDOW))

    assert fresh == []


async def test_forgetting_starts_afresh(seen: SeenEvents) -> None:
    events = await delivered(3)
    _, marks = await seen.fresh(events)
    await seen.remember(marks)

    await seen.forget()
    fresh, _ = await seen.fresh(again(events, 3))

    assert fresh == again(events, 3)
