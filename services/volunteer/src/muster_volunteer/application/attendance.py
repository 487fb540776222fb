"""Check-in and check-out at activities, and each volunteer's service record.

Activities are known from dispatch's events (a folded view per activity, secret
included, so the rotating code is checked here without asking dispatch); approved
service records come back the same way.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from muster_contracts.checkin import Coordinates
from muster_contracts.events import DomainEvent, decode_payload
from muster_contracts.events.activities import (
    ATTENDANCE_STREAM,
    ActivityCancelled,
    ActivityScheduled,
    ActivityVolunteersAssigned,
    ServiceRecordAdjusted,
    ServiceRecordIssued,
    attendance_stream_id,
)
from muster_contracts.stars import star_rating
from muster_runtime.errors import NotFoundError, RuleViolationError
from muster_runtime.eventstore import CommandContext, ConcurrencyError, EventStore
from muster_runtime.mongo import Database
from muster_runtime.projections import ConsumedEvent, VersionedDocuments
from muster_runtime.tracing import traced_command
from muster_volunteer.domain.attendance import (
    ActivityView,
    Attendance,
    AttendanceRuleError,
    blocks_other_check_ins,
    check_in,
    check_out,
    evolve,
    evolve_view,
)

VIEW_TYPES = (
    ActivityScheduled.event_type,
    ActivityVolunteersAssigned.event_type,
    ActivityCancelled.event_type,
)


class ActivityBoard:
    """Dispatch's activities as the volunteer service needs them, and the service records."""

    def __init__(self, db: Database) -> None:
        self.activities = VersionedDocuments(db["activity_board"])
        self.records = VersionedDocuments(db["service_records"])

    async def apply(self, events: list[ConsumedEvent]) -> None:
        for consumed in events:
            envelope = consumed.envelope
            payload = envelope.payload
            version = envelope.stream_version
            if envelope.type in VIEW_TYPES:
                await self.activities.apply(
                    payload["activity_id"],
                    version,
                    {"$push": {"events": {"type": envelope.type, "payload": payload}}},
                    create=envelope.type == ActivityScheduled.event_type,
                )
            elif envelope.type == ServiceRecordIssued.event_type:
                fields = {k: v for k, v in payload.items() if k != "record_id"}
                await self.records.apply(
                    payload["record_id"], version, {"$set": fields}, create=True
                )
            elif envelope.type == ServiceRecordAdjusted.event_type:
                await self.records.apply(
                    payload["record_id"], version, {"$inc": {"minutes": payload["delta_minutes"]}}
                )

    async def view(self, activity_id: str) -> ActivityView:
        doc = await self.activities.collection.find_one({"_id": activity_id})
        view: ActivityView | None = None
        for entry in (doc or {}).get("events", []):
            view = evolve_view(view, decode_payload(entry["type"], 1, entry["payload"]))
        if view is None:
            raise NotFoundError(f"no activity {activity_id}", field="activity_id")
        return view

    async def service_record(self, volunteer_id: str) -> dict[str, Any]:
        records = sorted(
            [r async for r in self.records.collection.find({"volunteer_id": volunteer_id})],
            key=lambda r: (r["service_date"], r["_id"]),
        )
        total = sum(int(r["minutes"]) for r in records)
        by_category: dict[str, int] = defaultdict(int)
        for r in records:
            by_category[r["category"]] += int(r["minutes"])
        return {
            "volunteer_id": volunteer_id,
            "records": [
                {
                    "record_id": r["_id"],
                    **{k: v for k, v in r.items() if k not in ("_id", "_v")},
                    "hours": int(r["minutes"]) / 60,
                }
                for r in records
            ],
            "total_minutes": total,
            "total_hours": total / 60,
            "hours_by_category": {c: m / 60 for c, m in by_category.items()},
            "stars": star_rating(total),
        }


class AttendanceDesk:
    """One request each to check in and out, proven by the rotating code and the place."""

    def __init__(
        self, store: EventStore, board: ActivityBoard, db: Database, radius_m: float
    ) -> None:
        self._store = store
        self._board = board
        self._open = db["open_attendances"]
        self._radius_m = radius_m

    async def _attendance(self, activity_id: str, volunteer_id: str) -> Attendance:
        stream = await self._store.read_stream(attendance_stream_id(activity_id, volunteer_id))
        state = Attendance(activity_id, volunteer_id)
        for envelope in stream.events:
            state = evolve(
                state, decode_payload(envelope.type, envelope.schema_version, envelope.payload)
            )
        return state

    async def _open_elsewhere(
        self, volunteer_id: str, activity_id: str, at: datetime
    ) -> str | None:
        doc = await self._open.find_one({"_id": volunteer_id})
        if doc is None or doc["activity_id"] == activity_id:
            return None
        other = str(doc["activity_id"])
        view = await self._board.view(other)
        return (
            other
            if blocks_other_check_ins(view, await self._attendance(other, volunteer_id), at)
            else None
        )

    @traced_command("check_in")
    async def check_in(
        self,
        activity_id: str,
        volunteer_id: str,
        code: str,
        location: Coordinates | None,
        at: datetime,
        context: CommandContext,
    ) -> Attendance:
        view = await self._board.view(activity_id)
        attendance = await self._attendance(activity_id, volunteer_id)
        elsewhere = await self._open_elsewhere(volunteer_id, activity_id, at)
        events = self._decide(
            lambda: check_in(
                view, attendance, volunteer_id, code, at, location, elsewhere, self._radius_m
            )
        )
        attendance = await self._append(attendance, events, context)
        await self._open.update_one(
            {"_id": volunteer_id}, {"$set": {"activity_id": activity_id}}, upsert=True
        )
        return attendance

    @traced_command("check_out")
    async def check_out(
        self, activity_id: str, volunteer_id: str, at: datetime, context: CommandContext
    ) -> Attendance:
        view = await self._board.view(activity_id)
        attendance = await self._attendance(activity_id, volunteer_id)
        events = self._decide(lambda: check_out(view, attendance, volunteer_id, at))
        attendance = await self._append(attendance, events, context)
        await self._open.delete_one({"_id": volunteer_id, "activity_id": activity_id})
        return attendance

    @staticmethod
    def _decide(decide: Any) -> list[DomainEvent]:
        try:
            events: list[DomainEvent] = decide()
        except AttendanceRuleError as exc:
            raise RuleViolationError(str(exc), field=exc.field, rule=exc.rule) from None
        return events

    async def _append(
        self, attendance: Attendance, events: list[DomainEvent], context: CommandContext
    ) -> Attendance:
        stream = attendance_stream_id(attendance.activity_id, attendance.volunteer_id)
        try:
            await self._store.append(stream, ATTENDANCE_STREAM, attendance.version, events, context)
        except ConcurrencyError:
            raise RuleViolationError(
                "a check-in or check-out for this activity is in progress",
                field="activity_id",
                rule="concurrent_request",
            ) from None
        for event in events:
            attendance = evolve(attendance, event)
        return attendance


def attendance_view(attendance: Attendance) -> dict[str, Any]:
    return {
        "activity_id": attendance.activity_id,
        "volunteer_id": attendance.volunteer_id,
        "checked_in_at": attendance.checked_in.at if attendance.checked_in else None,
        "checked_out_at": attendance.checked_out_at,
        "proof": attendance.checked_in.proof if attendance.checked_in else None,
    }
