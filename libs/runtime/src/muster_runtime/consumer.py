"""Turns Kafka batches into `ConsumedEvent`s; poison messages go to a dead-letter topic."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka.errors import KafkaError
from pydantic import ValidationError
from pymongo.errors import PyMongoError

from muster_contracts.envelope import EventEnvelope
from muster_runtime.projections import ConsumedEvent

log = logging.getLogger(__name__)

# Failures that say nothing about the event: the batch is redelivered after a pause.
TRANSIENT = (PyMongoError, KafkaError, TimeoutError, OSError)

EventHandler = Callable[[list[ConsumedEvent]], Awaitable[None]]
# What applies a batch: a handler, or handlers of independent read models (none reads
# what another writes) applied together.
Stage = EventHandler | tuple[EventHandler, ...]


async def apply_stages(
    stages: Sequence[Stage],
    events: list[ConsumedEvent],
    apply: Callable[[EventHandler, list[ConsumedEvent]], Awaitable[None]] | None = None,
) -> None:
    """Apply `events` with each stage in order, a stage's handlers concurrently (through
    `apply(handler, events)` if given): their round trips to the store overlap.

    Every handler of a stage finishes before a failure is raised (no write is left in
    flight when the batch is redelivered), and the failure is raised as it is, a transient
    one first (the store or the broker away: the batch is redelivered, never set aside).
    """
    run = apply or (lambda handler, batch: handler(batch))
    for stage in stages:
        if not isinstance(stage, tuple):
            await run(stage, events)
            continue
        outcomes = await asyncio.gather(*(run(h, events) for h in stage), return_exceptions=True)
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if failures:
            raise next((f for f in failures if isinstance(f, TRANSIENT)), failures[0])


@dataclass(frozen=True)
class PoisonMessage:
    record: Any  # aiokafka ConsumerRecord
    reason: str

    def headers(self) -> dict[str, str]:
        return {
            "dlt-reason": self.reason[:1000],
            "dlt-source-topic": self.record.topic,
            "dlt-source-partition": str(self.record.partition),
            "dlt-source-offset": str(self.record.offset),
        }


def event_type_of(record: Any) -> str | None:
    """The `event-type` header the relay sets on every event (None if absent)."""
    for name, value in record.headers or ():
        if name == "event-type":
            return bytes(value).decode("utf-8", "replace")
    return None


def decode_records(
    records: tuple[Any, ...], wanted: Collection[str] | None = None
) -> tuple[list[ConsumedEvent], list[PoisonMessage]]:
    """Split a batch into events to apply and messages no code can apply.

    With `wanted`, records whose `event-type` header names another type are skipped
    undecoded (they would have no effect); records without the header are decoded.
    """
    events: list[ConsumedEvent] = []
    poison: list[PoisonMessage] = []
    for record in records:
        if wanted is not None:
            kind = event_type_of(record)
            if kind is not None and kind not in wanted:
                continue
        try:
            envelope = EventEnvelope.from_json(record.value or b"")
        except ValidationError as exc:
            poison.append(PoisonMessage(record, f"not an event envelope: {exc.errors()[:3]}"))
            continue
        events.append(ConsumedEvent(envelope, record.topic, record.partition, record.offset))
    return events, poison


async def apply_or_set_aside(
    apply: Callable[[list[ConsumedEvent]], Awaitable[None]],
    events: list[ConsumedEvent],
    records: tuple[Any, ...],
    set_aside: Callable[[PoisonMessage], Awaitable[None]],
) -> set[str]:
    """Apply a batch; if it fails for a reason other than the store or the broker being
    away, apply its events one by one and set aside those that cannot be applied (an
    event no code can apply must not stop its partition). Effects are idempotent, so
    applying again what the failed batch already applied changes nothing.

    Returns the ids of the events set aside.
    """
    try:
        await apply(events)
        return set()
    except TRANSIENT:
        raise
    except Exception:
        if not events:
            raise
        log.exception("a batch failed; applying its events one by one")
    by_offset = {(r.topic, r.partition, r.offset): r for r in records}
    set_aside_ids: set[str] = set()
    for event in events:
        try:
            await apply([event])
        except TRANSIENT:
            raise
        except Exception as exc:
            record = by_offset[(event.topic, event.partition, event.offset)]
            await set_aside(PoisonMessage(record, f"could not be applied: {exc!r}"))
            set_aside_ids.add(str(event.envelope.event_id))
    return set_aside_ids
