"""Volunteers' local days of approved service, each an event stream counted under
optimistic concurrency (see `domain.service_day`)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import date
from typing import TypeVar

from muster_contracts.events.activities import SERVICE_DAY_STREAM, service_day_stream_id
from muster_dispatch.domain.activity import Activity
from muster_dispatch.domain.hours import HoursPolicy
from muster_dispatch.domain.service_day import ServiceDay, evolve, recount
from muster_runtime.ports.event_store import CommandContext, ConcurrencyError, EventStore, Stream

LoadActivity = Callable[[str], Awaitable[Activity]]
T = TypeVar("T")


class ServiceDays:
    """Reads and recounts volunteers' days in dispatch's event store."""

    # Days read or appended at once (at most).
    CONCURRENCY = 16
    # Rounds of recounting days another writer moved on meanwhile, before giving up.
    ATTEMPTS = 30

    def __init__(self, store: EventStore, policy: HoursPolicy) -> None:
        self._store = store
        self.policy = policy

    async def read(self, volunteer_id: str, service_date: date) -> tuple[ServiceDay, Stream]:
        stream = await self._store.read_stream(service_day_stream_id(volunteer_id, service_date))
        state = ServiceDay(volunteer_id, service_date)
        for event in stream.decoded():
            state = evolve(state, event)
        return state, stream

    async def load(self, volunteer_id: str, service_date: date) -> ServiceDay:
        return (await self.read(volunteer_id, service_date))[0]

    async def recount(
        self,
        activity_id: str,
        days: list[tuple[str, date]],
        load_activity: LoadActivity,
        context: CommandContext,
    ) -> list[ServiceDay]:
        """Count the activity's approved attendances into these (volunteer, day)s; returns
        each day as counted.

        Each round reads the days, then the activity: a correction or approval appended
        before a day was read is in the activity read after it, and one appended later
        makes that day's append fail, and the day is counted again in the next round."""
        if not days:
            return []
        counted: dict[int, ServiceDay] = {}
        pending = list(range(len(days)))
        slots = asyncio.Semaphore(self.CONCURRENCY)

        async def bounded(job: Awaitable[T]) -> T:
            async with slots:
                return await job

        for attempt in range(self.ATTEMPTS):
            reads = await asyncio.gather(*(bounded(self.read(*days[i])) for i in pending))
            activity = await load_activity(activity_id)
            done = await asyncio.gather(
                *(bounded(self._count(activity, state, stream, context)) for state, stream in reads)
            )
            for index, state in zip(pending, done, strict=True):
                if state is not None:
                    counted[index] = state
            pending = [i for i in pending if i not in counted]
            if not pending:
                return [counted[i] for i in range(len(days))]
            # Writers recounting the same days back off apart before the next round.
            await asyncio.sleep(random.uniform(0, 0.01 * (attempt + 1)))
        volunteer_id, day = days[pending[0]]
        raise ConcurrencyError(service_day_stream_id(volunteer_id, day), -1)

    async def _count(
        self, activity: Activity, state: ServiceDay, stream: Stream, context: CommandContext
    ) -> ServiceDay | None:
        """The day counted with the activity as read (None: another writer moved it on)."""
        settled = activity.approval is not None and not activity.cancelled
        span = activity.attendance(state.volunteer_id).interval if settled else None
        events = recount(state, activity.activity_id, span, self.policy)
        if not events:
            return state
        try:
            await self._store.append_after(stream, SERVICE_DAY_STREAM, events, context)
        except ConcurrencyError:
            return None
        for event in events:
            state = evolve(state, event)
        return state
