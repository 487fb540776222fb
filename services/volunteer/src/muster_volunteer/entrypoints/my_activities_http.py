"""The volunteer's own activities and teams, for their phone page."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from muster_contracts.areas import AreaTree
from muster_http.idempotency import RetrySafeRoute
from muster_volunteer.application.my_activities import check_in_open
from muster_volunteer.entrypoints.dependencies import (
    Areas,
    Attendance,
    Drives,
    Leaders,
    Mine,
    OwnVolunteer,
    Registry,
)
from muster_volunteer.entrypoints.logins_http import answers

router = APIRouter(tags=["my page"], route_class=RetrySafeRoute)

MAX_ACTIVITIES = 50
MAX_RECENT_DAYS = 90
MAX_TEAMS = 50
OWN_RECORD_ERRORS = {
    404: "`not_registered`: your login speaks for no volunteer (none yet, or erased); "
    "register or claim an invitation.",
}


class MyActivity(BaseModel):
    activity_id: str
    title: str
    starts_at: datetime
    ends_at: datetime
    place_area_id: str
    place: list[str] = Field(description="The place's area names, from the city down.")
    drive_id: str | None
    drive_title: str | None = Field(description="None: no drive, or not known here yet.")
    team_id: str | None
    cancelled: bool
    cancel_reason: str | None
    checked_in_at: datetime | None
    checked_out_at: datetime | None
    check_in_open: bool = Field(
        description="Whether check-in is open now (from the start less the check-in "
        "tolerance to the end); the organiser's QR code gives the rotating code."
    )


class MyActivityLists(BaseModel):
    upcoming: list[MyActivity] = Field(description="Not yet ended, soonest first.")
    recent: list[MyActivity] = Field(description="Ended within `recent_days`, latest first.")


class MyTeam(BaseModel):
    team_id: str
    drive_id: str
    drive_title: str | None = Field(description="None: the drive is not known here yet.")
    leader_id: str
    leader_name: str | None = Field(
        description="The leader's display name (None: erased, or not known here yet)."
    )
    i_lead: bool
    members_count: int


class MyTeams(BaseModel):
    teams: list[MyTeam]


def _place(areas: AreaTree, area_id: str) -> list[str]:
    return [a.name for a in areas.path(area_id)] if area_id in areas else []


@router.get("/me/activities", response_model=MyActivityLists, responses=answers(OWN_RECORD_ERRORS))
async def my_activities(
    me: OwnVolunteer,
    activities: Mine,
    desk: Attendance,
    board: Drives,
    areas: Areas,
    limit: Annotated[
        int, Query(ge=1, le=MAX_ACTIVITIES, description="At most this many of each list.")
    ] = 20,
    recent_days: Annotated[
        int, Query(ge=0, le=MAX_RECENT_DAYS, description="How far back `recent` reaches.")
    ] = 14,
) -> MyActivityLists:
    """The activities I am assigned to: upcoming (not yet ended) and recent, with whether
    I checked in and out and whether check-in is open now. An assignment, amendment or
    cancellation shows within seconds (dispatch's events)."""
    now = datetime.now(UTC)
    upcoming, recent = await activities.of_volunteer(
        me, now, now - timedelta(days=recent_days), limit
    )
    listed = [*upcoming, *recent]
    attendances, drives = await asyncio.gather(
        asyncio.gather(*(desk.attendance_of(str(doc["_id"]), me) for doc in listed)),
        board.drives_by_id({d["drive_id"] for d in listed if d.get("drive_id")}),
    )
    shown: list[MyActivity] = []
    for doc, attendance in zip(listed, attendances, strict=True):
        drive = drives.get(doc.get("drive_id") or "")
        shown.append(
            MyActivity(
                activity_id=str(doc["_id"]),
                title=doc["title"],
                starts_at=doc["starts_at"],
                ends_at=doc["ends_at"],
                place_area_id=doc["place_area_id"],
                place=_place(areas, doc["place_area_id"]),
                drive_id=doc.get("drive_id"),
                drive_title=drive["title"] if drive else None,
                team_id=doc.get("team_id"),
                cancelled=bool(doc.get("cancelled")),
                cancel_reason=doc.get("cancel_reason"),
                checked_in_at=attendance.checked_in.at if attendance.checked_in else None,
                checked_out_at=attendance.checked_out_at,
                check_in_open=check_in_open(doc, now),
            )
        )
    return MyActivityLists(upcoming=shown[: len(upcoming)], recent=shown[len(upcoming) :])


@router.get("/me/teams", response_model=MyTeams, responses=answers(OWN_RECORD_ERRORS))
async def my_teams(
    me: OwnVolunteer, registry: Registry, leaders: Leaders, board: Drives
) -> MyTeams:
    """The teams I am in or lead (at most 50, by drive), with the leader's name (a member
    may read their leader's) and how many members each has."""
    teams = await leaders.teams_of(me, MAX_TEAMS)
    nameable = await leaders.nameable_by(me)
    names = {
        shown.volunteer_id: shown.name
        for shown in await registry.display_names(
            sorted({t.leader_id for t in teams} & nameable), lambda _: True
        )
    }
    drives = await board.drives_by_id({t.drive_id for t in teams})
    return MyTeams(
        teams=[
            MyTeam(
                team_id=t.team_id,
                drive_id=t.drive_id,
                drive_title=drives[t.drive_id]["title"] if t.drive_id in drives else None,
                leader_id=t.leader_id,
                leader_name=names.get(t.leader_id),
                i_lead=t.leader_id == me,
                members_count=len(t.members),
            )
            for t in teams
        ]
    )
