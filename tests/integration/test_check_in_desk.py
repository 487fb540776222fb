"""The volunteer's check-in desk on the real store: its fast path assumes a new stream
(check-in), a stream of just the check-in (check-out) and a kept activity view; none of
these assumptions may decide an answer the stored facts would not give."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from muster_contracts.checkin import checkin_code, encode_secret, new_checkin_secret
from muster_contracts.envelope import Actor, EventEnvelope, Role
from muster_contracts.events import DomainEvent
from muster_contracts.events.activities import (
    ActivityCancelled,
    ActivityScheduled,
    ActivityVolunteersAssigned,
    CheckinPolicy,
)
from muster_runtime.errors import RuleViolationError
from muster_runtime.eventstore import CommandContext, EventStore
from muster_runtime.mongo import Database
from muster_runtime.projections import ConsumedEvent
from muster_volunteer.application.attendance import ActivityBoard, AttendanceDesk

SECRET = new_checkin_secret()
NOW = datetime.now(UTC)


def consumed(event: DomainEvent, version: int) -> ConsumedEvent:
    activity_id = getattr(event, "activity_id")  # noqa: B009 - every activity event has one
    envelope = EventEnvelope(
        event_id=uuid4(), type=event.event_type, schema_version=1,
        stream_id=f"activity-{activity_id}", stream_type="activity", stream_version=version,
        position=version, occurred_at=NOW, recorded_at=NOW, correlation_id=uuid4(),
        actor=Actor(subject="org", role=Role.ORGANISER), payload=event.model_dump(mode="json"),
    )  # fmt: skip
    return ConsumedEvent(envelope, "muster.dispatch.events", 0, version)


def scheduled(activity_id: str, *assigned: str) -> ConsumedEvent:
    return consumed(
        ActivityScheduled(
            activity_id=activity_id, title="巡逻", place_area_id="130203001001",
            category="patrol", starts_at=NOW - timedelta(hours=1),
            ends_at=NOW + timedelta(hours=2), capacity=5,
            checkin_policy=CheckinPolicy.ASSIGNED_ONLY, assigned_volunteer_ids=assigned,
            checkin_secret=encode_secret(SECRET), checkin_tolerance_minutes=15,
        ),
        1,
    )  # fmt: skip


@pytest.fixture
async def board(db: Database) -> ActivityBoard:
    board = ActivityBoard(db, view_seconds=3600)  # kept all test long unless dropped
    await board.apply([scheduled("a1", "v1", "v3"), scheduled("a2", "v1")])
    return board


@pytest.fixture
async def desk(db: Database, board: ActivityBoard) -> AttendanceDesk:
    store = EventStore(db)
    await store.create_indexes()
    return AttendanceDesk(store, board, db, radius_m=200)


async def check_in(desk: AttendanceDesk, activity_id: str, volunteer_id: str) -> str | None:
    """None if checked in, else the rule that refused it."""
    at = datetime.now(UTC)
    context = CommandContext(Actor(subject=volunteer_id, role=Role.VOLUNTEER))
    code = checkin_code(SECRET, activity_id, at)
    try:
        await desk.check_in(activity_id, volunteer_id, code, None, at, context)
    except RuleViolationError as refused:
        return str(refused.details["rule"])
    return None


async def check_out(desk: AttendanceDesk, activity_id: str, volunteer_id: str) -> str | None:
    context = CommandContext(Actor(subject=volunteer_id, role=Role.VOLUNTEER))
    try:
        await desk.check_out(activity_id, volunteer_id, datetime.now(UTC), context)
    except RuleViolationError as refused:
        return str(refused.details["rule"])
    return None


async def test_one_place_at_a_time_and_every_repeat_refused_by_its_own_rule(
    desk: AttendanceDesk,
) -> None:
    assert await check_out(desk, "a1", "v1") == "check_out_without_check_in"
    assert await check_in(desk, "a1", "v1") is None
    assert await check_in(desk, "a2", "v1") == "overlapping_check_in"
    assert await check_in(desk, "a1", "v1") == "already_checked_in"
    assert await check_out(desk, "a1", "v1") is None
    assert await check_out(desk, "a1", "v1") == "already_checked_out"
    assert await check_in(desk, "a1", "v1") == "already_checked_in"
    assert await check_in(desk, "a2", "v1") is None
    assert await check_out(desk, "a2", "v1") is None


async def test_a_kept_view_never_refuses_what_the_stored_one_allows(
    db: Database, board: ActivityBoard, desk: AttendanceDesk
) -> None:
    assert await check_in(desk, "a2", "v1") is None  # the view of a2 is now kept
    # Another replica applies an assignment: this process's copy does not know it.
    await ActivityBoard(db).apply(
        [consumed(ActivityVolunteersAssigned(activity_id="a2", volunteer_ids=("v2",)), 2)]
    )

    assert await check_in(desk, "a2", "v2") is None


async def test_a_cancellation_applied_here_is_seen_at_once(
    board: ActivityBoard, desk: AttendanceDesk
) -> None:
    assert await check_in(desk, "a1", "v1") is None  # the view of a1 is now kept
    await board.apply([consumed(ActivityCancelled(activity_id="a1", reason="storm"), 2)])

    assert await check_in(desk, "a1", "v3") == "activity_cancelled"
