"""Check-in and check-out at activities, and each volunteer's service record.

Activities are known from dispatch's events (a folded view per activity, secret
included, so the rotating code is checked here without asking dispatch); approved
service records come back the same way.

The hot path decides on what the usual request finds, where the insert of the commit
proves it or a stale copy cannot make a wrong decision stick: a check-in assumes a new
attendance stream and a check-out one that holds just the check-in (the insert of the
next commit is refused otherwise), and activity views are kept in memory for
`VIEW_CACHE_SECONDS` (dropped as soon as this process applies a change to them). Every
refusal and conflict is decided again on fresh reads, so nothing is refused on an
assumption. A check-in that passes every other rule claims the volunteer's one open
attendance by inserting it (the insert proves none was recorded elsewhere; only if one
was is it read), so it costs three store operations: the claim, the outbox marker and the
commit. A check-out costs three: the marker, the commit and the open attendance's delete
(the check-in commit, if this process wrote it, is read from memory). The inserts of
concurrent requests are written together (`GroupInserts`, in the document-store adapter of
`OpenAttendances`).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from muster_contracts.checkin import Coordinates
from muster_contracts.events import DomainEvent, decode_payload
from muster_contracts.events.activities import (
    ATTENDANCE_STREAM,
    ActivityAmended,
    ActivityCancelled,
    ActivityScheduled,
    ActivityVolunteersAssigned,
    ServiceRecordAdjusted,
    ServiceRecordIssued,
    attendance_stream_id,
)
from muster_contracts.stars import star_rating
from muster_runtime.errors import NotFoundError, RuleViolationError
from muster_runtime.mongo import Database
from muster_runtime.ports.event_store import CommandContext, ConcurrencyError, EventStore, Stream
from muster_runtime.projections import ConsumedEvent, VersionedDocuments, by_ids
from muster_runtime.tracing import traced_command
from muster_volunteer.application.ports import ActivityViews, OpenAttendances
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
    ActivityAmended.event_type,
    ActivityCancelled.event_type,
)
# How long a process decides check-ins on its copy of an activity view. A view changes
# only by dispatch's events, which reach this service seconds late anyway; the copy is
# dropped when this process applies one, and a refusal is always decided on a fresh read.
# What a stale copy can do: accept a check-in for up to this long after a cancellation or
# an amendment applied by another replica, by the activity's earlier times and place (the
# assigned set only grows; the secret never changes).
VIEW_CACHE_SECONDS = 5.0
VIEW_CACHE_SIZE = 10_000


class ActivityBoard:
    """Dispatch's activities as the volunteer service needs them, and the service records."""

    COLLECTIONS = ("activity_board", "service_records")

    def __init__(self, db: Database, view_seconds: float = VIEW_CACHE_SECONDS) -> None:
        activities, records = self.COLLECTIONS
        self.activities = VersionedDocuments(db[activities])
        self.records = VersionedDocuments(db[records])
        self._view_seconds = view_seconds
        self._views: dict[str, tuple[float, ActivityView]] = {}
        # Bumped by every change applied here: a read that overlapped one is not kept.
        self._changes = 0

    async def apply(self, events: list[ConsumedEvent]) -> None:
        for consumed in events:
            envelope = consumed.envelope
            payload = envelope.payload
            version = envelope.stream_version
            if envelope.type in VIEW_TYPES:
                self._changes += 1
                try:
                    await self.activities.apply(
                        payload["activity_id"],
                        version,
                        {"$push": {"events": {"type": envelope.type, "payload": payload}}},
                        create=envelope.type == ActivityScheduled.event_type,
                    )
                finally:
                    self._changes += 1
                    self._views.pop(payload["activity_id"], None)
            elif envelope.type == ServiceRecordIssued.event_type:
                fields = {k: v for k, v in payload.items() if k != "record_id"}
                await self.records.apply(
                    payload["record_id"], version, {"$set": fields}, create=True
                )
            elif envelope.type == ServiceRecordAdjusted.event_type:
                await self.records.apply(
                    payload["record_id"], version, {"$inc": {"minutes": payload["delta_minutes"]}}
                )

    async def view(self, activity_id: str, *, fresh: bool = False) -> ActivityView:
        """The activity as dispatch's events describe it; a copy at most `view_seconds`
        old unless `fresh`."""
        now = time.monotonic()
        kept = None if fresh else self._views.get(activity_id)
        if kept is not None and now - kept[0] < self._view_seconds:
            return kept[1]
        changes = self._changes
        doc = await self.activities.collection.find_one({"_id": activity_id})
        view: ActivityView | None = None
        for entry in (doc or {}).get("events", []):
            view = evolve_view(view, decode_payload(entry["type"], 1, entry["payload"]))
        if view is None:
            raise NotFoundError(f"no activity {activity_id}", field="activity_id")
        if changes == self._changes:
            if len(self._views) >= VIEW_CACHE_SIZE:
                self._views.clear()
            self._views[activity_id] = (now, view)
        return view

    async def events_by_id(self, activity_ids: set[str]) -> dict[str, list[dict[str, Any]]]:
        """The events kept of each activity (those known), read by `_id`."""
        if not activity_ids:
            return {}
        cursor = self.activities.collection.find(by_ids(sorted(activity_ids)))
        return {str(doc["_id"]): list(doc.get("events", [])) async for doc in cursor}

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


