"""Binding logins to volunteers on the real store: a code binds once under concurrent
claims, expiry and erasure hold, and a login's attempts are counted across requests."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from muster_auth.keys import LocalKeyFile
from muster_contracts.areas import AreaLevel, load_area_tree
from muster_contracts.envelope import Actor, Role
from muster_runtime.adapters.mongodb.event_store import MongoEventStore
from muster_runtime.errors import ConflictError, GoneError, MusterError, NotFoundError
from muster_runtime.mongo import Database
from muster_runtime.ports.event_store import CommandContext
from muster_volunteer.adapters.logins import (
    ClaimAttempts,
    InvitationCodes,
    LoginLinks,
)
from muster_volunteer.adapters.personal_data import IdentityClaims, PersonalDataVault
from muster_volunteer.application.logins import LoginDesk
from muster_volunteer.application.ports import TooManyClaimAttemptsError
from muster_volunteer.application.registration import VolunteerRegistry, stream_id
from muster_volunteer.domain.volunteer import RegisterVolunteer

AREAS = load_area_tree()
BUILDING = AREAS.at_level(AreaLevel.BUILDING)[0].id
PEPPER = b"test-pepper"
ORGANISER = CommandContext(Actor(subject="organiser-li", role=Role.ORGANISER))
WEEK = timedelta(days=7)


def as_login(subject: str) -> CommandContext:
    return CommandContext(Actor(subject=subject, role=Role.VOLUNTEER))


class Desk:
    def __init__(self, db: Database) -> None:
        self.store = MongoEventStore(db)
        self.logins = LoginLinks(db)
        codes = InvitationCodes(db, PEPPER)
        key_file = Path(tempfile.mkdtemp(prefix="muster-kek-")) / "kek.json"
        LocalKeyFile.create(key_file)
        self.registry = VolunteerRegistry(
            self.store,
            PersonalDataVault(db, LocalKeyFile(key_file)),
            IdentityClaims(db, PEPPER, "phone_claims"),
            AREAS,
            self.logins,
            IdentityClaims(db, PEPPER, "id_number_claims"),
            codes,
        )
        self.desk = LoginDesk(self.store, self.logins, codes, ClaimAttempts(db, 5, 3600), WEEK)

    async def register(self, phone: str, context: CommandContext = ORGANISER) -> str:
        form = RegisterVolunteer.model_validate(
            {"name": "王芳", "phone": phone, "home_area_id": BUILDING, "categories": ["resident"]}
        )
        record = await self.registry.register(f"v-{phone}", form, context)
        return record.volunteer.volunteer_id

    async def claim(self, code: str, subject: str, now: datetime | None = None) -> str:
        return await self.desk.claim(code, subject, now or datetime.now(UTC), as_login(subject))

    async def event_types(self, volunteer_id: str) -> list[str]:
        stream = await self.store.read_stream(stream_id(volunteer_id))
        return [e.type for e in stream.events]


@pytest.fixture
async def desk(db: Database) -> Desk:
    desk = Desk(db)
    await desk.store.create_indexes()
    return desk


async def refused(call: asyncio.Future[str] | object) -> MusterError:
    with pytest.raises(MusterError) as error:
        await call  # type: ignore[misc]
    return error.value


async def test_a_code_binds_exactly_one_of_many_concurrent_logins(desk: Desk) -> None:
    volunteer_id = await desk.register("13800138001")
    issued = await desk.desk.invite(volunteer_id, lambda _: True, datetime.now(UTC), ORGANISER)
    logins = [f"idp|racer-{i}" for i in range(6)]

    outcomes = await asyncio.gather(
        *(desk.claim(issued.code, login) for login in logins), return_exceptions=True
    )

    winners = [login for login, o in zip(logins, outcomes, strict=True) if o == volunteer_id]
    assert len(winners) == 1, outcomes
    losers = [o for o in outcomes if isinstance(o, BaseException)]
    assert {(type(o), getattr(o, "code", None)) for o in losers} == {
        (ConflictError, "invitation_used")
    }
    assert [await desk.logins.volunteer_of(login) for login in logins] == [
        volunteer_id if login in winners else None for login in logins
    ]
    assert (await desk.registry.load(volunteer_id)).login == winners[0]
    assert await desk.event_types(volunteer_id) == [
        "volunteer.registered",
        "volunteer.invited",
        "volunteer.login_bound",
    ]


async def test_an_expired_code_is_refused_and_binds_nothing(desk: Desk) -> None:
    volunteer_id = await desk.register("13800138002")
    issued_at = datetime.now(UTC) - WEEK - timedelta(minutes=1)
    issued = await desk.desk.invite(volunteer_id, lambda _: True, issued_at, ORGANISER)

    error = await refused(desk.claim(issued.code, "idp|late"))

    assert (type(error), error.code) == (GoneError, "invitation_expired")
    assert await desk.logins.volunteer_of("idp|late") is None


async def test_a_login_is_bound_to_one_volunteer_and_a_volunteer_to_one_login(
    desk: Desk,
) -> None:
    first = await desk.register("13800138003")
    second = await desk.register("13800138004")
    now = datetime.now(UTC)
    code_first = (await desk.desk.invite(first, lambda _: True, now, ORGANISER)).code
    code_second = (await desk.desk.invite(second, lambda _: True, now, ORGANISER)).code
    assert await desk.claim(code_first, "idp|alice") == first

    taken = await refused(desk.claim(code_second, "idp|alice"))
    assert (type(taken), taken.code) == (ConflictError, "login_already_bound")
    # The refusal used nothing up: another login still claims the second volunteer.
    assert await desk.claim(code_second, "idp|bob") == second
    again = await refused(desk.desk.invite(first, lambda _: True, now, ORGANISER))
    assert (type(again), again.code) == (ConflictError, "volunteer_already_bound")


async def test_a_self_registered_login_speaks_for_its_volunteer_and_can_claim_no_other(
    desk: Desk,
) -> None:
    mine = await desk.register("13800138005", as_login("idp|carol"))
    other = await desk.register("13800138006")
    code = (await desk.desk.invite(other, lambda _: True, datetime.now(UTC), ORGANISER)).code

    assert await desk.registry.own_volunteer_id("idp|carol") == mine
    assert await desk.event_types(mine) == ["volunteer.registered", "volunteer.login_bound"]
    error = await refused(desk.claim(code, "idp|carol"))
    assert error.code == "login_already_bound"


async def test_erasure_unbinds_the_login_and_forgets_the_codes(desk: Desk) -> None:
    volunteer_id = await desk.register("13800138007")
    now = datetime.now(UTC)
    used = (await desk.desk.invite(volunteer_id, lambda _: True, now, ORGANISER)).code
    await desk.claim(used, "idp|dave")

    await desk.registry.erase(volunteer_id, as_login("idp|dave"))

    assert await desk.logins.volunteer_of("idp|dave") is None
    assert (await refused(desk.registry.own_volunteer_id("idp|dave"))).code == "not_registered"
    assert (await refused(desk.claim(used, "idp|eve"))).code == "invitation_not_found"
    assert (await desk.event_types(volunteer_id))[-2:] == [
        "volunteer.login_unbound",
        "volunteer.erased",
    ]
    gone = await refused(desk.desk.invite(volunteer_id, lambda _: True, now, ORGANISER))
    assert (type(gone), gone.code) == (GoneError, "erased")


async def test_outside_the_organisers_scope_a_volunteer_is_not_found(desk: Desk) -> None:
    volunteer_id = await desk.register("13800138008")

    error = await refused(
        desk.desk.invite(volunteer_id, lambda _: False, datetime.now(UTC), ORGANISER)
    )

    assert isinstance(error, NotFoundError)
    assert await desk.event_types(volunteer_id) == ["volunteer.registered"]


async def test_a_login_gets_a_limited_number_of_attempts_per_window(db: Database) -> None:
    attempts = ClaimAttempts(db, limit=3, window_seconds=3600)
    start = datetime(2026, 12, 7, 9, 0, 30, tzinfo=UTC)

    await asyncio.gather(*(attempts.admit("idp|guesser", start) for _ in range(3)))
    with pytest.raises(TooManyClaimAttemptsError) as limited:
        await attempts.admit("idp|guesser", start)
    await attempts.admit("idp|someone-else", start)  # counted per login
    await attempts.admit("idp|guesser", start + timedelta(hours=1))  # a new window

    assert limited.value.retry_after_seconds == 3600 - 30
