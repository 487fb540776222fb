"""Drives through the application layer on the in-memory event store: launch a drive,
then decide the sign-ups volunteers submitted, as dispatch does when it consumes them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from muster_contracts.areas import AreaLevel, load_area_tree
from muster_contracts.eligibility import VolunteerProfile
from muster_contracts.envelope import Actor, Role
from muster_contracts.events.drives import (
    DriveLaunched,
    SignUpAccepted,
    SignUpSubmitted,
    SignUpWaitlisted,
)
from muster_dispatch.application.drives import DriveBook, SignUpDesk, drive_stream
from muster_dispatch.domain.drive import LaunchDrive, launch_drive
from muster_runtime.adapters.memory.event_store import InMemoryEventStore
from muster_runtime.errors import RuleViolationError
from muster_runtime.ports.event_store import CommandContext
from muster_runtime.projections import ConsumedEvent

AREAS = load_area_tree()
COMMUNITY = AREAS.at_level(AreaLevel.COMMUNITY)[0].id
BUILDING = next(b.id for b in AREAS.at_level(AreaLevel.BUILDING) if b.id.startswith(COMMUNITY))
NOW = datetime.now(UTC)
ORGANISER = CommandContext(Actor(subject="organiser-1", role=Role.ORGANISER))


class Profiles:
    """The volunteers dispatch has seen registered."""

    def __init__(self, *volunteer_ids: str) -> None:
        self.known = {
            v: VolunteerProfile(
                home_area_id=BUILDING, categories=("resident",), skills=("general",)
            )
            for v in volunteer_ids
        }

    async def profile(self, volunteer_id: str) -> VolunteerProfile | None:
        return self.known.get(volunteer_id)


def launch_form(headcount: int) -> LaunchDrive:
    return LaunchDrive.model_validate(
        {
            "title": "助老义诊",
            "organiser": "organiser-1",
            "scope_area_id": COMMUNITY,
            "category": "elderly_care",
            "roles": [{"role_id": "helpers", "headcount": headcount}],
            "signup_opens_at": NOW - timedelta(hours=1),
            "signup_closes_at": NOW + timedelta(days=7),
            "activity_starts_at": NOW + timedelta(days=8),
            "activity_ends_at": NOW + timedelta(days=8, hours=4),
            "team_size_min": 1,
            "team_size_max": 6,
        }
    )


async def submitted(volunteers: InMemoryEventStore, n: int) -> list[ConsumedEvent]:
    """Sign-ups as the volunteer service stored them and dispatch consumes them."""
    for i in range(n):
        await volunteers.append(
            f"signup-s-{i}",
            "signup",
            0,
            [
                SignUpSubmitted(
                    sign_up_id=f"s-{i}", drive_id="d-1", volunteer_id=f"v-{i}", role_id="helpers"
                )
            ],
            CommandContext(Actor(subject=f"login-{i}", role=Role.VOLUNTEER)),
        )
    envelopes = [e async for e in volunteers.read_all()]
    return [ConsumedEvent(e, "volunteer-events", 0, offset) for offset, e in enumerate(envelopes)]


@pytest.fixture
def store() -> InMemoryEventStore:
    return InMemoryEventStore()


async def launch(book: DriveBook, headcount: int) -> None:
    await book.execute(
        "d-1", lambda d: launch_drive(d, launch_form(headcount), AREAS, NOW), ORGANISER
    )


async def test_a_launched_drive_is_one_event_on_its_stream(store: InMemoryEventStore) -> None:
    book = DriveBook(store, AREAS)

    await launch(book, headcount=2)

    stream = await store.read_stream(drive_stream("d-1"))
    assert [e.type for e in stream.events] == [DriveLaunched.event_type]
    assert (await book.existing("d-1")).version == 1


async def test_a_drive_is_launched_once(store: InMemoryEventStore) -> None:
    book = DriveBook(store, AREAS)
    await launch(book, headcount=2)

    with pytest.raises(RuleViolationError):
        await launch(book, headcount=2)


async def test_sign_ups_fill_the_role_then_wait(store: InMemoryEventStore) -> None:
    book = DriveBook(store, AREAS)
    await launch(book, headcount=2)
    desk = SignUpDesk(book, Profiles(*(f"v-{i}" for i in range(3))))

    await desk.apply(await submitted(InMemoryEventStore(), 3))

    decided = [e.type for e in (await store.read_stream(drive_stream("d-1"))).events[1:]]
    assert decided == [SignUpAccepted.event_type] * 2 + [SignUpWaitlisted.event_type]


async def test_two_processes_deciding_at_once_never_overfill_a_role(
    store: InMemoryEventStore,
) -> None:
    """Two replicas of dispatch, each with its own cache, share the store."""
    await launch(DriveBook(store, AREAS), headcount=1)
    profiles = Profiles("v-0", "v-1")
    consumed = await submitted(InMemoryEventStore(), 2)
    replicas = [SignUpDesk(DriveBook(store, AREAS), profiles) for _ in range(2)]

    await asyncio.gather(*(r.apply([c]) for r, c in zip(replicas, consumed, strict=True)))

    decided = [e.type for e in (await store.read_stream(drive_stream("d-1"))).events[1:]]
    assert sorted(decided) == [SignUpAccepted.event_type, SignUpWaitlisted.event_type]
