"""Binding a login to a volunteer an organiser registered: invitations and their claims.

An organiser invites a registered volunteer who has no login; the answer carries a one-time
code, stored only as a keyed hash. The volunteer, signed in with any login of the identity
provider that speaks for nobody yet, claims the record with that code; the binding is
published as `volunteer.login_bound` on the volunteer's stream, whose version makes a code
good for exactly one claim.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import uuid4

from muster_contracts.events import VOLUNTEER_STREAM
from muster_runtime.errors import (
    ConflictError,
    GoneError,
    MusterError,
    NotFoundError,
)
from muster_runtime.ports.event_store import CommandContext, ConcurrencyError, EventStore
from muster_runtime.tracing import traced_command
from muster_volunteer.application.ports import (
    ClaimAttemptLimit,
    InvitationRegister,
    LoginRegister,
    LoginTakenError,
)
from muster_volunteer.application.registration import fold, stream_id
from muster_volunteer.domain.claim_codes import new_claim_code
from muster_volunteer.domain.volunteer import (
    LoginRefusal,
    LoginRefusedError,
    Volunteer,
    VolunteerRuleError,
    claim,
    invite,
)

# A claim that lost a race re-reads the stream and decides again, at most this often.
CLAIM_ROUNDS = 3

_GONE = {
    LoginRefusal.ERASED,
    LoginRefusal.INVITATION_EXPIRED,
    LoginRefusal.INVITATION_SUPERSEDED,
}


def refusal_error(refused: LoginRefusedError) -> MusterError:
    """409 for a binding that exists (or a code used), 410 for what is no more."""
    kind = GoneError if refused.refusal in _GONE else ConflictError
    return kind(str(refused), code=refused.refusal.value)


@dataclass(frozen=True)
class IssuedInvitation:
    volunteer_id: str
    invitation_id: str
    code: str
    expires_at: datetime


class LoginDesk:
    """Issues invitations and binds the logins that claim them."""

    def __init__(
        self,
        store: EventStore,
        logins: LoginRegister,
        codes: InvitationRegister,
        attempts: ClaimAttemptLimit,
        invitation_lifetime: timedelta,
    ) -> None:
        self._store = store
        self._logins = logins
        self._codes = codes
        self._attempts = attempts
        self._lifetime = invitation_lifetime

    @traced_command("invite_volunteer")
    async def invite(
        self,
        volunteer_id: str,
        may_invite: Callable[[Volunteer], bool],
        now: datetime,
        context: CommandContext,
    ) -> IssuedInvitation:
        """Invite the volunteer to claim their record; the code is in the answer only.

        Args:
            may_invite: whether the caller may invite this volunteer (their home in the
                organiser's scope); if not, the volunteer is not found, as if absent.
        """
        stream = await self._store.read_stream(stream_id(volunteer_id))
        state = fold(volunteer_id, stream)
        if not state.exists or not may_invite(state):
            raise NotFoundError(f"no volunteer {volunteer_id}")
        invitation_id = uuid4().hex
        expires_at = now + self._lifetime
        try:
            events = invite(state, invitation_id, expires_at)
        except LoginRefusedError as refused:
            raise refusal_error(refused) from None
        code = new_claim_code()
        # Recorded first: a code whose invitation was never appended is refused as
        # superseded, and it was never handed to anyone.
        await self._codes.record(code, volunteer_id, invitation_id)
        try:
            await self._store.append_after(stream, VOLUNTEER_STREAM, events, context)
        except BaseException:
            await self._codes.forget(code)
            raise
        return IssuedInvitation(volunteer_id, invitation_id, code, expires_at)

    @traced_command("claim_invitation")
    async def claim(self, code: str, subject: str, now: datetime, context: CommandContext) -> str:
        """Bind the login `subject` to the volunteer the code was issued for; returns the id.

        Raises:
            TooManyClaimAttemptsError: the login used up its attempts for now.
            MusterError: 404 `invitation_not_found`; 409 `invitation_used`,
                `login_already_bound`, `volunteer_already_bound`; 410
                `invitation_expired`, `invitation_superseded`, `erased`.
        """
        await self._attempts.admit(subject, now)
        found = await self._codes.find(code)
        if found is None:
            raise NotFoundError(
                "no invitation has this code; check it, or ask the organiser for a new one",
                code="invitation_not_found",
                field="code",
            )
        volunteer_id = found.volunteer_id
        linked = bound = False
        try:
            for _ in range(CLAIM_ROUNDS):
                stream = await self._store.read_stream(stream_id(volunteer_id))
                state = fold(volunteer_id, stream)
                speaks_for = await self._logins.volunteer_of(subject)
                if speaks_for == volunteer_id and state.login != subject:
                    speaks_for = None  # our own link, left by a claim that did not append
                events = claim(state, found.invitation_id, subject, now, speaks_for)
                try:
                    await self._logins.link(subject, volunteer_id)
                except LoginTakenError:
                    raise LoginRefusedError(
                        LoginRefusal.LOGIN_ALREADY_BOUND,
                        "your login speaks for another volunteer already",
                    ) from None
                linked = True
                try:
                    await self._store.append_after(stream, VOLUNTEER_STREAM, events, context)
                except ConcurrencyError:
                    continue  # decide again on what the stream holds now
                bound = True
                return volunteer_id
            raise ConflictError(
                "the volunteer's record kept changing; try again", code="concurrency_conflict"
            )
        except LoginRefusedError as refused:
            raise refusal_error(refused) from None
        except VolunteerRuleError as exc:  # the code's volunteer has no registration
            raise NotFoundError(str(exc), code="invitation_not_found", field="code") from None
        finally:
            if linked and not bound:
                await self._undo_link(subject, volunteer_id)

    async def _undo_link(self, subject: str, volunteer_id: str) -> None:
        """Remove the link a failed claim made, unless the stream binds the login after all
        (a twin request of the same login won, or an append stored but unacknowledged)."""
        stream = await self._store.read_stream(stream_id(volunteer_id))
        if fold(volunteer_id, stream).login != subject:
            await self._logins.unlink(subject, volunteer_id)
