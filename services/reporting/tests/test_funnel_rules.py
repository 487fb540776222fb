"""The drive funnel as specifications: given events, then each stage's count per drive and area.

The projection runs in its in-memory (rebuild) mode here, except in the last test, which
counts live in the real document store and checks it holds what a rebuild holds.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from pymongo import AsyncMongoClient

from muster_contracts.areas import load_area_tree
from muster_contracts.envelope import Actor, EventEnvelope, Role
from muster_contracts.events import DomainEvent
from muster_contracts.events.activities import (
    ActivityScheduled,
    AttendanceCheckedIn,
    AttendanceCorrected,
    CheckinPolicy,
    ServiceRecordIssued,
)
from muster_contracts.events.drives import (
    DriveLaunched,
    Eligibility,
    ServiceCategory,
    SignUpAccepted,
    SignUpDeclined,
    SignUpOutcome,
    SignUpPromoted,
    SignUpSubmitted,
    SignUpWaitlisted,
    SignUpWithdrawalRecorded,
    TeamFormed,
)
from muster_contracts.events.drives import (
    Role as DriveRole,
)
from muster_reporting.adapters.memory_read_models import InMemoryCountingStore
from muster_reporting.adapters.read_models import DocumentReportingStore
from muster_reporting.application.drive_funnel import DriveFunnel
from muster_reporting.domain.funnel import Move, Stage, conversion, moves_of, step
from muster_runtime.adapters.mongodb.counter_cells import unpack
from muster_runtime.mongo import Database
from muster_runtime.projections import ConsumedEvent
from tests.conftest import mongo_url
from tests.integration.conftest import Commands

AREAS = load_area_tree()
COMMUNITY = "130203001001"  # 路北区 › 乔屯街道 › a community
STREET, DISTRICT = COMMUNITY[:9], COMMUNITY[:6]
NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
VOLUNTEER_TOPIC, DISPATCH_TOPIC = "t.volunteer.events", "t.dispatch.events"


class Log:
    """Events as a consumer reads them: each stream on its own partition, offsets in order."""

    def __init__(self) -> None:
        self.events: list[ConsumedEvent] = []
        self._offsets: dict[tuple[str, int], int] = {}
        self._versions: dict[str, int] = {}

    def add(self, event: DomainEvent, stream_id: str) -> ConsumedEvent:
        topic = (
            VOLUNTEER_TOPIC
            if stream_id.split("-")[0] in ("signup", "attendance")
            else DISPATCH_TOPIC
        )
        partition = sum(map(ord, stream_id)) % 3
        offset = self._offsets.get((topic, partition), -1) + 1
        self._offsets[(topic, partition)] = offset
        version = self._versions[stream_id] = self._versions.get(stream_id, 0) + 1
        envelope = EventEnvelope(
            event_id=uuid4(), type=event.event_type, schema_version=1, stream_id=stream_id,
            stream_type=stream_id.split("-")[0], stream_version=version, position=offset,
            occurred_at=NOW, recorded_at=NOW, correlation_id=uuid4(),
            actor=Actor(subject="t", role=Role.ORGANISER), payload=event.model_dump(mode="json"),
        )  # fmt: skip
        consumed = ConsumedEvent(envelope, topic, partition, offset)
        self.events.append(consumed)
        return consumed


def launch(log: Log, drive: str, area: str = COMMUNITY) -> None:
    log.add(
        DriveLaunched(
            drive_id=drive,
            title="楼道清理",
            organiser="o",
            scope_area_id=area,
            category=ServiceCategory.ENVIRONMENT,
            roles=(DriveRole(role_id="general", headcount=10),),
            signup_opens_at=NOW,
            signup_closes_at=NOW + timedelta(days=1),
            activity_starts_at=NOW + timedelta(days=2),
            activity_ends_at=NOW + timedelta(days=2, hours=3),
            eligibility=Eligibility(),
            team_size_min=1,
            team_size_max=8,
        ),
        f"drive-{drive}",
    )


def sign_up(log: Log, drive: str, volunteer: str, *, accepted: bool = True, n: int = 1) -> str:
    sign_up_id = f"{drive}-{volunteer}-{n}"
    log.add(
        SignUpSubmitted(
            sign_up_id=sign_up_id, drive_id=drive, volunteer_id=volunteer, role_id="general"
        ),
        f"signup-{sign_up_id}",
    )
    decided = dict(drive_id=drive, sign_up_id=sign_up_id, volunteer_id=volunteer, role_id="general",
                   home_area_id=COMMUNITY, skills=(), is_party_member=False)  # fmt: skip
    if accepted:
        log.add(SignUpAccepted(**decided), f"drive-{drive}")
    else:
        log.add(SignUpWaitlisted(**decided, position=1), f"drive-{drive}")
    return sign_up_id


def withdraw(log: Log, drive: str, volunteer: str, was: SignUpOutcome, n: int = 1) -> None:
    log.add(
        SignUpWithdrawalRecorded(drive_id=drive, sign_up_id=f"{drive}-{volunteer}-{n}",
                                 volunteer_id=volunteer, role_id="general", was=was),
        f"drive-{drive}",
    )  # fmt: skip


def form_team(log: Log, drive: str, members: tuple[str, ...], team: str = "t1") -> None:
    log.add(
        TeamFormed(
            team_id=team, drive_id=drive, formation=1, members=members, leader_id=members[0]
        ),
        f"drive-{drive}",
    )


def schedule(log: Log, activity: str, drive: str | None, team: str | None = None) -> None:
    log.add(
        ActivityScheduled(
            activity_id=activity,
            drive_id=drive,
            team_id=team,
            title="清理",
            place_area_id=COMMUNITY,
            category="environment",
            starts_at=NOW,
            ends_at=NOW + timedelta(hours=3),
            capacity=20,
            checkin_policy=CheckinPolicy.WALK_INS_ALLOWED,
            checkin_secret="c2VjcmV0",
            checkin_tolerance_minutes=15,
        ),
        f"activity-{activity}",
    )


def check_in(log: Log, activity: str, volunteer: str) -> None:
    log.add(
        AttendanceCheckedIn(activity_id=activity, volunteer_id=volunteer, at=NOW, proof="code"),
        f"attendance-{activity}-{volunteer}",
    )


def approve(log: Log, activity: str, drive: str, volunteer: str, day: int = 27) -> None:
    log.add(
        ServiceRecordIssued(
            activity_id=activity,
            record_id=f"{activity}-{volunteer}-{day}",
            volunteer_id=volunteer,
            drive_id=drive,
            category="environment",
            place_area_id=COMMUNITY,
            service_date=date(2026, 11, day),
            minutes=90,
            approved_by="o",
        ),
        f"activity-{activity}",
    )


async def counted(events: list[ConsumedEvent]) -> DriveFunnel:
    funnel = DriveFunnel(InMemoryCountingStore(), AREAS)
    await funnel.apply(events)
    return funnel


async def stages(
    funnel: DriveFunnel, *, area_id: str | None = None, drive_id: str | None = None
) -> dict[str, int]:
    cell = await funnel.counts(area_id=area_id, drive_id=drive_id)
    return {s.value: int(cell.get(s.value, 0)) for s in Stage}


def funnel_of(*counts: int) -> dict[str, int]:
    return dict(zip((s.value for s in Stage), counts, strict=True))


def a_drive_day() -> Log:
    """Drive d1 in a community: five sign-ups, four accepted, one withdraws; a team of three;
    an activity where three check in (one a walk-in) and two get hours approved."""
    log = Log()
    launch(log, "d1")
    for v in ("v1", "v2", "v3", "v4"):
        sign_up(log, "d1", v)
    sign_up(log, "d1", "v5", accepted=False)
    withdraw(log, "d1", "v4", SignUpOutcome.ACCEPTED)
    form_team(log, "d1", ("v1", "v2", "v3"))
    schedule(log, "a1", "d1")
    for v in ("v1", "v2", "v5"):
        check_in(log, "a1", v)
    check_in(log, "a1", "v1")  # a second check-in (another day) is the same person
    approve(log, "a1", "d1", "v1")
    approve(log, "a1", "d1", "v1", day=28)
    approve(log, "a1", "d1", "v2")
    return log


async def test_each_volunteer_counts_once_per_stage_in_the_drive_and_every_area_above() -> None:
    funnel = await counted(a_drive_day().events)

    expected = funnel_of(5, 3, 3, 3, 2)
    assert await stages(funnel, drive_id="d1") == expected
    for area in (COMMUNITY, STREET, DISTRICT):
        assert await stages(funnel, area_id=area) == expected
    assert await stages(funnel, area_id="130203002") == funnel_of(0, 0, 0, 0, 0)


async def test_a_withdrawal_leaves_accepted_and_assigned_but_stays_signed_up() -> None:
    log = Log()
    launch(log, "d1")
    sign_up(log, "d1", "v1")
    form_team(log, "d1", ("v1",))
    withdraw(log, "d1", "v1", SignUpOutcome.ACCEPTED)
    withdraw(log, "d1", "v1", SignUpOutcome.ACCEPTED)  # a second withdrawal takes nothing more
    sign_up(log, "d1", "v2", accepted=False)
    withdraw(log, "d1", "v2", SignUpOutcome.WAITLISTED)

    funnel = await counted(log.events)

    assert await stages(funnel, drive_id="d1") == funnel_of(2, 0, 0, 0, 0)


async def test_signing_up_again_after_a_withdrawal_counts_the_person_once() -> None:
    log = Log()
    launch(log, "d1")
    sign_up(log, "d1", "v1")
    withdraw(log, "d1", "v1", SignUpOutcome.ACCEPTED)
    sign_up(log, "d1", "v1", n=2)

    funnel = await counted(log.events)

    assert await stages(funnel, drive_id="d1") == funnel_of(1, 1, 0, 0, 0)


async def test_sign_ups_count_once_dispatch_decided_on_them_declined_ones_too() -> None:
    log = Log()
    launch(log, "d1")
    log.add(
        SignUpSubmitted(sign_up_id="s9", drive_id="d1", volunteer_id="v9", role_id="general"),
        "signup-s9",
    )  # not decided yet: not counted yet
    sign_up(log, "d1", "v1")
    log.add(
        SignUpDeclined(drive_id="d1", sign_up_id="s2", volunteer_id="v2", role_id="general",
                       rule="not_eligible:min_age"),
        "drive-d1",
    )  # fmt: skip

    funnel = await counted(log.events)

    assert await stages(funnel, drive_id="d1") == funnel_of(2, 1, 0, 0, 0)


async def test_a_waitlisted_volunteer_promoted_is_accepted() -> None:
    log = Log()
    launch(log, "d1")
    sign_up(log, "d1", "v1", accepted=False)
    log.add(
        SignUpPromoted(drive_id="d1", sign_up_id="d1-v1-1", volunteer_id="v1", role_id="general",
                       reason="withdrawal"),
        "drive-d1",
    )  # fmt: skip

    funnel = await counted(log.events)

    assert await stages(funnel, area_id=DISTRICT) == funnel_of(1, 1, 0, 0, 0)


async def test_redelivered_events_change_nothing() -> None:
    events = a_drive_day().events
    once = await counted(events)
    twice = await counted([*events, *events[3:], *events])

    assert await stages(twice, drive_id="d1") == await stages(once, drive_id="d1")
    assert await stages(twice, area_id=DISTRICT) == await stages(once, area_id=DISTRICT)


async def test_any_order_across_streams_gives_the_same_counts() -> None:
    """A replay may read the volunteer topic before dispatch's, and partitions in any order."""
    events = a_drive_day().events
    streams: dict[tuple[str, int], list[ConsumedEvent]] = {}
    for e in events:
        streams.setdefault((e.topic, e.partition), []).append(e)
    expected = funnel_of(5, 3, 3, 3, 2)
    rng = random.Random(5)
    for _ in range(20):
        queues = [list(q) for q in streams.values()]
        shuffled: list[ConsumedEvent] = []
        while any(queues):  # interleave partitions at random, each in its own order
            queue = rng.choice([q for q in queues if q])
            shuffled.append(queue.pop(0))
        funnel = await counted(shuffled)
        assert await stages(funnel, drive_id="d1") == expected
        assert await stages(funnel, area_id=DISTRICT) == expected


