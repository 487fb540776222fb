"""The organiser API for recruitment drives: launch, amend, close, decide, form teams."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Response
from pydantic import AwareDatetime, BaseModel, Field

from muster_auth.auth import Principal, require_role
from muster_contracts.envelope import Role
from muster_contracts.events.drives import Acceptance, Eligibility, ServiceCategory
from muster_contracts.events.drives import Role as DriveRole
from muster_dispatch.application.drives import DriveBook
from muster_dispatch.domain.drive import (
    AcceptWaitlisted,
    AmendDrive,
    ChangeLeader,
    CloseDrive,
    Drive,
    FormTeams,
    LaunchDrive,
    MergeTeams,
    MoveMember,
    SplitTeam,
    accept_waitlisted,
    amend_drive,
    change_leader,
    close_drive,
    form_drive_teams,
    funnel,
    launch_drive,
    merge_teams,
    move_member,
    split_team,
)
from muster_dispatch.entrypoints.dependencies import Drives
from muster_http.idempotency import NewIds, RetrySafeRoute
from muster_runtime.mongo import INT64_MAX
from muster_runtime.ports.event_store import CommandContext

router = APIRouter(prefix="/drives", tags=["recruitment drives"], route_class=RetrySafeRoute)

Organiser = Annotated[Principal, Depends(require_role(Role.ORGANISER))]
Reader = Annotated[Principal, Depends(require_role(Role.ORGANISER, Role.LEADER, Role.ADMIN))]
IfMatch = Annotated[
    int | None,
    Header(alias="If-Match", ge=0, le=INT64_MAX, description="The drive version you read."),
]


class LaunchForm(BaseModel):
    """A drive as the organiser describes it (the organiser is taken from the token)."""

    title: str = Field(min_length=1, max_length=200)
    scope_area_id: str
    category: ServiceCategory
    roles: list[DriveRole] = Field(min_length=1, max_length=50)
    signup_opens_at: AwareDatetime | None = None
    signup_closes_at: AwareDatetime
    activity_starts_at: AwareDatetime
    activity_ends_at: AwareDatetime
    eligibility: Eligibility = Eligibility()
    team_size_min: int = Field(default=5, ge=1)
    team_size_max: int = Field(default=15, ge=1)
    acceptance: Acceptance = Acceptance.AUTOMATIC


class CloseMany(BaseModel):
    drive_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=500
    )
    reason: str = Field(default="organiser", min_length=1, max_length=200)


def drive_view(drive: Drive) -> dict[str, Any]:
    launched = drive.require_launched()
    counts = funnel(drive)
    return {
        "drive_id": drive.drive_id,
        "version": drive.version,
        "title": launched.title,
        "organiser": launched.organiser,
        "scope_area_id": launched.scope_area_id,
        "category": launched.category,
        "roles": [
            {
                **role.model_dump(mode="json"),
                "accepted": len(drive.accepted[role.role_id]),
                "waitlisted": len(drive.waitlist[role.role_id]),
            }
            for role in drive.roles()
        ],
        "signup_opens_at": drive.signup_opens_at,
        "signup_closes_at": drive.signup_closes_at,
        "activity_starts_at": launched.activity_starts_at,
        "activity_ends_at": launched.activity_ends_at,
        "eligibility": launched.eligibility.model_dump(mode="json"),
        "team_size": {"min": drive.team_size_min, "max": drive.team_size_max},
        "closed": drive.closed,
        "funnel": dataclasses.asdict(counts),
        "teams": len(drive.teams),
    }


async def _run(
    book: DriveBook,
    response: Response,
    principal: Principal,
    drive_id: str,
    decide: Any,
    expected: int | None = None,
) -> dict[str, Any]:
    drive = await book.existing(drive_id)
    principal.require_scope(drive.require_launched().scope_area_id, book.areas)
    drive, events = await book.execute(
        drive_id, decide, CommandContext(principal.actor), expected=expected
    )
    response.headers["ETag"] = str(drive.version)
    return drive_view(drive) | {"events": [e.event_type for e in events]}


@router.post("", status_code=201)
async def launch(
    ids: NewIds, response: Response, form: LaunchForm, principal: Organiser, book: Drives
) -> dict[str, Any]:
    """Launch a recruitment drive in the organiser's area."""
    principal.require_scope(form.scope_area_id, book.areas)
    now = datetime.now(UTC)
    command = LaunchDrive.model_validate(
        dict(form)
        | {"organiser": principal.subject, "signup_opens_at": form.signup_opens_at or now}
    )
    drive_id = ids.of("drive").hex[:12]
    drive, _ = await book.execute(
        drive_id,
        lambda d: launch_drive(d, command, book.areas, now),
        CommandContext(principal.actor),
    )
    response.headers["Location"] = f"/drives/{drive_id}"
    response.headers["ETag"] = str(drive.version)
    return drive_view(drive)


@router.get("/{drive_id}")
async def get_drive(
    book: Drives, response: Response, drive_id: str, principal: Reader
) -> dict[str, Any]:
    """The drive, its roles with places taken and the sign-up funnel."""
    drive = await book.existing(drive_id)
    principal.require_scope(drive.require_launched().scope_area_id, book.areas)
    response.headers["ETag"] = str(drive.version)
    return drive_view(drive)