@dataclass(frozen=True)
class AttendanceScene:
    """What a check-in or check-out is decided on: the activity, the volunteer's attendance
    there (and the stream it was folded from) and any other activity they are checked in
    at. `assumed`: the kept activity view and the stream as the usual request finds it,
    not read; the append proves the assumption or refutes it."""

    view: ActivityView
    attendance: Attendance
    stream: Stream
    open_elsewhere: str | None
    assumed: bool


class AssumptionRefutedError(Exception):
    """An assumed scene proved wrong when appending: the decision is taken again on
    exact reads."""


class AttendanceDesk:
    """One request each to check in and out, proven by the rotating code and the place.

    Each command loads its scene, decides on it (the domain rule, pure), appends and
    answers. The first load assumes what the usual request finds, at no read; a refusal,
    a conflict or a refuted assumption is decided once more on exact reads, and that
    answer stands."""

    def __init__(
        self,
        store: EventStore,
        board: ActivityViews,
        open_attendances: OpenAttendances,
        radius_m: float,
    ) -> None:
        self._store = store
        self._board = board
        self._open = open_attendances
        self._radius_m = radius_m

    async def _attendance(
        self, activity_id: str, volunteer_id: str, up_to: int | None = None
    ) -> tuple[Attendance, Stream]:
        stream_id = attendance_stream_id(activity_id, volunteer_id)
        stream = (
            Stream(stream_id, 0, [])
            if up_to == 0
            else await self._store.read_stream(stream_id, up_to)
        )
        state = Attendance(activity_id, volunteer_id)
        for event in stream.decoded():
            state = evolve(state, event)
        return state, stream

    async def attendance_of(self, activity_id: str, volunteer_id: str) -> Attendance:
        """The volunteer's attendance at the activity as recorded (none: not checked in)."""
        attendance, _ = await self._attendance(activity_id, volunteer_id)
        return attendance

    async def _assumed_scene(
        self, activity_id: str, volunteer_id: str, commits: int
    ) -> AttendanceScene:
        """The kept view, the stream's first `commits` commits, open nowhere else."""
        view = await self._board.view(activity_id)
        attendance, stream = await self._attendance(activity_id, volunteer_id, commits)
        return AttendanceScene(view, attendance, stream, None, assumed=True)

    async def _exact_scene(
        self, activity_id: str, volunteer_id: str, at: datetime | None = None
    ) -> AttendanceScene:
        """Fresh reads of the view and the whole stream; with `at`, of the volunteer's open
        attendance elsewhere too."""
        view = await self._board.view(activity_id, fresh=True)
        attendance, stream = await self._attendance(activity_id, volunteer_id)
        elsewhere = (
            None if at is None else await self._open_elsewhere(volunteer_id, activity_id, at)
        )
        return AttendanceScene(view, attendance, stream, elsewhere, assumed=False)

    async def _open_elsewhere(
        self, volunteer_id: str, activity_id: str, at: datetime
    ) -> str | None:
        """The other activity the volunteer is checked in at and could still check out of."""
        other = await self._open.activity_of(volunteer_id)
        if other is None or other == activity_id:
            return None
        view = await self._board.view(other, fresh=True)
        attendance, _ = await self._attendance(other, volunteer_id)
        return other if blocks_other_check_ins(view, attendance, at) else None

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
        # Usually a new attendance stream, and no open attendance elsewhere (the claim
        # proves it).
        try:
            scene = await self._assumed_scene(activity_id, volunteer_id, commits=0)
            return await self._check_in_on(scene, code, location, at, context)
        except (AttendanceRuleError, ConcurrencyError, AssumptionRefutedError):
            scene = await self._exact_scene(activity_id, volunteer_id, at)
            with _answered_as_refusals():
                return await self._check_in_on(scene, code, location, at, context)

    async def _check_in_on(
        self,
        scene: AttendanceScene,
        code: str,
        location: Coordinates | None,
        at: datetime,
        context: CommandContext,
    ) -> Attendance:
        attendance = scene.attendance
        events = check_in(
            scene.view, attendance, attendance.volunteer_id, code, at, location,
            scene.open_elsewhere, self._radius_m,
        )  # fmt: skip
        if scene.assumed and not await self._open.claim(
            attendance.volunteer_id, attendance.activity_id
        ):
            raise AssumptionRefutedError  # an open attendance is recorded: read it
        await self._store.append_after(scene.stream, ATTENDANCE_STREAM, events, context)
        if not scene.assumed:  # over a stale record, or this activity's own
            await self._open.record(attendance.volunteer_id, attendance.activity_id)
        return _folded(attendance, events)

    @traced_command("check_out")
    async def check_out(
        self, activity_id: str, volunteer_id: str, at: datetime, context: CommandContext
    ) -> Attendance:
        # Usually the stream holds just the check-in: its first commit.
        try:
            scene = await self._assumed_scene(activity_id, volunteer_id, commits=1)
            return await self._check_out_on(scene, at, context)
        except (AttendanceRuleError, ConcurrencyError):
            scene = await self._exact_scene(activity_id, volunteer_id)
            with _answered_as_refusals():
                return await self._check_out_on(scene, at, context)

    async def _check_out_on(
        self, scene: AttendanceScene, at: datetime, context: CommandContext
    ) -> Attendance:
        attendance = scene.attendance
        events = check_out(scene.view, attendance, attendance.volunteer_id, at)
        await self._store.append_after(scene.stream, ATTENDANCE_STREAM, events, context)
        await self._open.release(attendance.volunteer_id, attendance.activity_id)
        return _folded(attendance, events)


def _folded(attendance: Attendance, events: list[DomainEvent]) -> Attendance:
    for event in events:
        attendance = evolve(attendance, event)
    return attendance


@contextmanager
def _answered_as_refusals() -> Iterator[None]:
    """A rule broken on exact reads, or a conflict with a concurrent request, is the
    answer (422 naming the rule)."""
    try:
        yield
    except AttendanceRuleError as exc:
        figures: dict[str, Any] = dict(exc.figures)
        raise RuleViolationError(str(exc), field=exc.field, rule=exc.rule, **figures) from None
    except ConcurrencyError:
        raise RuleViolationError(
            "a check-in or check-out for this activity is in progress",
            field="activity_id",
            rule="concurrent_request",
        ) from None


def attendance_view(attendance: Attendance) -> dict[str, Any]:
    return {
        "activity_id": attendance.activity_id,
        "volunteer_id": attendance.volunteer_id,
        "checked_in_at": attendance.checked_in.at if attendance.checked_in else None,
        "checked_out_at": attendance.checked_out_at,
        "proof": attendance.checked_in.proof if attendance.checked_in else None,
    }
