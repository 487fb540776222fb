"""The volunteer API: register and read volunteer records."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from muster_auth.auth import Principal, require_role
from muster_contracts.areas import AreaTree
from muster_contracts.envelope import Role
from muster_contracts.events import Skill, VolunteerCategory
from muster_http.idempotency import NewIds, RetrySafeRoute, replays_by
from muster_runtime.errors import NotFoundError, RuleViolationError
from muster_runtime.ports.event_store import CommandContext
from muster_volunteer.application.registration import (
    DisplayName,
    VolunteerRecord,
)
from muster_volunteer.domain.volunteer import RegisterVolunteer
from muster_volunteer.entrypoints.dependencies import (
    AnyLogin,
    Areas,
    Leaders,
    OwnVolunteerIfAny,
    Registry,
    acts_as,
    desks_of,
)

router = APIRouter(prefix="/volunteers", tags=["volunteers"], route_class=RetrySafeRoute)

Registrant = Annotated[Principal, Depends(require_role(Role.VOLUNTEER, Role.ORGANISER))]
Eraser = Annotated[Principal, Depends(require_role(Role.VOLUNTEER, Role.ADMIN))]
MAX_NAMES = 200


class VolunteerView(BaseModel):
    volunteer_id: str
    name: str
    phone: str
    home_area_id: str
    home_area: list[str]
    categories: list[VolunteerCategory]
    skills: list[Skill]
    birth_year: int | None
    employer_unit: str | None
    registered_at: datetime
    version: int
    has_login: bool = Field(
        description="Whether a login speaks for this volunteer (else an organiser may invite them)."
    )


def volunteer_view(areas: AreaTree, record: VolunteerRecord) -> VolunteerView:
    event = record.registered
    return VolunteerView(
        volunteer_id=event.volunteer_id,
        name=record.personal.name,
        phone=record.personal.phone,
        home_area_id=event.home_area_id,
        home_area=[a.name for a in areas.path(event.home_area_id)],
        categories=list(event.categories),
        skills=list(event.skills),
        birth_year=event.birth_year,
        # Sealed since it left the event; registrations from before carry it in clear.
        employer_unit=record.personal.employer_unit or event.employer_unit,
        registered_at=record.registered_at,
        version=record.volunteer.version,
        has_login=record.volunteer.login is not None,
    )


async def _registered_again(request: Request, kept: Any) -> Any:
    desks = await desks_of(request)
    record = await desks.registry.get(kept["volunteer_id"])
    return volunteer_view(desks.areas, record).model_dump(mode="json")


@router.post("", status_code=201, response_model=VolunteerView)
# Only the id is kept with the key: no personal data at rest in clear, none left by erasure.
@replays_by(keep=lambda body: {"volunteer_id": body["volunteer_id"]}, restore=_registered_again)
async def register_volunteer(
    ids: NewIds,
    response: Response,
    form: RegisterVolunteer,
    principal: Registrant,
    registry: Registry,
    areas: Areas,
) -> Any:
    """Register a volunteer. Send an `Idempotency-Key`: a retry returns the first answer."""
    if form.home_area_id not in areas:
        raise RuleViolationError(
            f"unknown area {form.home_area_id}", field="home_area_id", rule="known_area"
        )
    if principal.role is not Role.VOLUNTEER:
        principal.require_scope(form.home_area_id, areas)
    volunteer_id = str(ids.of("volunteer"))
    record = await registry.register(volunteer_id, form, CommandContext(principal.actor))
    response.headers["Location"] = f"/volunteers/{volunteer_id}"
    return volunteer_view(areas, record)


class DisplayNames(BaseModel):
    volunteers: list[DisplayName]


@router.get("/names", response_model=DisplayNames)
async def display_names(
    principal: AnyLogin,
    me: OwnVolunteerIfAny,
    registry: Registry,
    areas: Areas,
    leaders: Leaders,
    ids: Annotated[
        str,
        Query(
            min_length=1,
            max_length=MAX_NAMES * 65,
            pattern=r"^[A-Za-z0-9_-]{1,64}(,[A-Za-z0-9_-]{1,64})*$",
            description=f"Volunteer ids, comma-separated (at most {MAX_NAMES}).",
        ),
    ],
) -> DisplayNames:
    """Display names for other services' pages (a leaderboard, a roster, a message naming
    a team's leader), in the order asked.

    An organiser, leader or admin is told the names of volunteers whose home is inside
    their scope; a volunteer their own name and those of the leaders of the teams they
    were put in (notify shows them in team messages, asking with the volunteer's token).
    Others answer `unknown` exactly like ids that do not exist, and erased volunteers
    `erased`, with no name.
    """
    wanted = list(dict.fromkeys(ids.split(",")))
    if len(wanted) > MAX_NAMES:
        raise RuleViolationError(
            f"at most {MAX_NAMES} ids per request", field="ids", rule="max_items"
        )
    if me is None:
        names = await registry.display_names(wanted, lambda area: principal.covers(area, areas))
        return DisplayNames(volunteers=names)
    nameable = await leaders.nameable_by(me)
    told = {
        shown.volunteer_id: shown
        for shown in await registry.display_names(
            [v for v in wanted if v in nameable], lambda _: True
        )
    }
    return DisplayNames(
        volunteers=[told.get(v) or DisplayName(volunteer_id=v, status="unknown") for v in wanted]
    )


@router.get("/{volunteer_id}", response_model=VolunteerView)
async def get_volunteer(
    volunteer_id: str, principal: AnyLogin, registry: Registry, areas: Areas
) -> VolunteerView:
    """A volunteer's record: their own, or any in an organiser's or leader's area."""
    record = await registry.get(volunteer_id)
    allowed = (
        await acts_as(principal, volunteer_id, registry)
        if principal.role is Role.VOLUNTEER
        else principal.covers(record.registered.home_area_id, areas)
    )
    if not allowed:
        # Not 403: whether a volunteer exists outside your scope is itself personal data.
        raise NotFoundError(f"no volunteer {volunteer_id}")
    return volunteer_view(areas, record)


@router.delete("/{volunteer_id}", status_code=204)
async def erase_volunteer(volunteer_id: str, principal: Eraser, registry: Registry) -> Response:
    """Erase my personal data (or, for an admin, anyone's): crypto-shredding. Hours stay."""
    if principal.role is not Role.ADMIN and not await acts_as(principal, volunteer_id, registry):
        raise NotFoundError(f"no volunteer {volunteer_id}")
    await registry.erase(volunteer_id, CommandContext(principal.actor))
    return Response(status_code=204)
