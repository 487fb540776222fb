"""Turns Kafka batches into `ConsumedEvent`s; poison messages go to a dead-letter topic."""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from muster_contracts.envelope import EventEnvelope
from muster_runtime.projections import ConsumedEvent

log = logging.getLogger(__name__)


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
