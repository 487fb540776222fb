"""The volunteer's API for drives: what fits me, sign up, withdraw, my sign-ups."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from muster_contracts.events import VolunteerRegistered
from muster_http.idempotency import NewIds, RetrySafeRoute
from muster_runtime.errors import NotFoundError
from muster_runtime.mongo import Document
from muster_runtime.ports.event_store import CommandContext
from muster_volunteer.entrypoints.dependencies import (
    Drives,
    OwnVolunteer,
    Registry,
    SignUps,
    VolunteerLogin,
)

router = APIRouter(tags=["sign-ups"], route_class=RetrySafeRoute)


class SignUpForm(BaseModel):
    role_id: str = Field(min_length=1, max_length=40)


class WithdrawForm(BaseModel):
    reason: str | None = Field(default=None, max_length=200)


async def _me(me: OwnVolunteer, registry: Registry) -> VolunteerRegistered:
    """The caller's own volunteer profile."""
    return await registry.profile(me)


Me = Annotated[VolunteerRegistered, Depends(_me)]


def _sign_up_view(doc: Document) -> dict[str, Any]:
    view = {k: v for k, v in doc.items() if k not in ("_id", "_v")}
    return {"sign_up_id": doc["_id"], **view}


@router.get("/drives")
async def open_drives(me: Me, board: Drives) -> dict[str, Any]:
    """Open drives that fit me: my home in their scope, my skills, their eligibility rules."""
    return {"drives": await board.open_drives_for(me, datetime.now(UTC))}


@router.post("/drives/{drive_id}/sign-ups", status_code=202)
async def sign_up(
    ids: NewIds,
    drive_id: str,
    form: SignUpForm,
    principal: VolunteerLogin,
    me: Me,
    desk: SignUps,
) -> dict[str, Any]:
    """Sign up for a role. Accepted for decision (202): the status follows within a second."""
    sign_up_id = ids.of("sign-up").hex
    doc = await desk.submit(sign_up_id, me, drive_id, form.role_id, CommandContext(principal.actor))
    return _sign_up_view(doc)


@router.get("/me/sign-ups")
async def my_sign_ups(me: Me, desk: SignUps) -> dict[str, Any]:
    return {"sign_ups": [_sign_up_view(d) for d in await desk.of_volunteer(me.volunteer_id)]}


@router.get("/sign-ups/{sign_up_id}")
async def get_sign_up(sign_up_id: str, me: Me, desk: SignUps) -> dict[str, Any]:
    doc = await desk.get(sign_up_id)
    if doc["volunteer_id"] != me.volunteer_id:
        raise NotFoundError(f"no sign-up {sign_up_id}")
    return _sign_up_view(doc)


@router.post("/sign-ups/{sign_up_id}/withdraw", status_code=202)
async def withdraw(
    sign_up_id: str,
    principal: VolunteerLogin,
    me: Me,
    desk: SignUps,
    form: WithdrawForm | None = None,
) -> dict[str, Any]:
    """Withdraw; the place goes to the first on the waitlist."""
    reason = form.reason if form else None
    doc = await desk.withdraw(sign_up_id, me.volunteer_id, reason, CommandContext(principal.actor))
    return _sign_up_view(doc)
