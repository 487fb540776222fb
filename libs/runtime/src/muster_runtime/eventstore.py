"""Event store on the document store: one commit document per command.

A commit holds every event a command produced, so an append is atomic without
transactions. Optimistic concurrency: the append checks the stream head, and a unique
index on (stream_id, version) refuses a second commit after the same version, so of two
writers racing from the same head exactly one wins. A global `position`, allocated after
the head check, orders all commits for replay and keeps per-stream order for the relay.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from muster_contracts.envelope import Actor, EventEnvelope
from muster_contracts.events import DomainEvent
from muster_runtime.mongo import Database, Document


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
    correlation_id: UUID = field(default_factory=uuid4)
    causation_id: UUID | None = None


@dataclass(frozen=True)
class Stream:
    stream_id: str
    version: int
    events: list[EventEnvelope]


class EventStore:
    """Appends and reads event streams; wakes the relay after every append."""

    def __init__(self, db: Database, collection: str = "events") -> None:
        self._commits = db[collection]
        self._counters = db["counters"]
        self._counter_id = f"{collection}.position"
        self.appended = asyncio.Event()

    async def create_indexes(self) -> None:
        await self._commits.create_index(
            [("stream_id", ASCENDING), ("version", ASCENDING)], unique=True, name="stream_version"
        )
        await self._commits.create_index([("position", ASCENDING)], name="position")
        await self._commits.create_index(
            [("published", ASCENDING), ("position", ASCENDING)], name="outbox"
        )
        # Created up front: concurrent first upserts of a missing counter can collide.
        with contextlib.suppress(DuplicateKeyError):
            await self._counters.insert_one({"_id": self._counter_id, "value": 0})

    async def stream_version(self, stream_id: str) -> int:
        head = await self._commits.find_one(
            {"stream_id": stream_id}, {"last_version": 1}, sort=[("version", -1)]
        )
        return int(head["last_version"]) if head else 0

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
        """Append all `events` or none.

        Raises:
            ConcurrencyError: the stream is not at `expected_version`.
        """
        if not events:
            return []
        actual = await self.stream_version(stream_id)
        if actual != expected_version:
            raise ConcurrencyError(stream_id, expected_version, actual)
        position = await self._next_position()
        now = datetime.now(UTC)
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
        commit: Document = {
            "_id": f"{stream_id}@{expected_version + 1}",
            "stream_id": stream_id,
            "stream_type": stream_type,
            "version": expected_version + 1,
            "last_version": expected_version + len(events),
            "position": position,
            "published": False,
            "recorded_at": now,
            "events": [e.model_dump(mode="json", exclude={"position"}) for e in envelopes],
        }
        try:
            await self._commits.insert_one(commit)
        except DuplicateKeyError:
            raise ConcurrencyError(stream_id, expected_version) from None
        self.appended.set()
        return envelopes

    async def read_stream(self, stream_id: str) -> Stream:
        events: list[EventEnvelope] = []
        async for commit in self._commits.find({"stream_id": stream_id}, sort=[("version", 1)]):
            events.extend(commit_envelopes(commit))
        return Stream(stream_id, events[-1].stream_version if events else 0, events)

    async def read_all(
        self, after_position: int = -1, batch: int = 1000
    ) -> AsyncIterator[EventEnvelope]:
        """Every event in commit order, for replays and rebuilds."""
        cursor = self._commits.find({"position": {"$gt": after_position}}, sort=[("position", 1)])
        async for commit in cursor.batch_size(batch):
            for envelope in commit_envelopes(commit):
                yield envelope

    async def unpublished(self, limit: int) -> list[Document]:
        cursor = self._commits.find({"published": False}, sort=[("position", 1)], limit=limit)
        return [c async for c in cursor]

    async def mark_published(self, commit_ids: list[Any]) -> None:
        await self._commits.update_many({"_id": {"$in": commit_ids}}, {"$set": {"published": True}})

    async def count_unpublished(self) -> int:
        return await self._commits.count_documents({"published": False})

    async def _next_position(self) -> int:
        for _ in range(3):
            try:
                counter = await self._counters.find_one_and_update(
                    {"_id": self._counter_id},
                    {"$inc": {"value": 1}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:
                continue  # lost the race to create the counter: it exists now
            assert counter is not None  # upsert with AFTER always returns the document
            return int(counter["value"])
        raise RuntimeError("could not allocate an event position")


def commit_envelopes(commit: Document) -> list[EventEnvelope]:
    """The events of a stored commit document, in stream order."""
    return [
        EventEnvelope.model_validate({**e, "position": commit["position"]})
        for e in commit["events"]
    ]