async def test_a_check_in_corrected_by_the_organiser_counts_and_team_activities_find_their_drive() -> (
    None
):
    log = Log()
    launch(log, "d1")
    sign_up(log, "d1", "v1")
    sign_up(log, "d1", "v2")
    form_team(log, "d1", ("v1", "v2"), team="t9")
    schedule(log, "a1", None, team="t9")  # scheduled for the team, not naming the drive
    check_in(log, "a1", "v1")
    log.add(
        AttendanceCorrected(activity_id="a1", volunteer_id="v2", check_in_at=NOW,
                            check_out_at=NOW + timedelta(hours=1), reason="纸质签到表", corrected_by="o"),
        "activity-a1",
    )  # fmt: skip
    schedule(log, "a2", None, team="unknown")
    check_in(log, "a2", "v1")  # an activity of no known drive counts in no funnel

    funnel = await counted(log.events)

    assert await stages(funnel, drive_id="d1") == funnel_of(2, 2, 2, 2, 0)


async def test_drives_roll_up_into_their_own_areas_only() -> None:
    log = Log()
    launch(log, "d1", COMMUNITY)
    launch(log, "d2", "130203002")  # another street of the district
    sign_up(log, "d1", "v1")
    sign_up(log, "d2", "v1")
    sign_up(log, "d2", "v2")

    funnel = await counted(log.events)

    assert await stages(funnel, area_id=STREET) == funnel_of(1, 1, 0, 0, 0)
    assert await stages(funnel, area_id="130203002") == funnel_of(2, 2, 0, 0, 0)
    # Per drive, the same volunteer counts in both; per area, once in each drive.
    assert await stages(funnel, area_id=DISTRICT) == funnel_of(3, 3, 0, 0, 0)


