"""Activities: scheduling, beneficiaries, attendance corrections and approved hours.

Dispatch keeps the volunteers' check-ins and check-outs (volunteer events) in its own
attendance log and folds them into the activity when deciding. Each volunteer's ledger of
approved minutes per local day (which consume the daily cap) and of attendance spans is
kept from the service records this service issues.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from muster_contracts.areas import AreaTree
from muster_contracts.envelope import Actor, Role
from muster_contracts.events import DomainEvent, decode_payload
from muster_contracts.events.activities import (
    ACTIVITY_STREAM,
    AttendanceCheckedIn,
    AttendanceCheckedOut,
    ServiceRecordAdjusted,
    ServiceRecordIssued,
    activity_stream_id,
)
from muster_dispatch.domain.activity import (
    Activity,
    ActivityRuleError,
    close_never_checked_out,
    evolve,
)
from muster_dispatch.domain.hours import CreditLedger, HoursPolicy, Interval
from muster_runtime.errors import NotFoundError, RuleViolationError
from muster_runtime.eventstore import CommandContext, ConcurrencyError, EventStore
from muster_runtime.mongo import Database
from muster_runtime.projections import ConsumedEvent, VersionedDocuments
from muster_runtime.tracing import traced_command

DecideActivity = Callable[[Activity], list[DomainEvent]]
ATTENDANCE_TYPES = (AttendanceCheckedIn.event_type, AttendanceCheckedOut.event_type)


class AttendanceLog:
    """Volunteers' check-ins and check-outs, per activity and volunteer, exactly once."""

    def __init__(self, db: Database) -> None:
        self.documents = VersionedDocuments(db["attendance_log"])

    async def apply(self, events: list[ConsumedEvent]) -> None:
        for consumed in events:
            envelope = consumed.envelope
            if envelope.type not in ATTENDANCE_TYPES:
                continue
            payload = envelope.payload
            await self.documents.apply(
                f"{payload['activity_id']}:{payload['volunteer_id']}",
                envelope.stream_version,
                {
                    "$set": {"activity_id": payload["activity_id"]},
                    "$push": {"events": {"type": envelope.type, "payload": payload}},
                },
                create=envelope.type == AttendanceCheckedIn.event_type,
            )

    async def activities_with_open_attendance(self) -> set[str]:
        """Activities where someone checked in and never out (as far as volunteers did)."""
        open_ids: set[str] = set()
        async for doc in self.documents.collection.find({}):
            if "activity_id" not in doc:
                continue  # a stub inserted by a check-in being applied right now
            kinds = [e["type"] for e in doc.get("events", [])]
            if AttendanceCheckedOut.event_type not in kinds:
                open_ids.add(str(doc["activity_id"]))
        return open_ids

    async def events_of(self, activity_id: str) -> list[DomainEvent]:
        cursor = self.documents.collection.find({"activity_id": activity_id})
        return [
            decode_payload(e["type"], 1, e["payload"])
            async for doc in cursor
            for e in doc.get("events", [])
        ]


class Ledgers:
    """Per volunteer: approved minutes per local day and the spans already credited."""

    def __init__(self, db: Database) -> None:
        self._ledgers = db["hour_ledgers"]

    async def for_volunteers(
        self, volunteer_ids: list[str], excluding: str
    ) -> dict[str, CreditLedger]:
        ledgers: dict[str, CreditLedger] = {}
        for volunteer_id in volunteer_ids:
            doc = await self._ledgers.find_one({"_id": volunteer_id})
            if doc is None:
                continue
            minutes: dict[date, int] = defaultdict(int)
            spans: list[Interval] = []
            for activity_id, entry in doc.get("activities", {}).items():
                if activity_id == excluding:
                    continue
                for day, value in entry.get("minutes", {}).items():
                    minutes[date.fromisoformat(day)] += int(value)
                if entry.get("span"):
                    spans.append(Interval(entry["span"][0], entry["span"][1]))
            ledgers[volunteer_id] = CreditLedger(dict(minutes), tuple(spans))
        return ledgers

    async def record(self, activity: Activity, events: list[DomainEvent]) -> None:
        """Fold this activity's issued and adjusted records into the volunteers' ledgers."""
        for event in events:
            if not isinstance(event, ServiceRecordIssued | ServiceRecordAdjusted):
                continue
            key = f"activities.{activity.activity_id}"
            minutes = (
                event.minutes if isinstance(event, ServiceRecordIssued) else event.delta_minutes
            )
            interval = activity.attendance(event.volunteer_id).interval
            update: dict[str, Any] = {
                "$inc": {f"{key}.minutes.{event.service_date.isoformat()}": minutes}
            }
            if interval is not None:
                update["$set"] = {f"{key}.span": [interval.start, interval.end]}
            with contextlib.suppress(DuplicateKeyError):
                await self._ledgers.insert_one({"_id": event.volunteer_id, "activities": {}})
            await self._ledgers.update_one({"_id": event.volunteer_id}, update)


class ActivityBook:
    def __init__(
        self, store: EventStore, log: AttendanceLog, ledgers: Ledgers, areas: AreaTree
    ) -> None:
        self._store = store
        self.log = log
        self.ledgers = ledgers
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

    async def load(self, activity_id: str) -> Activity:
        stream = await self._store.read_stream(activity_stream_id(activity_id))
        state = Activity(activity_id)
        for envelope in stream.events:
            state = evolve(
                state, decode_payload(envelope.type, envelope.schema_version, envelope.payload)
            )
        for event in await self.log.events_of(activity_id):
            state = evolve(state, event)
        return state

    async def existing(self, activity_id: str) -> Activity:
        state = await self.load(activity_id)
        if state.scheduled is None:
            raise NotFoundError(f"no activity {activity_id}", field="activity_id")
        return state

    @traced_command("activity")
    async def execute(
        self, activity_id: str, decide: DecideActivity, context: CommandContext
    ) -> tuple[Activity, list[DomainEvent]]:
        for _ in range(5):
            state = await self.load(activity_id)
            try:
                events = decide(state)
            except ActivityRuleError as exc:
                raise RuleViolationError(str(exc), field=exc.field, rule=exc.rule) from None
            if not events:
                return state, []
            try:
                await self._store.append(
                    activity_stream_id(activity_id), ACTIVITY_STREAM, state.version, events, context
                )
            except ConcurrencyError:
                continue
            for event in events:
                state = evolve(state, event)
            await self.ledgers.record(state, events)
            return state, events
        raise ConcurrencyError(activity_stream_id(activity_id), -1)
