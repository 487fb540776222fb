"""The registration application service on in-memory adapters: register, refuse a
duplicate, answer a retry with the stored record, erase. No broker, no store."""

from __future__ import annotations

import asyncio
import base64
from datetime import datetime

import pytest
from pydantic import BaseModel

from muster_contracts.areas import AreaLevel, load_area_tree
from muster_contracts.envelope import Actor, Role
from muster_contracts.events import SealedPersonalData, VolunteerRegistered
from muster_runtime.adapters.memory.event_store import InMemoryEventStore
from muster_runtime.errors import ConflictError, GoneError
from muster_runtime.ports.event_store import CommandContext
from muster_volunteer.application.ports import (
    InvitationCode,
    LoginTakenError,
    PersonalDataErasedError,
    Sealable,
)
from muster_volunteer.application.registration import UNDO_WITHIN, VolunteerRegistry, stream_id
from muster_volunteer.domain.volunteer import PersonalData, RegisterVolunteer

AREAS = load_area_tree()
BUILDING = AREAS.at_level(AreaLevel.BUILDING)[0].id
ORGANISER = CommandContext(Actor(subject="organiser-1", role=Role.ORGANISER))


class MemorySafe:
    """Sealed data stays readable until the volunteer's key is shredded (no encryption:
    what is tested here is who may read what, not the cipher)."""

    def __init__(self) -> None:
        self.keys: set[str] = set()

    async def seal(self, volunteer_id: str, data: BaseModel) -> SealedPersonalData:
        self.keys.add(volunteer_id)
        text = base64.urlsafe_b64encode(data.model_dump_json().encode()).decode()
        return SealedPersonalData(key_id=volunteer_id, ciphertext=text)

    async def unseal(self, sealed: SealedPersonalData) -> PersonalData:
        return await self.unseal_as(sealed, PersonalData)

    async def unseal_as(self, sealed: SealedPersonalData, model: type[Sealable]) -> Sealable:
        if sealed.key_id not in self.keys:
            raise PersonalDataErasedError(sealed.key_id)
        return model.model_validate_json(base64.urlsafe_b64decode(sealed.ciphertext))

    async def shred(self, volunteer_id: str) -> None:
        self.keys.discard(volunteer_id)


class MemoryClaims:
    def __init__(self) -> None:
        self.holders: dict[str, str] = {}

    async def claim(self, value: str, volunteer_id: str) -> str | None:
        holder = self.holders.setdefault(value, volunteer_id)
        return None if holder == volunteer_id else holder

    async def release(self, value: str, volunteer_id: str) -> None:
        if self.holders.get(value) == volunteer_id:
            del self.holders[value]

    async def take_over(self, value: str, orphan_holder: str, volunteer_id: str) -> bool:
        return False  # no claim here is ever old enough to be an orphan


class MemoryLogins:
    def __init__(self) -> None:
        self.links: dict[str, str] = {}

    async def link(self, subject: str, volunteer_id: str) -> None:
        holder = self.links.setdefault(subject, volunteer_id)
        if holder != volunteer_id:
            raise LoginTakenError(holder)

    async def volunteer_of(self, subject: str) -> str | None:
        return self.links.get(subject)

    async def cached_volunteer_of(self, subject: str) -> str | None:
        return self.links.get(subject)

    async def unlink(self, subject: str, volunteer_id: str) -> None:
        if self.links.get(subject) == volunteer_id:
            del self.links[subject]


class MemoryInvitations:
    def __init__(self) -> None:
        self.codes: dict[str, InvitationCode] = {}

    async def record(self, code: str, volunteer_id: str, invitation_id: str) -> None:
        self.codes[code] = InvitationCode(volunteer_id, invitation_id)

    async def find(self, code: str) -> InvitationCode | None:
        return self.codes.get(code)

    async def forget(self, code: str) -> None:
        self.codes.pop(code, None)

    async def forget_volunteer(self, volunteer_id: str) -> None:
        self.codes = {c: i for c, i in self.codes.items() if i.volunteer_id != volunteer_id}


