"""My email address, given with consent to be emailed there, read back, withdrawn."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from muster_http.idempotency import RetrySafeRoute
from muster_runtime.eventstore import CommandContext
from muster_volunteer.entrypoints.dependencies import (
    Addresses,
    OwnVolunteer,
    VolunteerLogin,
)
from muster_volunteer.entrypoints.logins_http import answers

router = APIRouter(tags=["email"], route_class=RetrySafeRoute)

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
    form: EmailForm, principal: VolunteerLogin, me: OwnVolunteer, addresses: Addresses
) -> MyEmail:
    """Give or change the address my notifications are emailed to, consenting to it. It is
    sealed with my own key like my name and phone, and never leaves this service."""
    kept = await addresses.give(me, form.email, form.consent, CommandContext(principal.actor))
    return MyEmail(email=kept)


@router.get("/me/email", response_model=MyEmail, responses=answers(NOT_MINE))
async def my_email(me: OwnVolunteer, addresses: Addresses) -> MyEmail:
    """The address my notifications are emailed to, if I gave one."""
    return MyEmail(email=await addresses.read(me))


@router.delete(
    "/me/email",
    status_code=204,
    responses=answers(NOT_MINE | {409: "The record changed meanwhile (`conflict`); retry."}),
)
async def withdraw_my_email(
    principal: VolunteerLogin, me: OwnVolunteer, addresses: Addresses
) -> Response:
    """Withdraw my address and consent: no email is sent to me from now on."""
    await addresses.withdraw(me, CommandContext(principal.actor))
    return Response(status_code=204)
