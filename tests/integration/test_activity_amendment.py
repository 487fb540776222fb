"""Amending an activity on the real store: of amendments decided on the same version
(`If-Match`) at once, exactly one is appended and the others are refused as stale; the
activity read back is the one amendment's."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from muster_contracts.areas import load_area_tree
from muster_contracts.checkin import new_checkin_secret
from muster_contracts.envelope import Actor, Role
from muster_dispatch.adapters.attendance_log import AttendanceLog
from muster_dispatch.application.activities import ActivityBook
from muster_dispatch.application.service_days import ServiceDays
from muster_dispatch.domain.activity import AmendActivity, ScheduleActivity, schedule_activity
from muster_dispatch.domain.hours import HoursPolicy
from muster_runtime.adapters.mongodb.event_store import MongoEventStore
from muster_runtime.errors import PreconditionFailedError, RuleViolationError
from muster_runtime.mongo import Database
from muster_runtime.ports.event_store import CommandContext
from tests.integration.helpers import attendance_event

AREAS = load_area_tree()
CONTEXT = CommandContext(Actor(subject="org", role=Role.ORGANISER))


async def test_of_amendments_on_one_version_exactly_one_lands(db: Database) -> None:
    store = MongoEventStore(db)
    await store.create_indexes()
    log = AttendanceLog(db)
    book = ActivityBook(store, log, ServiceDays(store, HoursPolicy()), AREAS)
    starts = datetime.now(UTC) - timedelta(hours=1)
    command = ScheduleActivity(
        drive_id="d1", title="巡逻", place_area_id="130203001001", category="patrol",
        starts_at=starts, ends_at=starts + timedelta(hours=3), capacity=5,
        assigned_volunteer_ids=("v1", "v2"),
    )  # fmt: skip
    scheduled, _ = await book.execute(
        "a1", lambda s: schedule_activity(s, command, new_checkin_secret(), AREAS), CONTEXT
    )
    await log.apply([attendance_event("a1", "v1", starts + timedelta(minutes=5))])
    version = scheduled.version

    capacities = [2, 3, 4, 6, 7, 8, 9]  # each other than the 5 it has
    outcomes = await asyncio.gather(
        *(
            book.amend("a1", AmendActivity(capacity=capacity), version, CONTEXT)
            for capacity in capacities
        ),
        return_exceptions=True,
    )

    landed = [o for o in outcomes if isinstance(o, tuple)]
    refused = [o for o in outcomes if isinstance(o, PreconditionFailedError)]
    assert (len(landed), len(refused)) == (1, len(capacities) - 1), outcomes
    assert {e.details["current_version"] for e in refused} == {version + 1}
    amended = await book.load("a1")
    assert amended.version == version + 1
    (won, events), *_ = landed
    assert [e.event_type for e in events] == ["activity.amended"]
    assert amended.scheduled == won.scheduled

    # On the version now: a rule is still a rule, and the attendance recorded stays valid.
    with pytest.raises(RuleViolationError) as refusal:
        await book.amend(
            "a1", AmendActivity(starts_at=starts + timedelta(hours=1)), version + 1, CONTEXT
        )
    assert refusal.value.details["rule"] == "recorded_attendance_outside"
