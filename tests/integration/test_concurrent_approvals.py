"""Concurrent approvals on the real store: a volunteer's hours depend only on the set of
approved attendances, whichever replica approves what, in whatever order or all at once.

Two replicas (each its own client, connection pool, event store and caches) approve
overlapping, over-cap and over-midnight activities of shared volunteers at the same moment;
every volunteer's credited minutes per local day, and each activity's share of them, must
equal the day counted once from the whole set. Seeded: `MUSTER_TEST_SEED` replays a run.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from muster_contracts.areas import load_area_tree
from muster_contracts.checkin import new_checkin_secret
from muster_contracts.envelope import Actor, Role
from muster_dispatch.adapters.attendance_log import AttendanceLog
from muster_dispatch.application.activities import ActivityBook
from muster_dispatch.application.service_days import ServiceDays
from muster_dispatch.domain.activity import ScheduleActivity, approve_hours, schedule_activity
from muster_dispatch.domain.hours import HoursPolicy, Interval, credit_day, local_days
from muster_runtime.adapters.mongodb.event_store import MongoEventStore
from muster_runtime.mongo import Database, connect
from muster_runtime.ports.event_store import CommandContext
from muster_runtime.settings import ServiceSettings
from tests.integration.helpers import attendance_event

POLICY = HoursPolicy()
SHANGHAI = ZoneInfo("Asia/Shanghai")
CONTEXT = CommandContext(Actor(subject="org", role=Role.ORGANISER))
VOLUNTEERS = [f"v{n:02d}" for n in range(12)]


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


# Overlapping (A, B), two six-hour activities on one day (C, D: over the cap with A and B),
# one over midnight (E), and the README's worked example on the next day (F, G).
SCHEDULE = {
    "A": Interval(local(2, 9), local(2, 13)),
    "B": Interval(local(2, 11), local(2, 15)),
    "C": Interval(local(2, 7), local(2, 13)),
    "D": Interval(local(2, 13), local(2, 19)),
    "E": Interval(local(2, 22), local(3, 2)),
    "F": Interval(local(3, 8, 58), local(3, 12, 26)),
    "G": Interval(local(3, 11, 5), local(3, 15, 20)),
}


def log_of(book: ActivityBook) -> AttendanceLog:
    """The replica's attendance log, to feed it the volunteers' events as consumed."""
    assert isinstance(book.log, AttendanceLog)
    return book.log


@pytest.fixture
async def replicas(db: Database, settings: ServiceSettings) -> AsyncIterator[list[ActivityBook]]:
    """Two dispatch replicas on one database, sharing nothing in memory."""
    areas = load_area_tree()
    clients = [connect(settings.mongo_url) for _ in range(2)]
    books = []
    for client in clients:
        store = MongoEventStore(client[settings.database_name])
        await store.create_indexes()
        replica_db = client[settings.database_name]
        books.append(
            ActivityBook(store, AttendanceLog(replica_db), ServiceDays(store, POLICY), areas)
        )
    yield books
    for client in clients:
        await client.close()


async def schedule(book: ActivityBook, activity_id: str, span: Interval) -> None:
    areas = book.areas
    command = ScheduleActivity(
        drive_id="d1", title=activity_id, place_area_id="130203001001", category="patrol",
        starts_at=span.start, ends_at=span.end, capacity=len(VOLUNTEERS),
        assigned_volunteer_ids=tuple(VOLUNTEERS),
    )  # fmt: skip
    await book.execute(
        activity_id, lambda s: schedule_activity(s, command, new_checkin_secret(), areas), CONTEXT
    )


async def approve(book: ActivityBook, activity_id: str) -> None:
    now = datetime.now(UTC)
    await book.execute(activity_id, lambda s: approve_hours(s, "org", now), CONTEXT)
    await book.settle_hours(activity_id, CONTEXT)


async def test_concurrent_approvals_on_two_replicas_credit_the_set(
    replicas: list[ActivityBook],
) -> None:
    seed = int(os.environ.get("MUSTER_TEST_SEED", random.randrange(2**32)))
    print(f"seed {seed} (MUSTER_TEST_SEED={seed} replays this run)")
    rng = random.Random(seed)
    one, other = replicas
    spans: dict[str, dict[str, Interval]] = {}  # volunteer -> activity -> attended span
    for activity_id, span in SCHEDULE.items():
        await schedule(one, activity_id, span)
        events = []
        for volunteer_id in VOLUNTEERS:
            if rng.random() < 0.25:
                continue  # did not come
            start = span.start + timedelta(minutes=rng.choice([0, 0, 3, 17]))
            end = span.end - timedelta(minutes=rng.choice([0, 0, 8, 31]))
            spans.setdefault(volunteer_id, {})[activity_id] = Interval(start, end)
            events += [
                attendance_event(activity_id, volunteer_id, start),
                attendance_event(activity_id, volunteer_id, end, out=True),
            ]
        await log_of(one).apply(events)

    # Every activity approved at once, each by a replica drawn at random.
    await asyncio.gather(*(approve(rng.choice(replicas), a) for a in SCHEDULE))

    credited: dict[tuple[str, date], dict[str, int]] = {}
    for activity_id in SCHEDULE:
        state = await other.load(activity_id)
        for (volunteer_id, day), record in state.records.items():
            credited.setdefault((volunteer_id, day), {})[activity_id] = record.minutes
    expected: dict[tuple[str, date], dict[str, int]] = {}
    for volunteer_id, attended in spans.items():
        for day in {d for span in attended.values() for d in local_days(span, POLICY.zone)}:
            expected[(volunteer_id, day)] = credit_day(attended, day, POLICY)
    total = sum(sum(d.values()) for d in credited.values())
    print(
        f"{len(SCHEDULE)} approvals at once on 2 replicas, {len(spans)} volunteers, "
        f"{len(expected)} volunteer-days: {total / 60:.1f} h credited, "
        f"{sum(sum(d.values()) for d in expected.values()) / 60:.1f} h counted from the set"
    )
    assert credited == expected
    # Nobody is over the cap on any day, and the worked example credits 6.0 h.
    assert all(sum(d.values()) <= POLICY.daily_cap_minutes for d in credited.values())
    day_two = {v: d for (v, day), d in credited.items() if day == date(2026, 3, 2)}
    assert day_two, "the generated attendance has people on the first day"


async def test_the_worked_example_credits_six_hours_in_either_order_or_at_once(
    replicas: list[ActivityBook],
) -> None:
    one, other = replicas
    for round_, order in enumerate((("F", "G"), ("G", "F"), None)):
        suffix = f"-{round_}"
        for activity_id in ("F", "G"):
            span = SCHEDULE[activity_id]
            await schedule(one, activity_id + suffix, span)
            await log_of(one).apply(
                [
                    attendance_event(activity_id + suffix, f"w{round_}", span.start),
                    attendance_event(activity_id + suffix, f"w{round_}", span.end, out=True),
                ]
            )
        if order is None:
            await asyncio.gather(approve(one, "F" + suffix), approve(other, "G" + suffix))
        else:
            for activity_id, book in zip(order, replicas, strict=True):
                await approve(book, activity_id + suffix)
        minutes = {
            a: sum(r.minutes for r in (await other.load(a + suffix)).records.values())
            for a in ("F", "G")
        }
        assert minutes == {"F": 180, "G": 180}, order
