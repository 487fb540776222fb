"""Which volunteer a login speaks for: invitations, their claim, and `GET /me`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field, field_validator

from muster_auth.auth import Principal, require_role
from muster_contracts.envelope import Role
from muster_http.idempotency import RetrySafeRoute, never_replayed
from muster_runtime.errors import ErrorAnswer, TooManyRequestsError
from muster_runtime.ports.event_store import CommandContext
from muster_volunteer.application.ports import TooManyClaimAttemptsError
from muster_volunteer.domain.claim_codes import normalise_claim_code
from muster_volunteer.domain.volunteer import Volunteer
from muster_volunteer.entrypoints.dependencies import (
    Areas,
    Logins,
    OwnVolunteer,
    Registry,
    VolunteerLogin,
)
from muster_volunteer.entrypoints.http import VolunteerView, volunteer_view

router = APIRouter(tags=["logins"], route_class=RetrySafeRoute)

Organiser = Annotated[Principal, Depends(require_role(Role.ORGANISER))]


def answers(described: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses: every error status an operation answers, with its codes."""
    common = {
        401: "No valid token (`unauthenticated`; `reason`: missing, invalid, expired, revoked).",
        403: "The token's role may not do this (`forbidden`, `reason`: wrong_role).",
        413: "The body is over the size limit (`payload_too_large`).",
        422: "The request is not valid (`validation_failed`, with `fields`).",
        503: "The store is unavailable; nothing was done (`store_unavailable`); retry.",
    }
    return {s: {"model": ErrorAnswer, "description": d} for s, d in (common | described).items()}


class Invitation(BaseModel):
    volunteer_id: str
    invitation_id: str
    code: str = Field(
        description=(
            "The one-time claim code (16 characters, 80 random bits, e.g. "
            "`7KQ2-M9XD-4HRT-PV3A`): give it to the volunteer, on paper or as a QR code. "
            "It is shown only in this answer; the service keeps a keyed hash of it."
        )
    )
    expires_at: datetime


@router.post(
    "/volunteers/{volunteer_id}/invitations",
    status_code=201,
    response_model=Invitation,
    responses=answers(
        {
            404: "No such volunteer in your area (`not_found`): outside your scope looks "
            "the same as absent.",
            409: "`volunteer_already_bound`: a login speaks for this volunteer already; or "
            "`concurrency_conflict`: the record changed meanwhile, retry.",
            410: "`erased`: the volunteer was erased.",
        }
    ),
)
@never_replayed(
    "its answer holds the claim code, which is shown once and kept nowhere; a retry with "
    "the same key issues a new code, and the new invitation supersedes the first"
)
async def invite_volunteer(
    response: Response, volunteer_id: str, principal: Organiser, desk: Logins, areas: Areas
) -> Invitation:
    """Invite a volunteer you registered (in your area) to claim their record with their
    own login: a one-time code, valid for `MUSTER_INVITATION_VALID_HOURS` (7 days) and
    until a new invitation of the same volunteer supersedes it."""

    def in_scope(volunteer: Volunteer) -> bool:
        assert volunteer.registered is not None
        return principal.covers(volunteer.registered.home_area_id, areas)

    issued = await desk.invite(
        volunteer_id, in_scope, datetime.now(UTC), CommandContext(principal.actor)
    )
    response.headers["Cache-Control"] = "no-store"
    return Invitation(
        volunteer_id=issued.volunteer_id,
        invitation_id=issued.invitation_id,
        code=issued.code,
        expires_at=issued.expires_at,
    )


class ClaimForm(BaseModel):
    code: str = Field(
        min_length=16,
        max_length=40,
        description="The invitation's code; case, spaces and hyphens do not matter.",
    )

    @field_validator("code")
    @classmethod
    def _canonical(cls, value: str) -> str:
        return normalise_claim_code(value)


class Binding(BaseModel):
    volunteer_id: str = Field(description="The volunteer your login now speaks for.")


@router.post(
    "/me/claim",
    response_model=Binding,
    responses=answers(
        {
            404: "`invitation_not_found`: no invitation has this code.",
            409: "`invitation_used`: the code was claimed already; "
            "`login_already_bound`: your login speaks for another volunteer; "
            "`volunteer_already_bound`: another login speaks for this volunteer.",
            410: "`invitation_expired`, `invitation_superseded` (a newer invitation "
            "replaced it) or `erased`.",
            429: "`too_many_claim_attempts`: this login tried too many codes; "
            "`Retry-After` (and `retry_after_seconds`) says when to try again.",
        }
    ),
)
async def claim_invitation(form: ClaimForm, principal: VolunteerLogin, desk: Logins) -> Binding:
    """Claim the volunteer record an organiser invited you to, with your own login (any
    login of the identity provider that speaks for no volunteer yet). Once bound, every
    `/me/...` operation acts for that volunteer. Each login may try
    `MUSTER_CLAIM_ATTEMPTS_PER_HOUR` codes (10) an hour."""
    try:
        volunteer_id = await desk.claim(
            form.code, principal.subject, datetime.now(UTC), CommandContext(principal.actor)
        )
    except TooManyClaimAttemptsError as limited:
        raise TooManyRequestsError(
            "too many claim attempts with this login; try again later",
            code="too_many_claim_attempts",
            retry_after_seconds=limited.retry_after_seconds,
        ) from None
    return Binding(volunteer_id=volunteer_id)


@router.get(
    "/me",
    response_model=VolunteerView,
    responses=answers(
        {
            404: "`not_registered`: your login speaks for no volunteer; register or claim "
            "an invitation.",
            410: "`erased`: your volunteer record was erased.",
        }
    ),
)
async def my_record(me: OwnVolunteer, registry: Registry, areas: Areas) -> VolunteerView:
    """The volunteer record your login speaks for."""
    record = await registry.get(me)
    return volunteer_view(areas, record)
