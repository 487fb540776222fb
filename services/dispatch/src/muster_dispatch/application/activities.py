"""Activities: scheduling, beneficiaries, attendance corrections and approved hours.

Dispatch keeps the volunteers' check-ins and check-outs (volunteer events) in its own
attendance records (`AttendanceRecords`) and folds them into the activity when deciding. Approved hours are counted
per volunteer and local day (`ServiceDays`), and each activity's service records follow
the days' counts (`ActivityBook.settle_hours`).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import NamedTuple

from muster_contracts.areas import AreaTree
from muster_contracts.envelope import Actor, Role
from muster_contracts.events import DomainEvent
from muster_contracts.events.activities import (
    ACTIVITY_STREAM,
    AttendanceCorrected,
    HoursApproved,
    ServiceDayRecounted,
    activity_stream_id,
)
from muster_dispatch.application.ports import AttendanceRecords
from muster_dispatch.application.service_days import ServiceDays
from muster_dispatch.domain.activity import (
    Activity,
    ActivityRuleError,
    AmendActivity,
    amend_activity,
    close_never_checked_out,
    days_to_count,
    evolve,
    settle_attendance,
)
from muster_dispatch.domain.hours import HoursPolicy
from muster_runtime.errors import NotFoundError, PreconditionFailedError, RuleViolationError
from muster_runtime.ports.event_store import CommandContext, ConcurrencyError, EventStore, Stream
from muster_runtime.projections import ConsumedEvent
from muster_runtime.tracing import traced_command

DecideActivity = Callable[[Activity], list[DomainEvent]]


class ActivityRead(NamedTuple):
    """An activity as read, and the read of its stream (which an append follows)."""

    state: Activity
    stream: Stream


class ActivityBook:
    # Days counted, and activities settled, at once (at most).
    CONCURRENCY = 16
    # Attempts at settling an activity's records before giving up (others keep moving it).
    SETTLE_ATTEMPTS = 20

    def __init__(
        self, store: EventStore, log: AttendanceRecords, days: ServiceDays, areas: AreaTree
    ) -> None:
        self._store = store
        self.log = log
        self.days = days
        self.areas = areas

    async def sweep_never_checked_out(self, policy: HoursPolicy) -> int:
        """Close attendances never checked out by the configured rule, once due."""
        closed = 0
        context = CommandContext(Actor(subject="never-checked-out-sweep", role=Role.SYSTEM))
        now = datetime.now(UTC)
        for activity_id in await self.log.activities_with_open_attendance():
            _, events = await self.execute(
                activity_id, lambda s: close_never_checked_out(s, now, policy), context
            )
            closed += len(events)
        return closed

    async def read(self, activity_id: str) -> ActivityRead:
        """The activity's stream and its attendance log (read together), folded."""
        stream, attendance = await asyncio.gather(
            self._store.read_stream(activity_stream_id(activity_id)),
            self.log.events_of(activity_id),
        )
        state = Activity(activity_id)
        for event in [*stream.decoded(), *attendance]:
            state = evolve(state, event)
        return ActivityRead(state, stream)

    async def load(self, activity_id: str) -> Activity:
        return (await self.read(activity_id)).state

    async def existing_read(self, activity_id: str) -> ActivityRead:
        read = await self.read(activity_id)
        if read.state.scheduled is None:
            raise NotFoundError(f"no activity {activity_id}", field="activity_id")
        return read

    async def existing(self, activity_id: str) -> Activity:
        return (await self.existing_read(activity_id)).state

    @traced_command("activity")
    async def execute(
        self,
        activity_id: str,
        decide: DecideActivity,
        context: CommandContext,
        *,
        loaded: ActivityRead | None = None,
    ) -> tuple[Activity, list[DomainEvent]]:
        """Decide on the activity and append right after the read decided on (`loaded`,
        the caller's, first); on a concurrent change, again on a fresh read."""
        for _ in range(5):
            state, stream = loaded if loaded is not None else await self.read(activity_id)
            loaded = None
            try:
                events = decide(state)
            except ActivityRuleError as exc:
                raise RuleViolationError(str(exc), field=exc.field, rule=exc.rule) from None
            if not events:
                return state, []
            try:
                await self._store.append_after(stream, ACTIVITY_STREAM, events, context)
            except ConcurrencyError:
                continue
            for event in events:
                state = evolve(state, event)
            return state, events
        raise ConcurrencyError(activity_stream_id(activity_id), -1)

    async def amend(
        self,
        activity_id: str,
        command: AmendActivity,
        expected_version: int,
        context: CommandContext,
        *,
        loaded: ActivityRead | None = None,
    ) -> tuple[Activity, list[DomainEvent]]:
        """Amend the activity if it is still at `expected_version` (the organiser's
        `If-Match`), checked on every read the decision is made on, so of two amendments
        decided on the same version one is appended and the other refused."""

        def decide(state: Activity) -> list[DomainEvent]:
            if state.version != expected_version:
                raise PreconditionFailedError(
                    f"the activity is at version {state.version}, not {expected_version}",
                    field="If-Match",
                    current_version=state.version,
                )
            return amend_activity(state, command, self.areas)

        return await self.execute(activity_id, decide, context, loaded=loaded)

    async def settle_hours(
        self, activity_id: str, context: CommandContext, volunteer_ids: list[str] | None = None
    ) -> Activity:
        """Count an approved activity's attendances into the volunteers' days, then bring
        the service records of every activity on those days to the days' counts.

        Idempotent: what is counted already changes nothing, so it runs after an approval
        or a correction and again, as a safety net, when dispatch consumes those events.
        Returns the activity as settled."""
        read = await self.read(activity_id)
        if read.state.approval is None or read.state.cancelled:
            return read.state
        state = read.state
        volunteers = volunteer_ids or sorted(set(state.attendances) | {v for v, _ in state.records})
        pairs = [(v, d) for v in volunteers for d in days_to_count(state, v, self.days.policy)]
        counted = await self.days.recount(activity_id, pairs, self.load, context)
        on_days: dict[str, set[tuple[str, date]]] = defaultdict(set)
        for (volunteer_id, day), service_day in zip(pairs, counted, strict=True):
            for other in {activity_id, *service_day.credited}:
                on_days[other].add((volunteer_id, day))
        slots = asyncio.Semaphore(self.CONCURRENCY)

        async def settle(other: str, days: set[tuple[str, date]]) -> None:
            async with slots:
                await self.settle_records(other, sorted(days), context)

        await asyncio.gather(*(settle(a, days) for a, days in on_days.items()))
        return await self.load(activity_id)

    async def settle_records(
        self, activity_id: str, days: list[tuple[str, date]], context: CommandContext
    ) -> None:
        """Bring the activity's records of these volunteers to their days' counts: these
        (volunteer, day)s and every other day their attendances have records or time on.

        The activity is read before the days: its records were settled from counts no newer
        than the days read after it, so an append on that read never moves a record back to
        an older count."""
        volunteers = sorted({volunteer_id for volunteer_id, _ in days})
        policy = self.days.policy
        for _ in range(self.SETTLE_ATTEMPTS):
            read = await self.read(activity_id)
            wanted = [
                (volunteer_id, day)
                for volunteer_id in volunteers
                for day in sorted(
                    {d for v, d in days if v == volunteer_id}
                    | set(days_to_count(read.state, volunteer_id, policy))
                )
            ]
            service_days = await asyncio.gather(*(self.days.load(v, d) for v, d in wanted))
            credited: dict[str, dict[date, int | None]] = defaultdict(dict)
            for (volunteer_id, day), service_day in zip(wanted, service_days, strict=True):
                credited[volunteer_id][day] = service_day.credited.get(activity_id)
            events = [
                event
                for volunteer_id in volunteers
                for event in settle_attendance(
                    read.state,
                    volunteer_id,
                    credited[volunteer_id],
                    context.actor.subject,
                    "recounted with the approved attendances of its day",
                    policy,
                )
            ]
            if not events:
                return
            try:
                await self._store.append_after(read.stream, ACTIVITY_STREAM, events, context)
            except ConcurrencyError:
                continue
            return
        raise ConcurrencyError(activity_stream_id(activity_id), -1)