class Registry:
    """The registry and what it was built on, for the test to look into."""

    def __init__(self) -> None:
        self.store = InMemoryEventStore()
        self.safe = MemorySafe()
        self.phones = MemoryClaims()
        self.id_numbers = MemoryClaims()
        self.logins = MemoryLogins()
        self.service = VolunteerRegistry(
            self.store,
            self.safe,
            self.phones,
            AREAS,
            self.logins,
            self.id_numbers,
            MemoryInvitations(),
        )


def form(phone: str = "13800138000", id_number: str | None = None) -> RegisterVolunteer:
    return RegisterVolunteer.model_validate(
        {
            "name": "王芳",
            "phone": phone,
            "id_number": id_number,
            "home_area_id": BUILDING,
            "categories": ["resident"],
            "skills": ["first_aid"],
        }
    )


@pytest.fixture
def registry() -> Registry:
    return Registry()


async def test_registering_stores_one_event_and_answers_the_record(registry: Registry) -> None:
    record = await registry.service.register("v-1", form(), ORGANISER)

    stream = await registry.store.read_stream(stream_id("v-1"))
    assert [e.type for e in stream.events] == [VolunteerRegistered.event_type]
    assert "王芳" not in stream.events[0].model_dump_json()  # sealed in the event
    assert record.personal.name == "王芳"
    assert record.registered_by == "organiser-1"
    assert isinstance(record.registered_at, datetime)
    assert (await registry.service.get("v-1")).personal.phone == "13800138000"
    assert registry.phones.holders == {"13800138000": "v-1"}


async def test_a_second_volunteer_with_the_same_phone_is_refused_and_claims_nothing(
    registry: Registry,
) -> None:
    await registry.service.register("v-1", form(), ORGANISER)

    with pytest.raises(ConflictError) as refused:
        await registry.service.register("v-2", form(id_number="11010519491231002X"), ORGANISER)

    assert refused.value.code == "duplicate_phone"
    assert registry.id_numbers.holders == {}  # the refused registration's ID number is free
    assert (await registry.store.read_stream(stream_id("v-2"))).version == 0


async def test_a_retried_registration_answers_the_stored_record(registry: Registry) -> None:
    first = await registry.service.register("v-1", form(), ORGANISER)

    again = await registry.service.register("v-1", form(), ORGANISER)

    assert again.registered == first.registered
    assert (await registry.store.read_stream(stream_id("v-1"))).version == 1


async def test_a_volunteer_registering_themself_binds_their_login(registry: Registry) -> None:
    self_service = CommandContext(Actor(subject="login-7", role=Role.VOLUNTEER))

    await registry.service.register("v-1", form(), self_service)

    assert await registry.service.account_of("login-7") == "v-1"
    with pytest.raises(ConflictError) as refused:
        await registry.service.register("v-2", form(phone="13900139000"), self_service)
    assert refused.value.code == "already_registered"
    assert registry.phones.holders == {"13800138000": "v-1"}


async def test_erasure_shreds_the_key_and_frees_the_phone(registry: Registry) -> None:
    await registry.service.register("v-1", form(), ORGANISER)

    await registry.service.erase("v-1", ORGANISER)

    with pytest.raises(GoneError):
        await registry.service.get("v-1")
    assert registry.safe.keys == set()
    assert registry.phones.holders == {}


class UnreachableOnRelease(MemoryClaims):
    """Claims whose store stops answering once the claim is made (the store went away)."""

    async def release(self, value: str, volunteer_id: str) -> None:
        await asyncio.Event().wait()  # never answers


async def test_a_refusal_does_not_wait_on_undoing_claims_the_store_cannot_take(
    registry: Registry,
) -> None:
    registry.id_numbers = UnreachableOnRelease()
    registry.service = VolunteerRegistry(
        registry.store,
        registry.safe,
        registry.phones,
        AREAS,
        registry.logins,
        registry.id_numbers,
        MemoryInvitations(),
    )
    await registry.service.register("v-1", form(), ORGANISER)
    started = asyncio.get_running_loop().time()

    with pytest.raises(ConflictError) as refused:
        await registry.service.register("v-2", form(id_number="11010519491231002X"), ORGANISER)

    assert refused.value.code == "duplicate_phone"
    # The undo is bounded: the refusal comes after UNDO_WITHIN, not never.
    assert asyncio.get_running_loop().time() - started < UNDO_WITHIN + 5
    assert registry.id_numbers.holders == {"11010519491231002X": "v-2"}  # an orphan, left
