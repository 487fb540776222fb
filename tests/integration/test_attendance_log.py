"""Dispatch's attendance log on the real store: one document per activity, read by `_id`,
each event applied exactly once (a log stored another way is rebuilt from the events:
tests/integration/test_dispatch_rebuild.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from muster_dispatch.adapters.attendance_log import AttendanceLog
from muster_runtime.mongo import Database
from muster_runtime.projections import ConsumedEvent
from tests.integration.helpers import attendance_event

AT = datetime(2026, 3, 1, 9, tzinfo=UTC)


def check_in(volunteer_id: str, activity_id: str = "a1") -> ConsumedEvent:
    return attendance_event(activity_id, volunteer_id, AT)


def check_out(volunteer_id: str, activity_id: str = "a1") -> ConsumedEvent:
    return attendance_event(activity_id, volunteer_id, AT, out=True)


async def test_each_event_is_kept_once_however_often_it_is_delivered(db: Database) -> None:
    log = AttendanceLog(db)
    await log.apply([check_in("v1"), check_in("v2")])
    await log.apply([check_in("v1"), check_out("v1"), check_out("v1")])  # redelivered
    # Another replica, which has not seen the activity's document yet, gets a redelivery.
    await AttendanceLog(db).apply([check_in("v2"), check_out("v1")])

    events = await log.events_of("a1")

    assert [(type(e).__name__, e.volunteer_id) for e in events] == [  # type: ignore[attr-defined]
        ("AttendanceCheckedIn", "v1"),
        ("AttendanceCheckedOut", "v1"),
        ("AttendanceCheckedIn", "v2"),
    ]
    assert await log.events_of("a2") == []
    assert await db[AttendanceLog.COLLECTION].count_documents({}) == 1


async def test_the_sweep_finds_the_activities_someone_never_checked_out_of(db: Database) -> None:
    log = AttendanceLog(db)
    await log.apply([check_in("v1", "a1"), check_out("v1", "a1"), check_in("v2", "a2")])
    await log.apply([check_in("v3", "a2"), check_out("v3", "a2")])

    assert await log.activities_with_open_attendance() == {"a2"}
