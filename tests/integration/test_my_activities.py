"""Each volunteer's activities, kept on the real store from dispatch's activity events:
applied once per stream version, found by volunteer, upcoming and recent apart; folded in
memory by a rebuild into the same documents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from muster_contracts.events.activities import (
    ActivityAmended,
    ActivityCancelled,
    ActivityScheduled,
    ActivityVolunteersAssigned,
    AmendedAspect,
    CheckinPolicy,
)
from muster_contracts.events.registry import DomainEvent
from muster_dispatch.adapters.attendance_log import AttendanceLog
from muster_runtime.mongo import Database, scratch_database
from muster_runtime.projections import ConsumedEvent
from muster_runtime.settings import ServiceSettings
from muster_volunteer.application.my_activities import MyActivities
from muster_volunteer.bootstrap import my_activities
from tests.integration.helpers import attendance_event, organiser_event

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def consumed(version: int, event: DomainEvent) -> ConsumedEvent:
    activity_id = event.model_dump()["activity_id"]
    return organiser_event(f"activity-{activity_id}", version, event, NOW)


def scheduled(activity_id: str, starts_at: datetime, assigned: tuple[str, ...]) -> DomainEvent:
    return ActivityScheduled(
        activity_id=activity_id, title=f"活动 {activity_id}", place_area_id="130203001001",
        category="patrol", starts_at=starts_at, ends_at=starts_at + timedelta(hours=2),
        capacity=5, checkin_policy=CheckinPolicy.ASSIGNED_ONLY,
        assigned_volunteer_ids=assigned, checkin_secret="c2VjcmV0", checkin_tolerance_minutes=15,
    )  # fmt: skip


def activity_events() -> list[ConsumedEvent]:
    moved_to = NOW + timedelta(days=3)
    return [
        consumed(1, scheduled("a-soon", NOW + timedelta(days=1), ("v-1",))),
        consumed(1, scheduled("a-later", NOW + timedelta(days=2), ("v-2",))),
        consumed(2, ActivityVolunteersAssigned(activity_id="a-later", volunteer_ids=("v-1",))),
        consumed(1, scheduled("a-past", NOW - timedelta(days=2), ("v-1", "v-2"))),
        consumed(1, scheduled("a-long-ago", NOW - timedelta(days=40), ("v-1",))),
        consumed(2, ActivityAmended(
            activity_id="a-soon", starts_at=moved_to, ends_at=moved_to + timedelta(hours=1),
            place_area_id="130203001002", capacity=5, changed=(AmendedAspect.TIME,),
        )),
        consumed(3, ActivityCancelled(activity_id="a-later", reason="大雨")),
    ]  # fmt: skip


async def test_a_volunteer_finds_their_activities_as_amended_and_cancelled(db: Database) -> None:
    mine = my_activities(db)
    await mine.create_indexes()
    moved_to = NOW + timedelta(days=3)
    events = activity_events()
    await mine.apply(events)
    await mine.apply(events)  # redelivered: nothing changes
    await my_activities(db).apply(events[2:])  # and after a restart

    upcoming, recent = await mine.of_volunteer("v-1", NOW, NOW - timedelta(days=14), 10)

    assert [a["_id"] for a in upcoming] == ["a-later", "a-soon"]  # the amended one moved last
    later, soon = upcoming
    assert (later["cancelled"], later["cancel_reason"]) == (True, "大雨")
    assert (soon["starts_at"], soon["place_area_id"]) == (moved_to, "130203001002")
    assert [a["_id"] for a in recent] == ["a-past"]
    assert "volunteer_ids" not in soon  # who else is assigned is not theirs to read
    upcoming, _ = await mine.of_volunteer("v-1", NOW, NOW, 1)
    assert [a["_id"] for a in upcoming] == ["a-later"]
    upcoming, recent = await mine.of_volunteer("v-2", NOW, NOW - timedelta(days=14), 10)
    assert ([a["_id"] for a in upcoming], [a["_id"] for a in recent]) == (["a-later"], ["a-past"])
    assert await mine.of_volunteer("v-9", NOW, NOW - timedelta(days=14), 10) == ([], [])


async def test_folding_in_memory_leaves_the_documents_applying_one_by_one_does(
    settings: ServiceSettings, db: Database
) -> None:
    """As a rebuild folds the activities and the attendance log (`buffer`, then `flush`):
    the same documents as live applying, redeliveries and all."""
    attendance = [
        attendance_event("a-1", "v-1", NOW),
        attendance_event("a-1", "v-2", NOW),
        attendance_event("a-1", "v-1", NOW, out=True),
        attendance_event("a-2", "v-1", NOW, out=True),  # its check-in never seen
    ]
    async with scratch_database(settings.mongo_url, f"{db.name}_fold") as folded_db:
        live_mine, live_log = my_activities(db), AttendanceLog(db)
        folded_mine, folded_log = my_activities(folded_db), AttendanceLog(folded_db)
        folded_mine.documents.buffer()
        folded_log.buffer()
        for mine, log in ((live_mine, live_log), (folded_mine, folded_log)):
            for _ in range(2):  # redelivered: nothing changes
                await mine.apply(activity_events())
                await log.apply(attendance)
        await folded_mine.documents.flush()
        await folded_log.flush()

        for name in (MyActivities.COLLECTION, AttendanceLog.COLLECTION):
            live = {d["_id"]: d async for d in db[name].find()}
            assert live
            assert {d["_id"]: d async for d in folded_db[name].find()} == live
