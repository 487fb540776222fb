"""Sign-ups through the application layer on in-memory versioned documents and event
store: a sign-up is recorded once, stays its volunteer's, and moves with dispatch's
decisions; the board lists the open drives a volunteer fits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from muster_contracts.areas import load_area_tree
from muster_contracts.envelope import Actor, Role
from muster_contracts.events import DomainEvent, SealedPersonalData, VolunteerRegistered
from muster_contracts.events.drives import DriveLaunched, Eligibility, SignUpAccepted
from muster_contracts.events.drives import Role as DriveRole
from muster_runtime.adapters.memory.event_store import InMemoryEventStore
from muster_runtime.adapters.memory.versioned_documents import InMemoryVersionedDocuments
from muster_runtime.errors import ConflictError, NotFoundError
from muster_runtime.ports.event_store import CommandContext
from muster_runtime.projections import ConsumedEvent
from muster_volunteer.application.sign_ups import DriveBoard, SignUpDesk

NOW = datetime.now(UTC)
AREAS = load_area_tree()
VOLUNTEER = CommandContext(Actor(subject="login-1", role=Role.VOLUNTEER))
DISPATCH = CommandContext(Actor(subject="dispatch", role=Role.SYSTEM))


def volunteer(volunteer_id: str) -> VolunteerRegistered:
    return VolunteerRegistered(
        volunteer_id=volunteer_id, home_area_id="130203001001", categories=(), skills=(),
        personal=SealedPersonalData(key_id=volunteer_id, ciphertext="sealed"),
    )  # fmt: skip


def launched(drive_id: str) -> DriveLaunched:
    return DriveLaunched(
        drive_id=drive_id, title="楼道清理", organiser="li", scope_area_id="130203001",
        category="environment", roles=(DriveRole(role_id="general", headcount=20),),
        signup_opens_at=NOW - timedelta(hours=1), signup_closes_at=NOW + timedelta(days=2),
        activity_starts_at=NOW + timedelta(days=3),
        activity_ends_at=NOW + timedelta(days=3, hours=2),
        eligibility=Eligibility(), team_size_min=3, team_size_max=8,
    )  # fmt: skip


async def published(stream_id: str, stream_type: str, *events: DomainEvent) -> list[ConsumedEvent]:
    store = InMemoryEventStore()
    await store.append(stream_id, stream_type, 0, list(events), DISPATCH)
    envelopes = [e async for e in store.read_all()]
    return [ConsumedEvent(e, "dispatch", 0, n) for n, e in enumerate(envelopes)]


@pytest.fixture
async def board() -> DriveBoard:
    board = DriveBoard(InMemoryVersionedDocuments(), InMemoryVersionedDocuments(), AREAS)
    await board.apply(await published("drive-d-1", "drive", launched("d-1")))
    return board


@pytest.fixture
def desk(board: DriveBoard) -> SignUpDesk:
    return SignUpDesk(InMemoryEventStore(), board)


async def test_a_sign_up_is_recorded_once_and_stays_its_volunteer_s(desk: SignUpDesk) -> None:
    first = await desk.submit("s-1", volunteer("v-1"), "d-1", "general", VOLUNTEER)
    again = await desk.submit("s-1", volunteer("v-1"), "d-1", "general", VOLUNTEER)

    assert (first["status"], first["drive_title"]) == ("submitted", "楼道清理")
    assert again == first
    with pytest.raises(ConflictError):
        await desk.submit("s-1", volunteer("v-2"), "d-1", "general", VOLUNTEER)
    with pytest.raises(NotFoundError):
        await desk.submit("s-2", volunteer("v-1"), "d-9", "general", VOLUNTEER)
    with pytest.raises(NotFoundError):
        await desk.withdraw("s-1", "v-2", None, VOLUNTEER)
    assert [d["_id"] for d in await desk.of_volunteer("v-1")] == ["s-1"]
    assert await desk.of_volunteer("v-2") == []


async def test_a_sign_up_moves_with_dispatch_s_decision_and_a_withdrawal(
    board: DriveBoard, desk: SignUpDesk
) -> None:
    await desk.submit("s-1", volunteer("v-1"), "d-1", "general", VOLUNTEER)
    decided = await published(
        "drive-d-1",
        "drive",
        SignUpAccepted(
            sign_up_id="s-1", drive_id="d-1", volunteer_id="v-1", role_id="general",
            home_area_id="130203001001", skills=(), is_party_member=False,
        ),
    )  # fmt: skip
    await board.apply_decisions(decided)
    withdrawn = await desk.withdraw("s-1", "v-1", "moved away", VOLUNTEER)

    assert (withdrawn["status"], withdrawn["withdrawal_requested"]) == ("accepted", True)
    drives = await board.open_drives_for(volunteer("v-1"), NOW)
    assert [d["drive_id"] for d in drives] == ["d-1"]