@router.get("/{drive_id}/sign-ups")
async def sign_ups(book: Drives, drive_id: str, principal: Reader) -> dict[str, Any]:
    """Every sign-up with its status and, for the waitlist, its current position."""
    drive = await book.existing(drive_id)
    principal.require_scope(drive.require_launched().scope_area_id, book.areas)
    rows = [
        {
            "sign_up_id": s.sign_up_id,
            "volunteer_id": s.volunteer_id,
            "role_id": s.role_id,
            "status": s.status.value,
            "waitlist_position": drive.waitlist_position(s.sign_up_id),
            "team_id": drive.team_of.get(s.volunteer_id),
            "rule": s.rule,
        }
        for s in sorted(drive.sign_ups.values(), key=lambda s: s.order)
    ]
    return {"drive_id": drive_id, "version": drive.version, "sign_ups": rows}


@router.post("/{drive_id}/amend")
async def amend(
    book: Drives,
    response: Response,
    drive_id: str,
    form: AmendDrive,
    principal: Organiser,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    """Change head-counts, the window or team sizes. Send `If-Match`: a stale version is a 409."""
    now = datetime.now(UTC)
    return await _run(
        book, response, principal, drive_id, lambda d: amend_drive(d, form, now), if_match
    )


@router.post("/{drive_id}/close")
async def close(
    book: Drives,
    response: Response,
    drive_id: str,
    principal: Organiser,
    form: Annotated[CloseDrive | None, Body()] = None,
) -> dict[str, Any]:
    command = form or CloseDrive()
    return await _run(book, response, principal, drive_id, lambda d: close_drive(d, command))


@router.post("/close")
async def close_many(book: Drives, form: CloseMany, principal: Organiser) -> dict[str, Any]:
    """Close several drives; each answer says what happened to that drive."""
    results: dict[str, Any] = {}
    command = CloseDrive(reason=form.reason)
    for drive_id in dict.fromkeys(form.drive_ids):
        try:
            drive = await book.existing(drive_id)
            principal.require_scope(drive.require_launched().scope_area_id, book.areas)
            drive, events = await book.execute(
                drive_id, lambda d: close_drive(d, command), CommandContext(principal.actor)
            )
            results[drive_id] = {"closed": True, "changed": bool(events)}
        except Exception as exc:  # one bad id must not stop the others
            results[drive_id] = {
                "closed": False,
                "error": getattr(exc, "code", "error"),
                "message": str(exc),
            }
    return {"results": results}


@router.post("/{drive_id}/accept")
async def accept(
    book: Drives,
    response: Response,
    drive_id: str,
    form: AcceptWaitlisted,
    principal: Organiser,
) -> dict[str, Any]:
    """Accept a list of waitlisted sign-ups (within the roles' head-counts)."""
    return await _run(book, response, principal, drive_id, lambda d: accept_waitlisted(d, form))


@router.post("/{drive_id}/teams")
async def form_teams(
    book: Drives,
    response: Response,
    drive_id: str,
    principal: Organiser,
    form: Annotated[FormTeams | None, Body()] = None,
) -> dict[str, Any]:
    """Form teams from the accepted sign-ups (nearby members, a leader each, skills covered)."""
    command = form or FormTeams()
    return await _run(book, response, principal, drive_id, lambda d: form_drive_teams(d, command))


@router.get("/{drive_id}/teams")
async def teams(book: Drives, drive_id: str, principal: Reader) -> dict[str, Any]:
    drive = await book.existing(drive_id)
    principal.require_scope(drive.require_launched().scope_area_id, book.areas)
    return {
        "drive_id": drive_id,
        "version": drive.version,
        "teams": [
            {
                "team_id": t.team_id,
                "leader_id": t.leader_id,
                "members": t.members,
                "grid_id": t.grid_id,
                "community_id": t.community_id,
            }
            for t in drive.teams.values()
        ],
    }


@router.post("/{drive_id}/teams/move")
async def move(
    book: Drives, response: Response, drive_id: str, form: MoveMember, principal: Organiser
) -> dict[str, Any]:
    return await _run(book, response, principal, drive_id, lambda d: move_member(d, form))


@router.post("/{drive_id}/teams/leader")
async def leader(
    book: Drives, response: Response, drive_id: str, form: ChangeLeader, principal: Organiser
) -> dict[str, Any]:
    return await _run(book, response, principal, drive_id, lambda d: change_leader(d, form))


@router.post("/{drive_id}/teams/split")
async def split(
    book: Drives, response: Response, drive_id: str, form: SplitTeam, principal: Organiser
) -> dict[str, Any]:
    return await _run(book, response, principal, drive_id, lambda d: split_team(d, form))


@router.post("/{drive_id}/teams/merge")
async def merge(
    book: Drives, response: Response, drive_id: str, form: MergeTeams, principal: Organiser
) -> dict[str, Any]:
    return await _run(book, response, principal, drive_id, lambda d: merge_teams(d, form))
