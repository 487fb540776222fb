"""The never-checked-out sweep on the real store: a forgotten check-out is closed by rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from muster_contracts.areas import load_area_tree
from muster_contracts.checkin import new_checkin_secret
from muster_contracts.envelope import Actor, Role
from muster_contracts.events.activities import NeverCheckedOutRule
from muster_dispatch.adapters.attendance_log import AttendanceLog
from muster_dispatch.application.activities import ActivityBook
from muster_dispatch.application.service_days import ServiceDays
from muster_dispatch.domain.activity import ScheduleActivity, schedule_activity
from muster_dispatch.domain.hours import HoursPolicy
from muster_runtime.adapters.mongodb.event_store import MongoEventStore
from muster_runtime.mongo import Database
from muster_runtime.ports.event_store import CommandContext
from tests.integration.helpers import attendance_event


async def test_an_attendance_never_checked_out_is_credited_the_scheduled_end(db: Database) -> None:
    store = MongoEventStore(db)
    await store.create_indexes()
    areas = load_area_tree()
    log = AttendanceLog(db)
    book = ActivityBook(store, log, ServiceDays(store, HoursPolicy()), areas)
    starts = datetime.now(UTC) - timedelta(hours=6)
    ends = starts + timedelta(hours=2)
    command = ScheduleActivity(
        drive_id="d1", title="巡逻", place_area_id="130203001001", category="patrol",
        starts_at=starts, ends_at=ends, capacity=5, assigned_volunteer_ids=("v1",),
    )  # fmt: skip
    context = CommandContext(Actor(subject="org", role=Role.ORGANISER))
    await book.execute(
        "a1", lambda s: schedule_activity(s, command, new_checkin_secret(), areas), context
    )
    await log.apply([attendance_event("a1", "v1", starts)])
    policy = HoursPolicy(
        never_checked_out_rule=NeverCheckedOutRule.CREDIT_SCHEDULED_END, grace_minutes=60
    )

    closed = await book.sweep_never_checked_out(policy)
    again = await book.sweep_never_checked_out(policy)

    activity = await book.load("a1")
    assert (closed, again) == (1, 0)
    assert activity.attendance("v1").check_out_at == ends
