"""My email address, given with consent to be emailed there, read back, withdrawn."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field

from muster_auth.auth import Principal, require_role
from muster_contracts.envelope import Role
from muster_http.idempotency import RetrySafeRoute
from muster_runtime.eventstore import CommandContext
from muster_volunteer.entrypoints.dependencies import Addresses, Registry
from muster_volunteer.entrypoints.logins_http import answers

router = APIRouter(tags=["email"], route_class=RetrySafeRoute)

OwnLogin = Annotated[Principal, Depends(require_role(Role.VOLUNTEER))]

NOT_MINE = {
    404: "`not_registered`: your login speaks for no volunteer.",
    410: "`erased`: your volunteer record was erased.",
}


class EmailForm(BaseModel):
    email: str = Field(max_length=254, examples=["li.ming@example.com"])
    consent: bool = Field(
        description="Consent to be emailed notifications at this address; required (true)."
    )


class MyEmail(BaseModel):
    email: str | None = Field(description="None: no address (no email is sent).")


@router.put(
    "/me/email",
    response_model=MyEmail,
    responses=answers(
        NOT_MINE
        | {
            409: "The record changed meanwhile (`conflict`); retry.",
            422: "Not an address (`validation_failed`), or no consent (`consent_required`, "
            "field `consent`).",
        }
    ),
)
async def give_my_email(
    form: EmailForm, principal: OwnLogin, addresses: Addresses, registry: Registry
) -> MyEmail:
    """Give or change the address my notifications are emailed to, consenting to it. It is
    sealed with my own key like my name and phone, and never leaves this service."""
    volunteer_id = await registry.own_volunteer_id(principal.subject)
    kept = await addresses.give(
        volunteer_id, form.email, form.consent, CommandContext(principal.actor)
    )
    return MyEmail(email=kept)


@router.get("/me/email", response_model=MyEmail, responses=answers(NOT_MINE))
async def my_email(principal: OwnLogin, addresses: Addresses, registry: Registry) -> MyEmail:
    """The address my notifications are emailed to, if I gave one."""
    volunteer_id = await registry.own_volunteer_id(principal.subject)
    return MyEmail(email=await addresses.read(volunteer_id))


@router.delete(
    "/me/email",
    status_code=204,
    responses=answers(NOT_MINE | {409: "The record changed meanwhile (`conflict`); retry."}),
)
async def withdraw_my_email(
    principal: OwnLogin, addresses: Addresses, registry: Registry
) -> Response:
    """Withdraw my address and consent: no email is sent to me from now on."""
    volunteer_id = await registry.own_volunteer_id(principal.subject)
    await addresses.withdraw(volunteer_id, CommandContext(principal.actor))
    return Response(status_code=204)
