"""The event store port in memory: streams as lists of commits, one process, no I/O.

An append checks the stream's version and stores its commit with no `await` between
them, so of concurrent appends after the same version exactly one wins, as on the real
store. Positions come from one counter, so they rise with every append."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

from muster_contracts.envelope import EventEnvelope
from muster_contracts.events import DomainEvent
from muster_runtime.ports.event_store import (
    CommandContext,
    ConcurrencyError,
    EventStore,
    Outbox,
    StoredCommit,
    Stream,
    commit_envelopes,
    new_commit,
)


class InMemoryEventStore(EventStore, Outbox):
    """Event streams and their outbox in this process's memory."""

    def __init__(self) -> None:
        self._streams: dict[str, list[StoredCommit]] = {}
        self._commits: list[StoredCommit] = []
        self._unpublished: dict[str, StoredCommit] = {}
        self._lease: tuple[str, float] | None = None
        self.appended = asyncio.Event()

    async def create_indexes(self) -> None:
        pass

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
        await asyncio.sleep(0)  # lets concurrent callers interleave, as real I/O would
        if not events:
            return []
        version = self._version(stream_id)
        if version != expected_version:
            raise ConcurrencyError(stream_id, expected_version, version)
        commit, envelopes = new_commit(
            stream_id,
            stream_type,
            expected_version,
            len(self._commits),
            events,
            context,
            datetime.now(UTC),
            occurred_at,
        )
        self._streams.setdefault(stream_id, []).append(commit)
        self._commits.append(commit)
        self._unpublished[commit["_id"]] = commit
        self.appended.set()
        return envelopes

    async def append_after(
        self,
        read: Stream,
        stream_type: str,
        events: Sequence[DomainEvent],
        context: CommandContext,
        *,
        occurred_at: datetime | None = None,
    ) -> list[EventEnvelope]:
        return await self.append(
            read.stream_id, stream_type, read.version, events, context, occurred_at=occurred_at
        )

    async def read_stream(
        self, stream_id: str, up_to: int | None = None, *, after: int = 0
    ) -> Stream:
        events: list[EventEnvelope] = []
        version = after
        for commit in self._streams.get(stream_id, []):
            if commit["version"] <= after:
                continue
            if up_to is not None and commit["version"] > up_to:
                break
            events.extend(commit_envelopes(commit))
            version = int(commit["last_version"])
        return Stream(stream_id, version, events)

    async def stream_version(self, stream_id: str) -> int:
        return self._version(stream_id)

    async def read_all(
        self, after_position: int = -1, batch: int = 1000
    ) -> AsyncIterator[EventEnvelope]:
        for commit in self._commits[after_position + 1 :]:
            for envelope in commit_envelopes(commit):
                yield envelope

    async def unpublished(self, limit: int) -> list[StoredCommit]:
        return list(self._unpublished.values())[:limit]

    async def mark_published(self, commit_ids: list[Any]) -> None:
        for published in commit_ids:
            self._unpublished.pop(published, None)

    async def count_unpublished(self) -> int:
        return len(self._unpublished)

    async def oldest_unpublished_age(self) -> float:
        oldest = next(iter(self._unpublished.values()), None)
        if oldest is None:
            return 0.0
        return max(0.0, float((datetime.now(UTC) - oldest["recorded_at"]).total_seconds()))

    async def hold_relay_lease(self, owner: str, seconds: float) -> bool:
        now = asyncio.get_running_loop().time()
        if self._lease is not None and self._lease[0] != owner and self._lease[1] > now:
            return False
        self._lease = (owner, now + seconds)
        return True

    def _version(self, stream_id: str) -> int:
        commits = self._streams.get(stream_id)
        return int(commits[-1]["last_version"]) if commits else 0
