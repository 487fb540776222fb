"""Figures as they stood at a past instant, to the minute: what the read models hand their
history (`Change`), and the rule of which instant a figure as of `at` answers for.

How a store keeps the history (calendar buckets, a journal written beside the consumer) is
the adapter's: `muster_reporting.adapters.as_of_history`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import NamedTuple

from muster_runtime.ports.counter_cells import Position

# History is kept by year from here; whatever was recorded before is in one bucket.
HISTORY_SINCE = datetime(2024, 1, 1, tzinfo=UTC)


class Change(NamedTuple):
    """Counts an event added to a cell, at the instant the event was recorded (a tuple: a
    rebuild makes millions)."""

    event: Position
    cell: str
    counts: Mapping[str, int]
    recorded_at: datetime


def effective_instant(at: datetime) -> datetime:
    """What a figure as of `at` answers for: the start of its UTC minute (changes recorded
    before it count)."""
    return at.astimezone(UTC).replace(second=0, microsecond=0)


def answered_instant(at: datetime) -> datetime:
    """`effective_instant` of an `at` the history answers for: not before `HISTORY_SINCE`
    (ValueError)."""
    before = effective_instant(at)
    if before < HISTORY_SINCE:
        raise ValueError(f"history is kept from {HISTORY_SINCE.isoformat()}")
    return before


def instant(at: datetime) -> str:
    """A UTC instant as fixed-width text: sorts in time order, keeps the microseconds."""
    at = at.astimezone(UTC)
    return f"{at.year:04d}-" + at.strftime("%m-%dT%H:%M:%S.%fZ")


def parse_instant(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
