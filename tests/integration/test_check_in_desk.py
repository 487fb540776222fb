"""The volunteer's check-in desk on the real store: its fast path assumes a new stream
(check-in), a stream of just the check-in (check-out) and a kept activity view; none of
these assumptions may decide an answer the stored facts would not give."""

from __future__ import annotations

import asyncio
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
from muster_runtime.adapters.mongodb.event_store import MongoEventStore
from muster_runtime.errors import RuleViolationError
from muster_runtime.mongo import Database
from muster_runtime.ports.event_store import CommandContext
from muster_runtime.projections import ConsumedEvent
from muster_volunteer.adapters.open_attendances import StoredOpenAttendances
from muster_volunteer.application.attendance import ActivityBoard, AttendanceDesk
from muster_volunteer.bootstrap import activity_board
from tests.integration.conftest import Commands

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
    board = activity_board(db, view_seconds=3600)  # kept all test long unless dropped
    await board.apply([scheduled("a1", "v1", "v3"), scheduled("a2", "v1")])
    return board


@pytest.fixture
async def desk(db: Database, board: ActivityBoard) -> AttendanceDesk:
    store = MongoEventStore(db)
    await store.create_indexes()
    return AttendanceDesk(store, board, StoredOpenAttendances(db), radius_m=200)


async def check_in(
    desk: AttendanceDesk, activity_id: str, volunteer_id: str, code: str | None = None
) -> str | None:
    """None if checked in, else the rule that refused it."""
    at = datetime.now(UTC)
    context = CommandContext(Actor(subject=volunteer_id, role=Role.VOLUNTEER))
    code = code or checkin_code(SECRET, activity_id, at)
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
    await activity_board(db).apply(
        [consumed(ActivityVolunteersAssigned(activity_id="a2", volunteer_ids=("v2",)), 2)]
    )

    assert await check_in(desk, "a2", "v2") is None


async def test_a_cancellation_applied_here_is_seen_at_once(
    board: ActivityBoard, desk: AttendanceDesk
) -> None:
    assert await check_in(desk, "a1", "v1") is None  # the view of a1 is now kept
    await board.apply([consumed(ActivityCancelled(activity_id="a1", reason="storm"), 2)])

    assert await check_in(desk, "a1", "v3") == "activity_cancelled"


async def test_a_check_in_and_its_check_out_each_cost_three_writes_and_no_read(
    listened: tuple[Database, Commands], board: ActivityBoard
) -> None:
    db, commands = listened
    store = MongoEventStore(db)
    await store.create_indexes()
    desk = AttendanceDesk(store, board, StoredOpenAttendances(db), radius_m=200)
    assert await check_in(desk, "a1", "v1") is None  # takes a block of positions
    assert await check_out(desk, "a1", "v1") is None
    commands.take()

    assert await check_in(desk, "a2", "v1") is None
    assert commands.take() == [
        ("insert", "open_attendances"),  # the claim: open nowhere else
        ("insert", "events_outbox"),
        ("insert", "events"),
    ]
    assert await check_out(desk, "a2", "v1") is None  # its check-in read from memory
    assert commands.take() == [
        ("insert", "events_outbox"),
        ("insert", "events"),
        ("delete", "open_attendances"),
    ]


async def replica(db: Database) -> AttendanceDesk:
    """A desk as another process of the volunteer service has it: its own memory."""
    return AttendanceDesk(
        MongoEventStore(db),
        activity_board(db, view_seconds=3600),
        StoredOpenAttendances(db),
        radius_m=200,
    )


async def attendance_events(db: Database, activity_id: str, volunteer_id: str) -> list[str]:
    stream = await MongoEventStore(db).read_stream(f"attendance-{activity_id}-{volunteer_id}")
    return [e.type for e in stream.events]


async def test_two_replicas_racing_check_ins_and_check_outs_record_each_once(
    db: Database, desk: AttendanceDesk
) -> None:
    volunteers = [f"r{n}" for n in range(6)]
    await activity_board(db).apply([scheduled("b1", *volunteers), scheduled("b2", *volunteers)])
    replicas = [desk, await replica(db)]

    for volunteer in volunteers:
        checked_in = await asyncio.gather(*(check_in(r, "b1", volunteer) for r in replicas))
        assert checked_in.count(None) == 1, checked_in
        assert set(checked_in) - {None} <= {"already_checked_in", "concurrent_request"}
        assert await db["open_attendances"].find_one({"_id": volunteer}) == {
            "_id": volunteer,
            "activity_id": "b1",
        }
        for r in replicas:  # whichever replica asks, and whichever wrote the check-in
            assert await check_in(r, "b2", volunteer) == "overlapping_check_in"

        checked_out = await asyncio.gather(*(check_out(r, "b1", volunteer) for r in replicas))
        assert checked_out.count(None) == 1, checked_out
        assert set(checked_out) - {None} <= {"already_checked_out", "concurrent_request"}
        assert await db["open_attendances"].find_one({"_id": volunteer}) is None

        assert await check_in(replicas[1], "b2", volunteer) is None
        assert await check_out(replicas[0], "b2", volunteer) is None
        for activity in ("b1", "b2"):
            assert await attendance_events(db, activity, volunteer) == [
                "attendance.checked_in",
                "attendance.checked_out",
            ]


async def test_a_refused_check_in_claims_nothing_and_a_stale_claim_blocks_nothing(
    db: Database, desk: AttendanceDesk
) -> None:
    assert await check_in(desk, "a1", "v1", code="000000") == "wrong_code"
    assert await db["open_attendances"].find_one({"_id": "v1"}) is None

    # A replica claimed a1 for v1, then died before storing the check-in.
    await db["open_attendances"].insert_one({"_id": "v1", "activity_id": "a1"})
    assert await check_in(desk, "a2", "v1") is None
    assert await db["open_attendances"].find_one({"_id": "v1"}) == {
        "_id": "v1",
        "activity_id": "a2",
    }
    assert await check_in(desk, "a1", "v1") == "overlapping_check_in"
