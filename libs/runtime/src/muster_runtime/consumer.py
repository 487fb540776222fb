"""Turns Kafka batches into `ConsumedEvent`s; poison messages go to a dead-letter topic."""

from __future__ import annotations

import logging
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


def decode_records(records: tuple[Any, ...]) -> tuple[list[ConsumedEvent], list[PoisonMessage]]:
    """Split a batch into events to apply and messages no code can apply."""
    events: list[ConsumedEvent] = []
    poison: list[PoisonMessage] = []
    for record in records:
        try:
            envelope = EventEnvelope.from_json(record.value or b"")
        except ValidationError as exc:
            poison.append(PoisonMessage(record, f"not an event envelope: {exc.errors()[:3]}"))
            continue
        events.append(ConsumedEvent(envelope, record.topic, record.partition, record.offset))
    return events, poison
