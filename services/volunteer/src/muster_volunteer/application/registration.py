"""Registering volunteers and reading their records."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from muster_contracts.areas import AreaTree
from muster_contracts.envelope import Role
from muster_contracts.events import VOLUNTEER_STREAM, VolunteerLoginBound, VolunteerRegistered
from muster_contracts.events.registry import decode_payload
from muster_runtime.errors import ConflictError, GoneError, NotFoundError, RuleViolationError
from muster_runtime.ports.event_store import CommandContext, ConcurrencyError, EventStore, Stream
from muster_runtime.tracing import traced_command
from muster_volunteer.application.ports import (
    IdentityClaimRegister,
    InvitationRegister,
    LoginRegister,
    LoginTakenError,
    PersonalDataErasedError,
    PersonalDataSafe,
)
from muster_volunteer.domain.volunteer import (
    PersonalData,
    RegisterVolunteer,
    Volunteer,
    VolunteerId,
    VolunteerRuleError,
    erase,
    evolve,
    register,
)


def stream_id(volunteer_id: str) -> str:
    return f"volunteer-{volunteer_id}"


@dataclass(frozen=True)
class VolunteerRecord:
    volunteer: Volunteer
    registered: VolunteerRegistered
    personal: PersonalData
    registered_by: str
    registered_at: datetime


class DisplayName(BaseModel):
    """How another service may show a volunteer: a name, or why there is none."""

    volunteer_id: str
    status: Literal["active", "erased", "unknown"]
    name: str | None = None


NAME_LOOKUP_CONCURRENCY = 16
# The longest a refused registration waits to undo its claims (seconds).
UNDO_WITHIN = 1.0


class VolunteerRegistry:
    def __init__(
        self,
        store: EventStore,
        vault: PersonalDataSafe,
        phones: IdentityClaimRegister,
        areas: AreaTree,
        logins: LoginRegister,
        id_numbers: IdentityClaimRegister,
        invitation_codes: InvitationRegister,
    ) -> None:
        self._id_numbers = id_numbers
        self.logins = logins
        self._invitation_codes = invitation_codes
        self._store = store
        self._vault = vault
        self._phones = phones
        self._areas = areas

    @traced_command("register_volunteer")
    async def register(
        self, volunteer_id: str, command: RegisterVolunteer, context: CommandContext
    ) -> VolunteerRecord:
        """Register, or return the record a retry of the same request already stored.

        A volunteer registering themself binds their login (the token's subject) to the
        record (`volunteer.login_bound`): one login, one volunteer. A registration refused
        by a rule or a duplicate leaves the login, the phone and the ID number free for the
        next try.
        """
        state = Volunteer(volunteer_id)
        sealed = await self._vault.seal(volunteer_id, command.personal())
        subject = context.actor.subject if context.actor.role is Role.VOLUNTEER else None
        try:
            events = register(state, command, sealed, self._areas, login=subject)
        except VolunteerRuleError as exc:
            raise RuleViolationError(str(exc), field=exc.field, rule=exc.rule) from None
        await self._claim_all(command, volunteer_id, subject)
        # A new stream: append straight away; only a retry of the same request collides.
        try:
            envelopes = await self._store.append_after(
                Stream(stream_id(volunteer_id), 0, []), VOLUNTEER_STREAM, events, context
            )
        except ConcurrencyError:
            return await self.get(volunteer_id)
        for event in events:
            state = evolve(state, event)
        assert state.registered is not None
        return VolunteerRecord(
            volunteer=state,
            registered=state.registered,
            personal=command.personal(),
            registered_by=context.actor.subject,
            registered_at=envelopes[0].recorded_at,
        )

    async def _claim_all(
        self, command: RegisterVolunteer, volunteer_id: str, subject: str | None
    ) -> None:
        """The login link (a volunteer registering themself), the phone and the ID number,
        claimed together; if one is refused, none is kept, and the first refusal in that
        order is the answer (a login bound already, then the phone)."""
        claims = [] if subject is None else [self._link_account(subject, volunteer_id)]
        claims.append(
            self._claim(self._phones, command.phone, volunteer_id, "phone", "phone number")
        )
        if command.id_number is not None:
            claims.append(
                self._claim(
                    self._id_numbers, command.id_number, volunteer_id, "id_number", "ID number"
                )
            )
        outcomes = await asyncio.gather(*claims, return_exceptions=True)
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if not failures:
            return
        # A release or unlink removes only what this volunteer holds: safe for the refused.
        # Best effort and bounded: the answer is the refusal; a claim left behind by a store
        # that cannot take the release now is an orphan, taken over after ORPHAN_CLAIM_AGE.
        undo = [self._phones.release(command.phone, volunteer_id)]
        if command.id_number is not None:
            undo.append(self._id_numbers.release(command.id_number, volunteer_id))
        if subject is not None:
            undo.append(self.logins.unlink(subject, volunteer_id))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*undo, return_exceptions=True), UNDO_WITHIN)
        raise next((f for f in failures if isinstance(f, ConflictError)), failures[0])

    async def _claim(
        self, claims: IdentityClaimRegister, value: str, volunteer_id: str, field: str, what: str
    ) -> None:
        """One person, one record: refuse a value another registered volunteer holds."""
        holder = await claims.claim(value, volunteer_id)
        if holder is None:
            return
        holder_state = await self.load(holder)
        if holder_state.exists or not await claims.take_over(value, holder, volunteer_id):
            raise ConflictError(
                f"a volunteer with this {what} is already registered",
                code=f"duplicate_{field}",
                field=field,
            )

    async def _link_account(self, subject: str, volunteer_id: str) -> None:
        try:
            await self.logins.link(subject, volunteer_id)
        except LoginTakenError:
            raise ConflictError(
                "this login speaks for a volunteer already", code="already_registered"
            ) from None

    async def account_of(self, subject: str) -> str | None:
        """The volunteer this login speaks for, if any."""
        return await self.logins.volunteer_of(subject)

    async def own_volunteer_id(self, subject: str) -> VolunteerId:
        """The volunteer this login speaks for; a clear 404 if none.

        Kept in memory for a short while once found (every volunteer request asks)."""
        volunteer_id = await self.logins.cached_volunteer_of(subject)
        if volunteer_id is None:
            raise NotFoundError(
                "this login speaks for no volunteer: register (POST /volunteers), or claim "
                "the invitation an organiser gave you (POST /me/claim)",
                code="not_registered",
            )
        return VolunteerId(volunteer_id)

    async def profile(self, volunteer_id: str) -> VolunteerRegistered:
        """What drives and rules need to know: the registration, personal data left sealed."""
        state = await self.load(volunteer_id)
        if state.registered is None:
            raise NotFoundError(f"no volunteer {volunteer_id}")
        if state.erased:
            raise GoneError(f"volunteer {volunteer_id} was erased", code="erased")
        return state.registered

    @traced_command("erase_volunteer")
    async def erase(self, volunteer_id: str, context: CommandContext) -> None:
        """Erase a volunteer's personal data by destroying their key (crypto-shredding).

        The event is stored first; a retry after a crash finishes the shredding.
        """
        stream = await self._store.read_stream(stream_id(volunteer_id))
        state = fold(volunteer_id, stream)
        try:
            events = erase(state, context.actor.role.value)
        except VolunteerRuleError as exc:
            raise NotFoundError(str(exc)) from None
        if events:
            await self._store.append_after(stream, VOLUNTEER_STREAM, events, context)
        assert state.registered is not None
        with contextlib.suppress(PersonalDataErasedError):
            personal = await self._vault.unseal(state.registered.personal)
            await self._phones.release(personal.phone, volunteer_id)
            if personal.id_number is not None:
                await self._id_numbers.release(personal.id_number, volunteer_id)
        await self._vault.shred(volunteer_id)
        await self._invitation_codes.forget_volunteer(volunteer_id)
        for subject in logins_ever(stream):
            await self.logins.unlink(subject, volunteer_id)

    async def display_names(
        self, volunteer_ids: list[str], in_scope: Callable[[str], bool]
    ) -> list[DisplayName]:
        """Names of the volunteers whose home area is `in_scope`; the rest are `unknown`."""
        slots = asyncio.Semaphore(NAME_LOOKUP_CONCURRENCY)

        async def one(volunteer_id: str) -> DisplayName:
            async with slots:
                state = await self.load(volunteer_id)
                if state.registered is None or not in_scope(state.registered.home_area_id):
                    return DisplayName(volunteer_id=volunteer_id, status="unknown")
                if state.erased:
                    return DisplayName(volunteer_id=volunteer_id, status="erased")
                try:
                    personal = await self._vault.unseal(state.registered.personal)
                except PersonalDataErasedError:  # erasure under way: the key is gone already
                    return DisplayName(volunteer_id=volunteer_id, status="erased")
                return DisplayName(volunteer_id=volunteer_id, status="active", name=personal.name)

        return list(await asyncio.gather(*(one(v) for v in volunteer_ids)))

    async def load(self, volunteer_id: str) -> Volunteer:
        return fold(volunteer_id, await self._store.read_stream(stream_id(volunteer_id)))

    async def get(self, volunteer_id: str) -> VolunteerRecord:
        stream = await self._store.read_stream(stream_id(volunteer_id))
        state = fold(volunteer_id, stream)
        if state.registered is None:
            raise NotFoundError(f"no volunteer {volunteer_id}")
        if state.erased:
            raise GoneError(f"volunteer {volunteer_id} was erased", code="erased")
        first = stream.events[0]
        return VolunteerRecord(
            volunteer=state,
            registered=state.registered,
            personal=await self._vault.unseal(state.registered.personal),
            registered_by=first.actor.subject,
            registered_at=first.recorded_at,
        )


def logins_ever(stream: Stream) -> set[str]:
    """Every login that was bound to the volunteer: the ones erasure must unlink."""
    subjects = {
        str(e.payload["subject"]) for e in stream.events if e.type == VolunteerLoginBound.event_type
    }
    if stream.events and stream.events[0].actor.role is Role.VOLUNTEER:
        subjects.add(stream.events[0].actor.subject)  # registered before logins were events
    return subjects


def fold(volunteer_id: str, stream: Stream) -> Volunteer:
    state = Volunteer(volunteer_id)
    for envelope in stream.events:
        event = decode_payload(envelope.type, envelope.schema_version, envelope.payload)
        state = evolve(state, event)
        if (
            isinstance(event, VolunteerRegistered)
            and envelope.actor.role is Role.VOLUNTEER
            and state.login is None
        ):
            # Registered by the volunteer before bindings were events: the registering
            # login speaks for them (their `volunteer.login_bound` follows it today).
            state = replace(state, login=envelope.actor.subject)
    return state