class HoursSettlement:
    """The safety net behind approvals and corrections: dispatch consumes its own events
    and settles what they changed again, so hours a process stopped settling half-way
    (after an approval's append, before its days or records) are settled all the same."""

    ACTOR = Actor(subject="hours-settlement", role=Role.SYSTEM)

    def __init__(self, book: ActivityBook) -> None:
        self._book = book

    async def apply(self, events: list[ConsumedEvent]) -> None:
        activities: dict[str, set[str] | None] = {}
        days: dict[tuple[str, date], set[str]] = defaultdict(set)
        for consumed in events:
            envelope = consumed.envelope
            payload = envelope.payload
            if envelope.type == HoursApproved.event_type:
                activities[payload["activity_id"]] = None  # every volunteer
            elif envelope.type == AttendanceCorrected.event_type:
                volunteers = activities.setdefault(payload["activity_id"], set())
                if volunteers is not None:
                    volunteers.add(payload["volunteer_id"])
            elif envelope.type == ServiceDayRecounted.event_type:
                day = (payload["volunteer_id"], date.fromisoformat(payload["service_date"]))
                days[day] |= {payload["activity_id"], *payload["credited_minutes"]}
        context = CommandContext(self.ACTOR)
        for activity_id, volunteers in activities.items():
            await self._book.settle_hours(
                activity_id, context, sorted(volunteers) if volunteers is not None else None
            )
        by_activity: dict[str, list[tuple[str, date]]] = defaultdict(list)
        for day, activity_ids in days.items():
            for activity_id in activity_ids:
                by_activity[activity_id].append(day)
        for activity_id, activity_days in by_activity.items():
            await self._book.settle_records(activity_id, sorted(activity_days), context)
