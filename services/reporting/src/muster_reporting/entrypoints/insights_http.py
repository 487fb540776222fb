"""Leaderboards for leadership: volunteers and teams by approved hours, star-rated volunteers."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from muster_reporting.domain.periods import cell_id
from muster_reporting.entrypoints.dependencies import Areas, Heavy, InsightsOf, Names
from muster_reporting.entrypoints.exports import EXPORTED_ANSWERS, Exported, Format, table
from muster_reporting.entrypoints.http import (
    AnsweredAsOf,
    AreaQuery,
    AsOf,
    Period,
    Reader,
    readable_area,
    valid_period,
)
from muster_runtime.errors import RuleViolationError
from muster_runtime.volunteer_names import NamesUnavailableError, VolunteerNames

router = APIRouter(prefix="/reports", tags=["reports"])

Limit = Annotated[int, Query(ge=1, le=100, description="How many rows, at most.")]


def area_and_period(
    principal: Reader, areas: Areas, area_id: AreaQuery = None, period: Period = None
) -> tuple[str, str | None]:
    """The readable area asked for and a period that exists."""
    return readable_area(areas, principal, area_id), valid_period(period)


Where = Annotated[tuple[str, str | None], Depends(area_and_period)]
NAME = (
    "The volunteer's name from the volunteer service, asked with the caller's token: null "
    "unless `name_status` is `active`."
)
NAME_STATUS = (
    "`active`: named; `erased`: the volunteer erased their personal data; `unknown`: their "
    "home is outside the caller's scope; `unavailable`: the volunteer service did not answer."
)
NameStatus = Literal["active", "erased", "unknown", "unavailable"]
log = logging.getLogger(__name__)


class NamedVolunteer(BaseModel):
    volunteer_id: str
    name: str | None = Field(default=None, description=NAME)
    name_status: NameStatus = Field(default="unavailable", description=NAME_STATUS)


Named = TypeVar("Named", bound=NamedVolunteer)


class RankedVolunteer(NamedVolunteer):
    rank: int
    hours: float
    turnouts: int


class TopVolunteers(BaseModel):
    area_id: str
    period: str | None
    volunteers: list[RankedVolunteer]


@router.get("/top-volunteers", response_model=TopVolunteers, responses=EXPORTED_ANSWERS)
async def top_volunteers(
    heavy: Heavy,
    request: Request,
    where: Where,
    insights: InsightsOf,
    names: Names,
    limit: Limit = 10,
    as_of: AsOf = None,
    format: Format = "json",
) -> TopVolunteers | Response:
    """Volunteers with the most approved hours served in an area (where the activities
    took place) and period; ties by volunteer id. Corrections included. From the cell's
    leaderboard: one read, whatever the log's size. Current figures only: `as_of` is
    refused (422 `as_of_unsupported`)."""
    _no_as_of(as_of)
    area_id, period = where
    with heavy.admit(format != "json"):
        board = await insights.service.leaderboards.board(cell_id(area_id, period))
        rows = [
            RankedVolunteer(
                rank=rank,
                volunteer_id=entry.volunteer_id,
                hours=entry.minutes / 60,
                turnouts=entry.turnouts,
            )
            for rank, entry in enumerate(board.entries[:limit], start=1)
        ]
        named = await _named(request, names, rows)
        report = TopVolunteers(area_id=area_id, period=period, volunteers=named)
        if format != "json":
            return await _export(
                format, "top-volunteers", area_id, period, report.volunteers, RankedVolunteer
            )
    return report


async def _named(request: Request, directory: VolunteerNames, rows: list[Named]) -> list[Named]:
    """Rows with names, as the volunteer service shows them to this caller (its scope)."""
    try:
        names = await directory.names(
            [r.volunteer_id for r in rows], request.headers.get("authorization", "")
        )
    except NamesUnavailableError as exc:
        # The figures stand on their own: the leaderboard still answers, without names.
        log.warning("display names unavailable", extra={"error": str(exc)})
        return rows
    return [
        row.model_copy(update={"name": found.name, "name_status": found.status})
        if (found := names.get(row.volunteer_id))
        else row
        for row in rows
    ]


class RankedTeam(BaseModel):
    rank: int
    team_id: str
    hours: float
    turnouts: int
    activities: int


class TopTeams(BaseModel):
    area_id: str
    period: str | None
    teams: list[RankedTeam]
    as_of: AnsweredAsOf = None


@router.get("/top-teams", response_model=TopTeams, responses=EXPORTED_ANSWERS)
async def top_teams(
    heavy: Heavy,
    where: Where,
    insights: InsightsOf,
    limit: Limit = 10,
    as_of: AsOf = None,
    format: Format = "json",
) -> TopTeams | Response:
    """Teams with the most approved hours in an area and period (ties by team id), from
    the area's one cell. With `as_of`, as recorded by the start of that instant's minute."""
    area_id, period = where
    with heavy.admit(format != "json" or as_of is not None):
        cell = await insights.service.cell(area_id, period, as_of)
        teams = sorted(
            ((team_id, figures) for team_id, figures in cell.get("teams", {}).items()),
            key=lambda item: (-int(item[1].get("minutes", 0)), item[0]),
        )
        ranked = [
            RankedTeam(
                rank=rank,
                team_id=team_id,
                hours=int(figures.get("minutes", 0)) / 60,
                turnouts=int(figures.get("turnouts", 0)),
                activities=int(figures.get("activities", 0)),
            )
            for rank, (team_id, figures) in enumerate(
                (t for t in teams if t[1].get("minutes", 0) > 0), start=1
            )
        ]
        if format != "json":
            return await _export(format, "top-teams", area_id, period, ranked[:limit], RankedTeam)
    return TopTeams(area_id=area_id, period=period, teams=ranked[:limit], as_of=as_of)


class StarVolunteer(NamedVolunteer):
    hours: float
    stars: int


class StarRated(BaseModel):
    area_id: str
    thresholds_hours: list[int]
    by_stars: dict[int, int] = Field(description="How many volunteers hold exactly n stars.")
    volunteers: list[StarVolunteer]


@router.get("/stars", response_model=StarRated, responses=EXPORTED_ANSWERS)
async def star_rated_volunteers(
    heavy: Heavy,
    request: Request,
    principal: Reader,
    areas: Areas,
    insights: InsightsOf,
    names: Names,
    area_id: AreaQuery = None,
    limit: Limit = 50,
    as_of: AsOf = None,
    format: Format = "json",
) -> StarRated | Response:
    """Star-rated volunteers living in an area (by home area): how many hold each star
    count, and the ones with the most cumulative approved hours (everywhere they served).
    From the area's star board: one read. Current figures only: `as_of` is refused (422
    `as_of_unsupported`)."""
    _no_as_of(as_of)
    area_id = readable_area(areas, principal, area_id)
    with heavy.admit(format != "json"):
        by_stars, top = await insights.standing.star_rated(area_id, limit)
        report = StarRated(
            area_id=area_id,
            thresholds_hours=list(insights.standing.thresholds_hours),
            by_stars=by_stars,
            volunteers=await _named(
                request,
                names,
                [
                    StarVolunteer(
                        volunteer_id=entry.volunteer_id,
                        hours=entry.minutes / 60,
                        stars=insights.standing.stars(entry.minutes),
                    )
                    for entry in top
                ],
            ),
        )
        if format != "json":
            return await _export(format, "stars", area_id, None, report.volunteers, StarVolunteer)
    return report


async def _export(
    format: Exported,
    name: str,
    area_id: str,
    period: str | None,
    rows: Sequence[BaseModel],
    row: type[BaseModel],
) -> Response:
    """A ranking's rows as a spreadsheet (`format=csv|xlsx`)."""
    suffix = f"-{period}" if period else ""
    dumped = [r.model_dump(mode="json") for r in rows]
    return await table(format, f"{name}-{area_id}{suffix}", dumped, columns=list(row.model_fields))


def _no_as_of(as_of: object) -> None:
    if as_of is not None:
        raise RuleViolationError(
            "this report is kept for the present only", code="as_of_unsupported", field="as_of"
        )
