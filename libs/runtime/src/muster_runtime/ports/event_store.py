"""The event store port: append to a stream after the version read, read streams back,
replay every event in order, and hand the relay what it has not published yet.

Invariants every adapter keeps (the contract suite checks them on each):
- an append stores all its events or none, after exactly the version it expects: of
  writers appending after the same version one wins and the others get `ConcurrencyError`;
- a stream reads back in version order, events numbered 1, 2, 3…;
- positions order commits: they rise within a stream, and `read_all` replays in that order;
- every append is unpublished until the relay marks it published.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from muster_contracts.envelope import Actor, EventEnvelope
from muster_contracts.events import DomainEvent, decode_payload
from muster_runtime.logs import correlation_id

# A commit as the relay reads it: `_id` (`<stream>@<first version>`), `stream_id`,
# `stream_type`, `version`, `last_version`, `position`, `recorded_at`, `events` (the
# envelopes as JSON, without their position) and, when the append was traced, `trace`.
StoredCommit = Mapping[str, Any]


class ConcurrencyError(Exception):
    """The stream moved on since the caller read it (HTTP 409 at the edge)."""

    def __init__(self, stream_id: str, expected: int, actual: int | None = None) -> None:
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual
        super().__init__(f"stream {stream_id} is not at version {expected}")


@dataclass(frozen=True)
class CommandContext:
    """Who asked, and which request caused the events (correlation / causation)."""

    actor: Actor
    correlation_id: UUID = field(default_factory=correlation_id)
    causation_id: UUID | None = None


@dataclass(frozen=True)
class Stream:
    stream_id: str
    version: int
    events: list[EventEnvelope]

    def decoded(self) -> list[DomainEvent]:
        """The stream's events as their current versions (upcast), for a fold."""
        return [decode_payload(e.type, e.schema_version, e.payload) for e in self.events]

    @property
    def last_position(self) -> int:
        """The position of the stream's last commit (-1 for a new stream)."""
        return self.events[-1].position if self.events else -1


class EventStore(ABC):
    """Event streams: what application code appends and reads."""

    @abstractmethod
    async def append(
        self,
        stream_id: str,
        stream_type: str,
        expected_version: int,
        events: Sequence[DomainEvent],
        context: CommandContext,
        *,
        occurred_at: datetime | None = None,
    ) -> list[EventEnvelope]:
        """Append all `events` or none, after version `expected_version` of the stream
        (0: the stream is new).

        Raises:
            ConcurrencyError: the stream is not at `expected_version`.
        """

    @abstractmethod
    async def append_after(
        self,
        read: Stream,
        stream_type: str,
        events: Sequence[DomainEvent],
        context: CommandContext,
        *,
        occurred_at: datetime | None = None,
    ) -> list[EventEnvelope]:
        """Append all `events` or none right after `read`, the caller's read of the stream
        (or of a prefix of it); `Stream(id, 0, [])` for a stream the caller expects new.

        Raises:
            ConcurrencyError: the stream moved on since `read`.
        """

    @abstractmethod
    async def read_stream(
        self, stream_id: str, up_to: int | None = None, *, after: int = 0
    ) -> Stream:
        """Every event of the stream, in version order (an empty stream at version 0 if
        there is none). With `up_to`, only the commits that start at or below that
        version; with `after`, a version a commit ended at, only the events after it."""

    @abstractmethod
    async def stream_version(self, stream_id: str) -> int:
        """The stream's version (0 for a new stream): a cheap check of a cached fold.

        It may lag a moment behind an append still returning, never run ahead of it."""

    @abstractmethod
    def read_all(self, after_position: int = -1, batch: int = 1000) -> AsyncIterator[EventEnvelope]:
        """Every event after `after_position`, in position order, for replays and rebuilds."""

    @abstractmethod
    async def create_indexes(self) -> None:
        """Prepare the store (indexes, counters) before the first append."""


class Outbox(ABC):
    """The relay's side of the event store: what is stored and not yet published."""

    appended: asyncio.Event
    """Set after every append of this process: wakes the relay."""

    @abstractmethod
    async def unpublished(self, limit: int) -> list[StoredCommit]:
        """The oldest commits not yet published, in position order, at most `limit`; a
        stream with an append still in flight is held back after it (per-stream order)."""

    @abstractmethod
    async def mark_published(self, commit_ids: list[Any]) -> None:
        """The relay published these commits (their `_id`s)."""

    @abstractmethod
    async def count_unpublished(self) -> int: ...

    @abstractmethod
    async def oldest_unpublished_age(self) -> float:
        """Seconds since the oldest unpublished commit was written (0 if none)."""

    @abstractmethod
    async def hold_relay_lease(self, owner: str, seconds: float) -> bool:
        """Whether `owner` may relay now: one relay per store, the lease renewed each round."""


def commit_id(stream_id: str, first_version: int) -> str:
    return f"{stream_id}@{first_version}"


def new_commit(
    stream_id: str,
    stream_type: str,
    expected_version: int,
    position: int,
    events: Sequence[DomainEvent],
    context: CommandContext,
    now: datetime,
    occurred_at: datetime | None,
) -> tuple[dict[str, Any], list[EventEnvelope]]:
    """The commit of one append (as `StoredCommit` describes it) and its envelopes."""
    envelopes = [
        EventEnvelope(
            event_id=uuid4(),
            type=event.event_type,
            schema_version=event.schema_version,
            stream_id=stream_id,
            stream_type=stream_type,
            stream_version=expected_version + i,
            position=position,
            occurred_at=occurred_at or now,
            recorded_at=now,
            correlation_id=context.correlation_id,
            causation_id=context.causation_id,
            actor=context.actor,
            payload=event.model_dump(mode="json"),
        )
        for i, event in enumerate(events, start=1)
    ]
    commit = {
        "_id": commit_id(stream_id, expected_version + 1),
        "stream_id": stream_id,
        "stream_type": stream_type,
        "version": expected_version + 1,
        "last_version": expected_version + len(events),
        "position": position,
        "recorded_at": now,
        "events": [e.model_dump(mode="json", exclude={"position"}) for e in envelopes],
    }
    return commit, envelopes


def commit_envelopes(commit: StoredCommit) -> list[EventEnvelope]:
    """The events of a stored commit, in stream order."""
    return [
        EventEnvelope.model_validate({**e, "position": commit["position"]})
        for e in commit["events"]
    ]