def test_moves_of_events_the_funnel_ignores_are_none() -> None:
    assert moves_of("activity.cancelled", {"activity_id": "a1"}) == []
    assert (
        moves_of(
            SignUpWithdrawalRecorded.event_type,
            {"drive_id": "d", "volunteer_id": "v", "was": "waitlisted"},
        )
        == []
    )


@pytest.mark.parametrize(
    ("held", "move", "after", "change"),
    [
        (set(), Move("v", Stage.SIGNED_UP), {Stage.SIGNED_UP}, {Stage.SIGNED_UP: 1}),
        ({Stage.SIGNED_UP}, Move("v", Stage.SIGNED_UP), {Stage.SIGNED_UP}, {}),
        (
            {Stage.SIGNED_UP, Stage.ACCEPTED, Stage.ASSIGNED, Stage.CHECKED_IN},
            Move("v", None),
            {Stage.SIGNED_UP, Stage.CHECKED_IN},
            {Stage.ACCEPTED: -1, Stage.ASSIGNED: -1},
        ),
        ({Stage.SIGNED_UP}, Move("v", None), {Stage.SIGNED_UP}, {}),
    ],
)
def test_step(held: set[Stage], move: Move, after: set[Stage], change: dict[Stage, int]) -> None:
    assert step(frozenset(held), move) == (frozenset(after), change)


