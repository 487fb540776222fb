"""Writing messages into inboxes: counted, tallied for organisers, and pushed to open streams."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from prometheus_client import Counter, Histogram

from muster_notify.application.ports import Inboxes, Outcome, Tallies
from muster_notify.domain.messages import Message

MESSAGES = Counter(
    "muster_notify_messages_total", "Messages by kind and outcome", ["kind", "outcome"]
)
DELIVERY_LAG = Histogram(
    "muster_notify_delivery_lag_seconds",
    "From a message's cause (an event's occurred-at, a timer's moment) to its delivery",
    ["kind"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
)


def utc_now() -> datetime:
    return datetime.now(UTC)


class LiveFeed:
    """Wakes the open streams of volunteers who were just delivered a message (this
    process's streams; streams on other replicas look again every few seconds)."""

    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Event]] = {}

    def subscribe(self, volunteer_id: str) -> asyncio.Event:
        woken = asyncio.Event()
        self._waiting.setdefault(volunteer_id, set()).add(woken)
        return woken

    def unsubscribe(self, volunteer_id: str, woken: asyncio.Event) -> None:
        waiting = self._waiting.get(volunteer_id)
        if waiting is not None:
            waiting.discard(woken)
            if not waiting:
                del self._waiting[volunteer_id]

    def wake(self, volunteer_ids: Sequence[str]) -> None:
        for volunteer_id in volunteer_ids:
            for woken in self._waiting.get(volunteer_id, ()):
                woken.set()

    @property
    def open_streams(self) -> int:
        return sum(len(w) for w in self._waiting.values())


class Delivery:
    """Delivers messages: each written once, whatever the retries."""

    def __init__(
        self,
        inboxes: Inboxes,
        tallies: Tallies,
        live: LiveFeed,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._inboxes = inboxes
        self._tallies = tallies
        self._live = live
        self._clock = clock

    async def send(self, messages: Sequence[Message]) -> list[Outcome]:
        if not messages:
            return []
        at = self._clock()
        outcomes = await self._inboxes.deliver(messages, at)
        told = [m for m, o in zip(messages, outcomes, strict=True) if o is not Outcome.NO_INBOX]
        # Tallied after the inbox: a crash between is redelivered and tallied then.
        await self._tallies.tally(told)
        delivered: list[str] = []
        for message, outcome in zip(messages, outcomes, strict=True):
            MESSAGES.labels(message.kind.value, outcome.value).inc()
            if outcome is Outcome.DELIVERED:
                delivered.append(message.volunteer_id)
                lag = (at - message.cause.at).total_seconds()
                DELIVERY_LAG.labels(message.kind.value).observe(max(lag, 0.0))
        self._live.wake(delivered)
        return outcomes

    async def close(self, volunteer_id: str) -> None:
        """The volunteer was erased: their inbox goes, and nothing is delivered to it again."""
        await self._inboxes.close(volunteer_id)
