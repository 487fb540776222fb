"""The consumer's side of notify: keeps the facts it needs from every event, and sends the
messages an event causes. Idempotent: facts are guarded by stream versions or event ids,
messages by their deterministic ids, so a redelivered batch changes nothing."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from muster_contracts.areas import AreaTree
from muster_contracts.eligibility import VolunteerProfile
from muster_contracts.envelope import EventEnvelope
from muster_contracts.events import VolunteerErased, VolunteerRegistered, decode_payload
from muster_contracts.events.activities import (
    ActivityAmended,
    ActivityCancelled,
    ActivityScheduled,
    ActivityVolunteersAssigned,
    AttendanceCheckedIn,
    ServiceRecordAdjusted,
    ServiceRecordIssued,
)
from muster_contracts.events.drives import (
    DriveClosed,
    DriveLaunched,
    SignUpAccepted,
    SignUpDeclined,
    SignUpPromoted,
    SignUpWaitlisted,
    SignUpWithdrawalRecorded,
    TeamFormed,
    TeamLeaderChanged,
    TeamMemberMoved,
    TeamsMerged,
    TeamSplit,
)
from muster_contracts.events.registry import DomainEvent
from muster_contracts.events.volunteer import VolunteerLoginBound, VolunteerLoginUnbound
from muster_contracts.logins import login_change
from muster_contracts.teams import TEAM_CHANGES, evolve_teams, teams_named
from muster_notify.application.broadcasts import Broadcaster
from muster_notify.application.delivery import Delivery, utc_now
from muster_notify.application.ports import Facts, Timers
from muster_notify.domain.messages import Cause
from muster_notify.domain.rules import (
    Activity,
    amended,
    amendment_messages,
    bucket_of,
    cancellation_messages,
    hours_approved_message,
    place_name,
    sign_up_messages,
    stars_reached,
    team_messages,
    timers_for,
)
from muster_runtime.projections import ConsumedEvent

SIGN_UP_DECISIONS = (
    SignUpAccepted,
    SignUpWaitlisted,
    SignUpPromoted,
    SignUpDeclined,
    SignUpWithdrawalRecorded,
)
WANTED = frozenset(
    kind.event_type
    for kind in (
        VolunteerRegistered,
        VolunteerLoginBound,
        VolunteerLoginUnbound,
        VolunteerErased,
        DriveLaunched,
        DriveClosed,
        *SIGN_UP_DECISIONS,
        *TEAM_CHANGES,
        ActivityScheduled,
        ActivityVolunteersAssigned,
        ActivityAmended,
        ActivityCancelled,
        AttendanceCheckedIn,
        ServiceRecordIssued,
        ServiceRecordAdjusted,
    )
)


class Notifier:
    """Applies consumed events: facts first, then the messages they cause."""

    def __init__(
        self,
        facts: Facts,
        timers: Timers,
        delivery: Delivery,
        broadcaster: Broadcaster,
        *,
        lead_times: tuple[timedelta, ...],
        star_thresholds: tuple[int, ...],
        areas: AreaTree | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._areas = areas
        self._facts = facts
        self._timers = timers
        self._delivery = delivery
        self._broadcaster = broadcaster
        self._lead_times = lead_times
        self._star_thresholds = star_thresholds
        self._clock = clock

    async def apply(self, events: list[ConsumedEvent]) -> None:
        for consumed in events:
            envelope = consumed.envelope
            if envelope.type not in WANTED:
                continue
            event = decode_payload(envelope.type, envelope.schema_version, envelope.payload)
            await self._apply_one(envelope, event)

    async def _apply_one(self, envelope: EventEnvelope, event: DomainEvent) -> None:
        cause = Cause(str(envelope.event_id), envelope.occurred_at)
        version = envelope.stream_version
        # Which login speaks for which volunteer: the contracts' rule, as every reader has it.
        change = login_change(envelope, event)
        if change is not None and change.bound and change.subject is not None:
            await self._facts.bind_login(change.volunteer_id, change.subject)
        elif change is not None and not change.bound:
            await self._facts.unbind_login(change.volunteer_id, change.subject)
        match event:
            case VolunteerRegistered():
                profile = VolunteerProfile(
                    home_area_id=event.home_area_id,
                    categories=event.categories,
                    skills=event.skills,
                    birth_year=event.birth_year,
                )
                await self._facts.enrol(event.volunteer_id, profile)
            case VolunteerErased():
                await self._facts.forget(event.volunteer_id)
                await self._delivery.close(event.volunteer_id)
            case DriveLaunched():
                await self._facts.keep_drive(
                    event.drive_id,
                    {
                        "title": event.title,
                        "scope_area_id": event.scope_area_id,
                        "broadcast_id": cause.cause_id,
                    },
                )
                await self._broadcaster.start(cause, event)
            case DriveClosed():
                await self._facts.close_drive(event.drive_id)
            case (
                SignUpAccepted()
                | SignUpWaitlisted()
                | SignUpPromoted()
                | SignUpDeclined()
                | SignUpWithdrawalRecorded()
            ):
                drive = await self._facts.drive(event.drive_id)
                title = drive.get("title") if drive else None
                await self._delivery.send(
                    sign_up_messages(event, cause, envelope.actor.role, title)
                )
            case (
                TeamFormed() | TeamMemberMoved() | TeamLeaderChanged() | TeamSplit() | TeamsMerged()
            ):
                teams, seen = await self._facts.teams(teams_named(event))
                if seen >= version:
                    return  # applied before: its messages went then
                drive = await self._facts.drive(event.drive_id)
                title = drive.get("title") if drive else None
                await self._delivery.send(team_messages(event, cause, teams, title))
                await self._facts.keep_teams(evolve_teams(teams, event), version)
            case ActivityScheduled():
                activity = Activity(
                    activity_id=event.activity_id,
                    title=event.title,
                    starts_at=event.starts_at,
                    ends_at=event.ends_at,
                    checkin_opens_at=event.starts_at
                    - timedelta(minutes=event.checkin_tolerance_minutes),
                    drive_id=event.drive_id,
                    place_area_id=event.place_area_id,
                    assigned=frozenset(event.assigned_volunteer_ids),
                )
                await self._facts.keep_activity(activity, version)
                await self._set_timers(activity, envelope.occurred_at)
            case ActivityVolunteersAssigned():
                known = await self._facts.activity(event.activity_id)
                if known is not None:
                    assigned = known.assigned | set(event.volunteer_ids)
                    await self._facts.keep_activity(replace(known, assigned=assigned), version)
            case ActivityAmended():
                known = await self._facts.activity(event.activity_id)
                name = place_name(self._areas, event.place_area_id) if self._areas else None
                await self._delivery.send(amendment_messages(event, cause, known, name))
                if known is not None:
                    moved = amended(known, event)
                    await self._facts.keep_activity(moved, version)
                    if moved.starts_at != known.starts_at:
                        # Timers for the new start; those set for the old one send nothing.
                        await self._set_timers(moved, envelope.occurred_at)
            case ActivityCancelled():
                known = await self._facts.activity(event.activity_id)
                await self._delivery.send(cancellation_messages(event, cause, known))
                if known is not None:
                    await self._facts.keep_activity(replace(known, cancelled=True), version)
            case AttendanceCheckedIn():
                await self._facts.checked_in(event.activity_id, event.volunteer_id)
            case ServiceRecordIssued():
                known = await self._facts.activity(event.activity_id)
                title = known.title if known else None
                await self._delivery.send([hours_approved_message(event, cause, title)])
                await self._count(event.volunteer_id, cause, event.minutes)
            case ServiceRecordAdjusted():
                await self._count(event.volunteer_id, cause, event.delta_minutes)

    async def _set_timers(self, activity: Activity, scheduled_at: datetime) -> None:
        now = self._clock()
        by_bucket = defaultdict(list)
        for timer in timers_for(activity, self._lead_times, scheduled_at, now):
            # A moment already passed goes in the current bucket, which the timer walk
            # has not passed yet (it stays a settling time behind the clock).
            by_bucket[bucket_of(max(timer.due_at, now))].append(timer)
        for bucket, timers in by_bucket.items():
            await self._timers.file(timers, bucket)

    async def _count(self, volunteer_id: str, cause: Cause, minutes: int) -> None:
        total = await self._facts.count_minutes(volunteer_id, cause.cause_id, minutes)
        # Every level up to the total, not only the ones this record crossed: a crash
        # after counting and before telling is made good by the redelivery (the levels
        # told before are duplicates by their ids, and write nothing).
        await self._delivery.send(
            stars_reached(volunteer_id, 0, total, self._star_thresholds, cause.at)
        )