def test_conversion_rates_are_from_the_stage_before_and_none_after_a_zero() -> None:
    rows = conversion({"signed_up": 8, "accepted": 6, "assigned": 0, "checked_in": 0})

    assert [(r.stage.value, r.count, r.rate) for r in rows] == [
        ("signed_up", 8, None),
        ("accepted", 6, 0.75),
        ("assigned", 0, 0.0),
        ("checked_in", 0, None),
        ("hours_approved", 0, None),
    ]


async def _snapshot(db: Database) -> dict[str, Any]:
    """The funnel's collections; its history's buckets as their counts and marks (how
    many times a bucket was rewritten is not what it holds)."""
    collections = {"cells": db["drive_funnel"], "facts": db["drive_funnel_facts"]}
    snapshot: dict[str, dict[str, Any]] = {
        name: {d["_id"]: d async for d in collection.find()}
        for name, collection in collections.items()
    }
    snapshot["history"] = {
        d["_id"]: (unpack(d).counts, unpack(d).hwm) async for d in db["drive_funnel_buckets"].find()
    }
    return snapshot


@pytest.mark.integration
async def test_live_counting_with_redeliveries_equals_a_rebuild() -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url())
    names = [f"funnel_{uuid4().hex[:10]}_{kind}" for kind in ("live", "rebuilt", "reordered")]
    try:
        events = a_drive_day().events
        live_store = DocumentReportingStore(client[names[0]])
        live = DriveFunnel(live_store, AREAS)
        history_writer = live_store.history_writer()
        rng = random.Random(3)
        for start in range(0, len(events), 4):  # batches, some delivered twice
            batch = events[start : start + 4]
            await live.apply(batch)
            if rng.random() < 0.5:
                await live.apply(batch)
            if rng.random() < 0.3:  # the history writer takes the journal now and then
                await history_writer.write()
        await history_writer.drain()
        rebuilt_store = DocumentReportingStore(client[names[1]])
        rebuilt_store.buffer()
        await DriveFunnel(rebuilt_store, AREAS).apply(events)
        await rebuilt_store.flush()

        live_state = await _snapshot(client[names[0]])
        rebuilt_state = await _snapshot(client[names[1]])
        assert live_state == rebuilt_state
        assert live_state["cells"]["area:130203"]["hours_approved"] == 2

        # A replay that reads the volunteer topic first counts the same and leaves the same
        # facts (which offsets each cell has seen may differ: not the figures).
        reordered = DocumentReportingStore(client[names[2]])
        reordered.buffer()
        volunteer_first = DriveFunnel(reordered, AREAS)
        await volunteer_first.apply(sorted(events, key=lambda e: e.topic != VOLUNTEER_TOPIC))
        await reordered.flush()
        other = await _snapshot(client[names[2]])

        def figures(cells: dict[str, Any]) -> dict[str, Any]:
            return {k: {f: v for f, v in c.items() if f != "hwm"} for k, c in cells.items()}

        assert figures(other["cells"]) == figures(live_state["cells"])
        assert other["facts"] == live_state["facts"]
    finally:
        for name in names:
            await client.drop_database(name)
        await client.close()


