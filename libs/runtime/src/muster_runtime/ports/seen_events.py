"""The seen-events port: which delivered events a consumer applied already, so that an
event the relay published twice (at least once) takes effect once.

A consumer asks for the `fresh` events of a batch, applies them, then `remember`s them.
Every adapter remembers at least the last `SEEN_WINDOW` events of each source partition
(far more than one relay batch, which is what repeats)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar
from uuid import UUID

from muster_contracts.envelope import EventEnvelope

SEEN_WINDOW = 5000


class Delivery(Protocol):
    """An event as a consumer received it, and the partition it came from."""

    @property
    def envelope(self) -> EventEnvelope: ...

    @property
    def source(self) -> str: ...


D = TypeVar("D", bound=Delivery)


def event_id_bytes(event_id: str | UUID) -> bytes:
    return (event_id if isinstance(event_id, UUID) else UUID(event_id)).bytes


@dataclass(frozen=True)
class Seen:
    """The fresh events of a batch, by source, to remember once the batch is applied."""

    ids: dict[str, list[bytes]]
    # Per source, the offset after the batch's last record: where a batch continuing it starts.
    next_offsets: dict[str, int] = field(default_factory=dict)

    def without(self, event_ids: Iterable[str]) -> Seen:
        """Not these events (set aside: applied when re-driven, so not seen yet)."""
        dropped = {event_id_bytes(i) for i in event_ids}
        return Seen(
            {s: [i for i in ids if i not in dropped] for s, ids in self.ids.items()},
            self.next_offsets,
        )


class SeenEvents(ABC):
    @abstractmethod
    async def fresh(
        self, events: list[D], batch: Mapping[str, range] | None = None
    ) -> tuple[list[D], Seen]:
        """The events not applied before (a repeat within the batch counted once), and
        what to `remember` once they are applied.

        `batch`: per source, the offsets the batch's records span; an adapter may use it to
        skip reading what it holds already."""

    @abstractmethod
    async def remember(self, seen: Seen) -> None: ...

    @abstractmethod
    async def save(self) -> None:
        """Write what a deferred adapter holds in memory (a rebuild's single reader)."""

    @abstractmethod
    async def forget(self) -> None:
        """Start afresh (a rebuild replays from the beginning)."""


def unseen(
    events: list[D], known: Mapping[str, set[bytes]], ends: Mapping[str, int]
) -> tuple[list[D], Seen]:
    """The events whose ids are not `known` for their source, each id once, and their
    `Seen` (with `ends`, where each source's batch ended)."""
    fresh: list[D] = []
    added: dict[str, list[bytes]] = {s: [] for s in known}
    in_batch: set[bytes] = set()
    for event in events:
        event_id = event.envelope.event_id.bytes
        if event_id in known[event.source] or event_id in in_batch:
            continue
        in_batch.add(event_id)
        added[event.source].append(event_id)
        fresh.append(event)
    return fresh, Seen(added, dict(ends))
