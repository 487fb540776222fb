"""Approved hours on the real store: a volunteer's daily cap holds across activities
approved by different replicas (each with its own memory of which ledgers exist)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from muster_contracts.areas import load_area_tree
from muster_contracts.checkin import new_checkin_secret
from muster_contracts.envelope import Actor, Role
from muster_contracts.events.activities import ServiceRecordIssued
from muster_dispatch.application.activities import ActivityBook, AttendanceLog, Ledgers
from muster_dispatch.domain.activity import ScheduleActivity, approve_hours, schedule_activity
from muster_dispatch.domain.hours import HoursPolicy
from muster_runtime.eventstore import CommandContext, EventStore
from muster_runtime.mongo import Database
from tests.integration.helpers import attendance_event

# 09:00–15:00 and 16:00–20:00 in Shanghai: one local day.
MORNING = datetime(2026, 3, 2, 1, tzinfo=UTC)
EVENING = datetime(2026, 3, 2, 8, tzinfo=UTC)
CONTEXT = CommandContext(Actor(subject="org", role=Role.ORGANISER))


async def attended(book: ActivityBook, activity_id: str, starts: datetime, hours: int) -> None:
    areas = book.areas
    command = ScheduleActivity(
        drive_id="d1", title="巡逻", place_area_id="130203001001", category="patrol",
        starts_at=starts, ends_at=starts + timedelta(hours=hours), capacity=5,
        assigned_volunteer_ids=("v1", "v2"),
    )  # fmt: skip
    await book.execute(
        activity_id, lambda s: schedule_activity(s, command, new_checkin_secret(), areas), CONTEXT
    )
    ends = starts + timedelta(hours=hours)
    await book.log.apply(
        [
            attendance_event(activity_id, "v1", starts),
            attendance_event(activity_id, "v1", ends, out=True),
        ]
    )


async def approve(book: ActivityBook, activity_id: str) -> dict[str, int]:
    state = await book.existing(activity_id)
    ledgers = await book.ledgers.for_volunteers(sorted(state.attendances), excluding=activity_id)
    now = datetime.now(UTC)
    _, events = await book.execute(
        activity_id, lambda s: approve_hours(s, "org", now, HoursPolicy(), ledgers), CONTEXT
    )
    return {e.volunteer_id: e.minutes for e in events if isinstance(e, ServiceRecordIssued)}


async def test_the_daily_cap_counts_what_another_replica_approved(db: Database) -> None:
    store = EventStore(db)
    await store.create_indexes()
    areas = load_area_tree()
    log = AttendanceLog(db)
    one = ActivityBook(store, log, Ledgers(db), areas)
    other = ActivityBook(store, log, Ledgers(db), areas)
    await attended(one, "morning", MORNING, 6)
    await attended(one, "evening", EVENING, 4)

    first = await approve(one, "morning")
    second = await approve(other, "evening")

    ledger = await db["hour_ledgers"].find_one({"_id": "v1"})
    assert ledger is not None
    assert (first, second) == ({"v1": 360}, {"v1": 120})  # 8 h a day at most
    assert {a: sum(e["minutes"].values()) for a, e in ledger["activities"].items()} == {
        "morning": 360,
        "evening": 120,
    }
