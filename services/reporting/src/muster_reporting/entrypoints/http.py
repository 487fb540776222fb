"""The leadership API: registered volunteers and service delivered, by area, with drill-down."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import APIRouter, Depends, Query, Response
from pydantic import AfterValidator, AwareDatetime, BaseModel, Field

from muster_auth.auth import Principal, require_role
from muster_contracts.areas import Area, AreaLevel, AreaTree
from muster_contracts.envelope import Role
from muster_reporting.application.as_of import HISTORY_SINCE, answered_instant
from muster_reporting.domain.periods import (
    PERIOD_DESCRIPTION,
    PERIOD_PATTERN,
    check_period,
)
from muster_reporting.domain.service_counts import field_key
from muster_reporting.entrypoints.dependencies import Areas, Heavy, Service, Volunteers
from muster_reporting.entrypoints.exports import EXPORTED_ANSWERS, Format, area_table
from muster_runtime.errors import NotFoundError, RuleViolationError
from muster_runtime.mongo import Document

router = APIRouter(prefix="/reports", tags=["reports"])

Reader = Annotated[Principal, Depends(require_role(Role.LEADER, Role.ORGANISER, Role.ADMIN))]
AreaQuery = Annotated[str | None, Query(description="Defaults to the caller's scope.")]
Period = Annotated[str | None, Query(pattern=PERIOD_PATTERN, description=PERIOD_DESCRIPTION)]


# How far ahead of this server's clock an `as_of` may be (a client's clock runs fast).
CLOCK_SKEW = timedelta(minutes=5)


def _minute_in_utc(at: datetime | None) -> datetime | None:
    """The instant an `as_of` answers for: the start of its minute, in UTC."""
    if at is None:
        return None
    try:
        at = at.astimezone(UTC)
    except OverflowError:
        raise ValueError("not an instant in UTC's range") from None
    if at > datetime.now(UTC) + CLOCK_SKEW:
        # Not recorded yet; and each year since HISTORY_SINCE is a read, so a far-future
        # instant would cost thousands of them.
        raise ValueError("that instant has not come yet")
    return answered_instant(at)


AsOf = Annotated[
    Annotated[AwareDatetime, AfterValidator(_minute_in_utc)] | None,
    Query(
        description="The figures as recorded by this instant, to the minute (ISO 8601 with "
        "an offset, e.g. `2026-11-27T18:00:00+08:00`): every event recorded before the "
        "start of its minute (UTC), corrections too; none recorded later. The answer's "
        f"`as_of` is that instant. Not before {HISTORY_SINCE.isoformat()}, nor more than "
        f"{CLOCK_SKEW.seconds // 60} minutes after the server's clock."
    ),
]
AnsweredAsOf = Annotated[
    datetime | None,
    Field(
        description="The instant the figures are as of: the `as_of` asked for, rounded down "
        "to its minute in UTC (every event recorded before it counts); null for the "
        "current figures."
    ),
]
Row = TypeVar("Row", bound=BaseModel)


class Rollup(Protocol):
    def cell(
        self, area_id: str, period: str | None = None, as_of: datetime | None = None
    ) -> Awaitable[Document]: ...


def readable_area(areas: AreaTree, principal: Principal, area_id: str | None) -> str:
    """The area asked for (default: the caller's scope), known and inside the caller's scope."""
    area_id = area_id or principal.area_id
    if area_id not in areas:
        raise NotFoundError(f"unknown area {area_id}", field="area_id")
    principal.require_scope(area_id, areas)
    return area_id


async def drill_down(
    areas: AreaTree,
    principal: Principal,
    area_id: str | None,
    rollup: Rollup,
    row: Callable[[Area, Document], Row],
    period: str | None = None,
    as_of: datetime | None = None,
) -> tuple[Row, list[Row]]:
    """An area's row and one per child, from the area's one cell (children counts inside)."""
    area_id = readable_area(areas, principal, area_id)
    cell = await rollup.cell(area_id, valid_period(period), as_of)
    by_child = cell.get("children", {})
    children = [row(child, by_child.get(child.id, {})) for child in areas.children(area_id)]
    return row(areas.get(area_id), cell), children


class AreaVolunteers(BaseModel):
    area_id: str
    name: str
    level: AreaLevel
    registered: int
    by_category: dict[str, int]

    @classmethod
    def of(cls, area: Area, counts: Document) -> AreaVolunteers:
        return cls(
            area_id=area.id,
            name=area.name,
            level=area.level,
            registered=int(counts.get("registered", 0)),
            by_category={k: int(v) for k, v in counts.get("category", {}).items()},
        )


class VolunteerReport(BaseModel):
    area: AreaVolunteers
    children: list[AreaVolunteers]
    as_of: AnsweredAsOf = None


@router.get("/volunteers", response_model=VolunteerReport, responses=EXPORTED_ANSWERS)
async def volunteers_by_area(
    heavy: Heavy,
    principal: Reader,
    rollup: Volunteers,
    areas: Areas,
    area_id: AreaQuery = None,
    as_of: AsOf = None,
    format: Format = "json",
) -> VolunteerReport | Response:
    """Registered volunteers in an area and in each of its children, by category (party
    members, in-service party members reporting to their community, residents, students,
    company staff; a volunteer may be in several)."""
    with heavy.admit(format != "json" or as_of is not None):
        area, children = await drill_down(
            areas, principal, area_id, rollup, AreaVolunteers.of, as_of=as_of
        )
        if format != "json":
            return await area_table(format, "volunteers", area, children)
    return VolunteerReport(area=area, children=children, as_of=as_of)


class AreaService(BaseModel):
    area_id: str
    name: str
    level: AreaLevel
    activities: int = Field(
        description="Activities held (场次): activities whose hours were approved, each "
        "counted once, in the period of its local start day, from the moment of its "
        "approval (never at scheduling). A cancelled activity never counts."
    )
    activities_scheduled: int = Field(
        description="Activities not held yet: scheduled, neither approved nor cancelled "
        "(in the period of their local start day), = activities_upcoming + "
        "activities_in_progress + activities_awaiting_approval. Not part of `activities`."
    )
    activities_upcoming: int | None = Field(
        description="Of `activities_scheduled`, those not started at the moment of the "
        "query; null with `as_of` (the split by the clock is for the present only)."
    )
    activities_in_progress: int | None = Field(
        description="Of `activities_scheduled`, those started and not ended at the moment "
        "of the query; null with `as_of`."
    )
    activities_awaiting_approval: int | None = Field(
        description="Of `activities_scheduled`, those ended and not approved at the moment "
        "of the query; null with `as_of`."
    )
    cancelled: int = Field(description="Activities cancelled (never held).")
    turnouts: int = Field(
        description="Turn-outs (人次): one per volunteer and activity with an approved "
        "attendance, counted on the first local day of its service records, whatever its "
        "credited minutes (a record of 0 minutes counts)."
    )
    volunteers: int | None = Field(
        description="Unique volunteers with a service record here in the period (a record "
        "of 0 minutes counts); null when filtered by category, drive or team (not counted "
        "per breakdown)."
    )
    hours: float = Field(description="Approved service hours, on the local day served.")
    beneficiaries: int = Field(
        description="Beneficiaries (受益人次) of activities held: an approved activity's "
        "counts, including those recorded before its approval, counted at the approval in "
        "the period of its start day; an amendment after approval counts its difference. "
        "Counts of activities never approved never count."
    )
    beneficiaries_by_group: dict[str, int] = Field(
        description="`beneficiaries` by group (groups with none are left out)."
    )
    drives_active: int | None = Field(
        description="Drives with an activity held here in the period (null under a "
        "category or team filter)."
    )
    teams_active: int | None = Field(
        description="Teams with an activity held here in the period (null under a "
        "category or drive filter)."
    )
    hours_by_category: dict[str, float] | None = Field(
        description="Approved hours per service category (null under a drive or team filter)."
    )

    @classmethod
    def of(
        cls,
        area: Area,
        counts: Document,
        only: tuple[str, str] | None = None,
        not_held: Mapping[str, int] | None = None,
    ) -> AreaService:
        """A row from a cell, or from one of its breakdowns (`("drives", id)`), with the
        activities not held yet by stage (`not_held`; None as of a past instant)."""
        figures = counts.get(only[0], {}).get(field_key(only[1]), {}) if only else counts
        scheduled = (
            int(figures.get("activities_scheduled", 0))
            if not_held is None
            else sum(not_held.values())
        )
        return cls(
            area_id=area.id,
            name=area.name,
            level=area.level,
            activities_scheduled=scheduled,
            activities_upcoming=None if not_held is None else not_held["upcoming"],
            activities_in_progress=None if not_held is None else not_held["in_progress"],
            activities_awaiting_approval=None
            if not_held is None
            else not_held["awaiting_approval"],
            cancelled=int(figures.get("cancelled", 0)),
            volunteers=None if only else int(counts.get("volunteers", 0)),
            **delivered(figures),
            drives_active=_active(counts, "drives", only),
            teams_active=_active(counts, "teams", only),
            hours_by_category=None
            if only and only[0] != "category"
            else {
                k: int(v.get("minutes", 0)) / 60
                for k, v in counts.get("category", {}).items()
                if v.get("minutes") and (only is None or field_key(only[1]) == k)
            },
        )


def delivered(figures: Document) -> dict[str, Any]:
    """Service delivered, from a cell's figures (or one of its breakdowns): activities
    held, turn-outs, approved hours, beneficiaries in all and by group (groups with none
    left out)."""
    return {
        "activities": int(figures.get("activities", 0)),
        "turnouts": int(figures.get("turnouts", 0)),
        "hours": int(figures.get("minutes", 0)) / 60,
        "beneficiaries": int(figures.get("beneficiaries_total", 0)),
        "beneficiaries_by_group": {
            k: int(v) for k, v in figures.get("beneficiaries", {}).items() if v
        },
    }


def _active(counts: Document, dimension: str, only: tuple[str, str] | None) -> int | None:
    """Drives or teams with an activity held (not known within another dimension's filter)."""
    entries: dict[str, Document] = counts.get(dimension, {})
    if only is not None and only[0] != dimension:
        return None
    if only is not None:
        entries = {k: v for k, v in entries.items() if k == field_key(only[1])}
    return sum(1 for v in entries.values() if v.get("activities", 0) > 0)


class ServiceReport(BaseModel):
    area: AreaService
    children: list[AreaService]
    as_of: AnsweredAsOf = None


@router.get("/service", response_model=ServiceReport, responses=EXPORTED_ANSWERS)
async def service_by_area(
    heavy: Heavy,
    principal: Reader,
    rollup: Service,
    areas: Areas,
    area_id: AreaQuery = None,
    period: Period = None,
    category: Annotated[str | None, Query(description="Only this service category.")] = None,
    drive_id: Annotated[str | None, Query(description="Only this drive's activities.")] = None,
    team_id: Annotated[str | None, Query(description="Only this team's activities.")] = None,
    as_of: AsOf = None,
    format: Format = "json",
) -> ServiceReport | Response:
    """Activities held (approved), activities not held yet (upcoming, in progress,
    awaiting approval), turn-outs (人次), unique volunteers, approved hours, beneficiaries
    of activities held, drives and teams active, in an area and each of its children, for
    all time or a year, ISO week, month or day (activities by their local start day, hours
    by the day served, in the reporting time zone); optionally only one service category,
    drive or team (at most one filter). Corrections count in the period of the service
    they correct. With `as_of`, the figures as recorded by the start of that instant's
    minute (the split of activities not held yet by the clock is then null)."""
    filters = [
        (d, v) for d, v in (("category", category), ("drives", drive_id), ("teams", team_id)) if v
    ]
    if len(filters) > 1:
        raise RuleViolationError(
            "filter by one of category, drive_id, team_id", code="one_filter", field="category"
        )
    only = filters[0] if filters else None
    area_id = readable_area(areas, principal, area_id)
    period = valid_period(period)
    children = areas.children(area_id)
    child_ids = [c.id for c in children]
    with heavy.admit(format != "json" or as_of is not None):
        cell, by_child = await rollup.drill_down(area_id, child_ids, period, as_of)
        not_held: tuple[dict[str, int] | None, Mapping[str, dict[str, int] | None]]
        not_held = (None, {})
        if as_of is None:
            now = datetime.now(UTC)
            not_held = await rollup.not_held(area_id, child_ids, period, only, now)
        area = AreaService.of(areas.get(area_id), cell, only, not_held[0])
        rows = [AreaService.of(c, by_child[c.id], only, not_held[1].get(c.id)) for c in children]
        if format != "json":
            return await area_table(format, "service", area, rows)
    return ServiceReport(area=area, children=rows, as_of=as_of)


def valid_period(period: str | None) -> str | None:
    """The period, if it names a real one (`2026-02-30` or `2025-W53` do not: 422)."""
    if period is None:
        return None
    try:
        return check_period(period)
    except ValueError as exc:
        raise RuleViolationError(str(exc), code="unknown_period", field="period") from None
