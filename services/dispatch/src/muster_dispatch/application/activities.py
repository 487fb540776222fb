"""Activities: scheduling, beneficiaries, attendance corrections and approved hours.

Dispatch keeps the volunteers' check-ins and check-outs (volunteer events) in its own
attendance log and folds them into the activity when deciding. Each volunteer's ledger of
approved minutes per local day (which consume the daily cap) and of attendance spans is
kept from the service records this service issues.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

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
from muster_runtime.eventstore import CommandContext, ConcurrencyError, EventStore, Stream
from muster_runtime.mongo import Database, Document
from muster_runtime.projections import ConsumedEvent, KnownIds, apply_in_memory
from muster_runtime.tracing import traced_command

DecideActivity = Callable[[Activity], list[DomainEvent]]
ATTENDANCE_TYPES = (AttendanceCheckedIn.event_type, AttendanceCheckedOut.event_type)


class AttendanceLog:
    """Volunteers' check-ins and check-outs, per activity and volunteer, exactly once.

    One document per activity (`_id`: the activity id) holds each volunteer's events
    and the version of their attendance stream last applied, so deciding on an activity
    reads one document by `_id` — the one lookup every store serves from its primary
    index (a query by an `activity_id` field scanned the whole log on the development
    store, twice a command). An event is applied by one update guarded by the version
    (a redelivery matches nothing); the first check-in of an activity inserts its document.
    """

    COLLECTION = "activity_attendance"
    # The log as it was stored before: one document per (activity, volunteer).
    LEGACY_COLLECTION = "attendance_log"
    # Activities whose document this process knows exists (documents are never deleted).
    KNOWN_LIMIT = 10_000

    def __init__(self, db: Database) -> None:
        self._db = db
        self.collection = db[self.COLLECTION]
        self._known = KnownIds(self.KNOWN_LIMIT)

    async def apply(self, events: list[ConsumedEvent]) -> None:
        for consumed in events:
            envelope = consumed.envelope
            if envelope.type not in ATTENDANCE_TYPES:
                continue
            payload = envelope.payload
            await self.record(
                payload["activity_id"],
                payload["volunteer_id"],
                envelope.stream_version,
                [{"type": envelope.type, "payload": payload}],
                create=envelope.type == AttendanceCheckedIn.event_type,
            )

    async def record(
        self,
        activity_id: str,
        volunteer_id: str,
        version: int,
        entries: list[Document],
        *,
        create: bool,
    ) -> bool:
        """Append `entries` to the volunteer's events in the activity if `version` is newer
        than the last applied; `create`: the event that starts the volunteer's attendance.

        Returns whether they were applied (False: a redelivery of an applied event)."""
        seen = f"volunteers.{volunteer_id}._v"
        newer: Document = {"$lt": version}
        guard: Document = (
            {"$or": [{seen: {"$exists": False}}, {seen: newer}]} if create else {seen: newer}
        )
        update = {
            "$set": {seen: version},
            "$push": {f"volunteers.{volunteer_id}.events": {"$each": entries}},
        }
        query = {"_id": activity_id, **guard}
        if activity_id in self._known or not create:
            if (await self.collection.update_one(query, update)).matched_count:
                return True
            if not create:
                return False
        try:
            await self.collection.insert_one(
                {
                    "_id": activity_id,
                    "volunteers": {volunteer_id: {"_v": version, "events": entries}},
                }
            )
        except DuplicateKeyError:
            self._known.add(activity_id)
            return bool((await self.collection.update_one(query, update)).matched_count)
        self._known.add(activity_id)
        return True

    async def activities_with_open_attendance(self) -> set[str]:
        """Activities where someone checked in and never out (as far as volunteers did)."""
        open_ids: set[str] = set()
        async for doc in self.collection.find({}):
            for attendance in doc.get("volunteers", {}).values():
                kinds = [e["type"] for e in attendance.get("events", [])]
                if AttendanceCheckedOut.event_type not in kinds:
                    open_ids.add(str(doc["_id"]))
        return open_ids

    async def events_of(self, activity_id: str) -> list[DomainEvent]:
        doc = await self.collection.find_one({"_id": activity_id})
        if doc is None:
            return []
        return [
            decode_payload(e["type"], 1, e["payload"])
            for attendance in doc.get("volunteers", {}).values()
            for e in attendance.get("events", [])
        ]

    async def migrate_legacy(self) -> int:
        """Fold a log stored the old way (a document per activity and volunteer, found by
        an `activity_id` field) into this one, then drop it; returns the documents folded.
        Idempotent: a fold that stopped half-way is done again at the next start."""
        if self.LEGACY_COLLECTION not in await self._db.list_collection_names():
            return 0
        folded = 0
        async for doc in self._db[self.LEGACY_COLLECTION].find({}):
            if "activity_id" not in doc:
                continue  # a stub of a check-in never applied: its event is redelivered
            volunteer_id = str(doc["_id"]).split(":", 1)[1]
            await self.record(
                str(doc["activity_id"]), volunteer_id, int(doc["_v"]), doc["events"], create=True
            )
            folded += 1
        await self._db.drop_collection(self.LEGACY_COLLECTION)
        return folded


class Ledgers:
    """Per volunteer: approved minutes per local day and the spans already credited.

    The volunteers of an approval are read and written concurrently (at most
    `CONCURRENCY` at a time); a volunteer's first record inserts the ledger as the update
    leaves it, later ones update it (the ledgers this process has seen are remembered:
    a ledger is never deleted)."""

    CONCURRENCY = 16
    KNOWN_LIMIT = 100_000

    def __init__(self, db: Database) -> None:
        self._ledgers = db["hour_ledgers"]
        self._known = KnownIds(self.KNOWN_LIMIT)

    async def for_volunteers(
        self, volunteer_ids: list[str], excluding: str
    ) -> dict[str, CreditLedger]:
        slots = asyncio.Semaphore(self.CONCURRENCY)

        async def read(volunteer_id: str) -> Document | None:
            async with slots:
                return await self._ledgers.find_one({"_id": volunteer_id})

        docs = await asyncio.gather(*(read(v) for v in volunteer_ids))
        ledgers: dict[str, CreditLedger] = {}
        for volunteer_id, doc in zip(volunteer_ids, docs, strict=True):
            if doc is None:
                continue
            self._known.add(volunteer_id)
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
        updates: dict[str, list[Document]] = defaultdict(list)
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
            updates[event.volunteer_id].append(update)
        slots = asyncio.Semaphore(self.CONCURRENCY)

        async def write(volunteer_id: str, changes: list[Document]) -> None:
            async with slots:
                for update in changes:
                    await self._update(volunteer_id, update)

        await asyncio.gather(*(write(v, changes) for v, changes in updates.items()))

    async def _update(self, volunteer_id: str, update: Document) -> None:
        known = volunteer_id in self._known
        if known and (await self._ledgers.update_one({"_id": volunteer_id}, update)).matched_count:
            return
        try:
            await self._ledgers.insert_one(
                apply_in_memory({"_id": volunteer_id, "activities": {}}, update)
            )
        except DuplicateKeyError:
            await self._ledgers.update_one({"_id": volunteer_id}, update)
        self._known.add(volunteer_id)


class ActivityRead(NamedTuple):
    """An activity as read, and the read of its stream (which an append follows)."""

    state: Activity
    stream: Stream


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

    async def read(self, activity_id: str) -> ActivityRead:
        """The activity's stream and its attendance log (read together), folded."""
        stream, attendance = await asyncio.gather(
            self._store.read_stream(activity_stream_id(activity_id)),
            self.log.events_of(activity_id),
        )
        state = Activity(activity_id)
        for envelope in stream.events:
            state = evolve(
                state, decode_payload(envelope.type, envelope.schema_version, envelope.payload)
            )
        for event in attendance:
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
            await self.ledgers.record(state, events)
            return state, events
        raise ConcurrencyError(activity_stream_id(activity_id), -1)
