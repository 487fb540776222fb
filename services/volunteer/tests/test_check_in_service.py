"""Check-in and check-out through the application layer on in-memory adapters: the
attendance stream, the one open attendance per volunteer, refusals by rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from muster_contracts.checkin import Coordinates, checkin_code, encode_secret
from muster_contracts.envelope import Actor, Role
from muster_contracts.events.activities import (
    ActivityScheduled,
    AttendanceCheckedIn,
    AttendanceCheckedOut,
    CheckinPolicy,
)
from muster_runtime.adapters.memory.event_store import InMemoryEventStore
from muster_runtime.errors import NotFoundError, RuleViolationError
from muster_runtime.ports.event_store import CommandContext
from muster_volunteer.application.attendance import AttendanceDesk
from muster_volunteer.domain.attendance import ActivityView, evolve_view

SECRET = b"k" * 32
STARTS = datetime(2025, 3, 5, 1, 0, tzinfo=UTC)
ON_TIME = STARTS + timedelta(minutes=2)
SITE = Coordinates(39.6300, 118.1800)
NEARBY = Coordinates(39.6310, 118.1800)  # about 111 m north
VOLUNTEER = CommandContext(Actor(subject="login-1", role=Role.VOLUNTEER))


class Views:
    """Activities as the volunteer service knows them from dispatch's events."""

    def __init__(self, *activity_ids: str) -> None:
        self.views: dict[str, ActivityView] = {}
        for activity_id in activity_ids:
            view = evolve_view(None, scheduled(activity_id))
            assert view is not None
            self.views[activity_id] = view

    async def view(self, activity_id: str, *, fresh: bool = False) -> ActivityView:
        if activity_id not in self.views:
            raise NotFoundError(f"no activity {activity_id}", field="activity_id")
        return self.views[activity_id]


class OpenAttendances:
    def __init__(self) -> None:
        self.open: dict[str, str] = {}

    async def claim(self, volunteer_id: str, activity_id: str) -> bool:
        if volunteer_id in self.open:
            return False
        self.open[volunteer_id] = activity_id
        return True

    async def activity_of(self, volunteer_id: str) -> str | None:
        return self.open.get(volunteer_id)

    async def record(self, volunteer_id: str, activity_id: str) -> None:
        self.open[volunteer_id] = activity_id

    async def release(self, volunteer_id: str, activity_id: str) -> None:
        if self.open.get(volunteer_id) == activity_id:
            del self.open[volunteer_id]


def scheduled(activity_id: str) -> ActivityScheduled:
    return ActivityScheduled(
        activity_id=activity_id,
        drive_id="drive-1",
        title="Visit elderly residents",
        place_area_id="130203001001",
        latitude=SITE.latitude,
        longitude=SITE.longitude,
        category="elderly_care",
        starts_at=STARTS,
        ends_at=STARTS + timedelta(hours=3),
        capacity=5,
        checkin_policy=CheckinPolicy.ASSIGNED_ONLY,
        assigned_volunteer_ids=["v-1"],
        checkin_secret=encode_secret(SECRET),
        checkin_tolerance_minutes=15,
    )


class Desk:
    def __init__(self) -> None:
        self.store = InMemoryEventStore()
        self.open = OpenAttendances()
        self.service = AttendanceDesk(self.store, Views("act-1", "act-2"), self.open, 200)

    async def check_in(self, activity_id: str, at: datetime = ON_TIME) -> None:
        code = checkin_code(SECRET, activity_id, at)
        await self.service.check_in(activity_id, "v-1", code, NEARBY, at, VOLUNTEER)

    async def events(self, activity_id: str) -> list[str]:
        stream = await self.store.read_stream(f"attendance-{activity_id}-v-1")
        return [e.type for e in stream.events]


@pytest.fixture
def desk() -> Desk:
    return Desk()


async def test_a_check_in_is_stored_and_opens_the_volunteer_s_attendance(desk: Desk) -> None:
    await desk.check_in("act-1")

    assert await desk.events("act-1") == [AttendanceCheckedIn.event_type]
    assert desk.open.open == {"v-1": "act-1"}


async def test_a_check_out_closes_the_attendance(desk: Desk) -> None:
    await desk.check_in("act-1")

    await desk.service.check_out("act-1", "v-1", ON_TIME + timedelta(hours=1), VOLUNTEER)

    assert await desk.events("act-1") == [
        AttendanceCheckedIn.event_type,
        AttendanceCheckedOut.event_type,
    ]
    assert desk.open.open == {}


async def test_a_second_check_in_is_refused_by_its_rule(desk: Desk) -> None:
    await desk.check_in("act-1")

    with pytest.raises(RuleViolationError) as refused:
        await desk.check_in("act-1", ON_TIME + timedelta(minutes=1))

    assert refused.value.details["rule"] == "already_checked_in"
    assert await desk.events("act-1") == [AttendanceCheckedIn.event_type]


async def test_a_wrong_code_is_refused_and_nothing_is_stored(desk: Desk) -> None:
    with pytest.raises(RuleViolationError) as refused:
        await desk.service.check_in("act-1", "v-1", "000000", NEARBY, ON_TIME, VOLUNTEER)

    assert refused.value.details["rule"] == "wrong_code"
    assert await desk.events("act-1") == []
    assert desk.open.open == {}


async def test_a_check_in_elsewhere_while_open_here_is_refused(desk: Desk) -> None:
    await desk.check_in("act-1")

    with pytest.raises(RuleViolationError) as refused:
        await desk.check_in("act-2", ON_TIME + timedelta(minutes=5))

    assert refused.value.details["rule"] == "overlapping_check_in"
    assert await desk.events("act-2") == []
    assert desk.open.open == {"v-1": "act-1"}