@pytest.mark.integration
async def test_an_activity_s_drive_and_a_drive_s_area_are_read_once_then_only_journeys() -> None:
    commands = Commands()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongo_url(), event_listeners=[commands]
    )

    def fact_reads() -> list[str]:
        read = [
            str(c["filter"]["_id"])
            for name, c in commands.seen
            if name == "find" and c["find"] == "drive_funnel_facts"
        ]
        commands.seen.clear()
        return read

    name = f"funnel_{uuid4().hex[:10]}"
    try:
        log = Log()
        launch(log, "d1")
        schedule(log, "a1", "d1")
        live = DriveFunnel(DocumentReportingStore(client[name]), AREAS)
        await live.apply(log.events)
        for n, volunteer in enumerate(("v1", "v2", "v3")):
            fact_reads()
            check_in(log, "a1", volunteer)
            await live.apply(log.events[-1:])
            journey = f"journey:d1|{volunteer}"
            # The drive's area: for the areas' cells, which the first check-in moves.
            assert fact_reads() == (["activity:a1", journey, "drive:d1"] if n == 0 else [journey])
        # Another consumer (a replica) knows nothing yet: it reads them once.
        replica = DriveFunnel(DocumentReportingStore(client[name]), AREAS)
        check_in(log, "a1", "v4")
        fact_reads()
        await replica.apply(log.events[-1:])
        assert fact_reads() == ["activity:a1", "journey:d1|v4", "drive:d1"]
        assert (await stages(live, drive_id="d1"))["checked_in"] == 4
    finally:
        await client.drop_database(name)
        await client.close()
