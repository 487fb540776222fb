"""Where a Kafka batch's records came from, for the seen-events window (`RepeatFilter`, the
document store's adapter of `muster_runtime.ports.seen_events`, importable from here too)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from muster_runtime.adapters.mongodb.seen_events import RepeatFilter as RepeatFilter
from muster_runtime.projections import source_of


def batch_offsets(records: Iterable[Any]) -> dict[str, range]:
    """Per source partition, the offsets a Kafka batch's records span."""
    spans: dict[str, range] = {}
    for record in records:
        source = source_of(record.topic, record.partition)
        span = spans.get(source)
        spans[source] = (
            range(record.offset, record.offset + 1)
            if span is None
            else range(min(span.start, record.offset), max(span.stop, record.offset + 1))
        )
    return spans
