"""The leadership API: registered volunteers and service delivered, by area, with drill-down."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Protocol, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from muster_contracts.areas import Area, AreaLevel, AreaTree
from muster_contracts.envelope import Role
from muster_reporting.application.service_rollup import ServiceRollup
from muster_reporting.application.volunteer_rollup import VolunteerRollup
from muster_reporting.entrypoints.exports import Format, area_table
from muster_runtime.auth import Principal, require_role
from muster_runtime.errors import NotFoundError
from muster_runtime.mongo import Document

router = APIRouter(prefix="/reports", tags=["reports"])

Reader = Annotated[Principal, Depends(require_role(Role.LEADER, Role.ORGANISER))]
AreaQuery = Annotated[str | None, Query(description="Defaults to the caller's scope.")]
Period = Annotated[
    str | None,
    Query(
        pattern=r"^\d{4}-\d{2}(-\d{2})?$",
        description="A month (`2026-11`) or a day (`2026-11-27`) in the reporting time zone; default all time.",
    ),
]
Row = TypeVar("Row", bound=BaseModel)


class Rollup(Protocol):
    def cell(self, area_id: str, period: str | None = None) -> Awaitable[Document]: ...


def readable_area(areas: AreaTree, principal: Principal, area_id: str | None) -> str:
    """The area asked for (default: the caller's scope), known and inside the caller's scope."""
    area_id = area_id or principal.area_id
    if area_id not in areas:
        raise NotFoundError(f"unknown area {area_id}", field="area_id")
    principal.require_scope(area_id, areas)
    return area_id


async def drill_down(
    request: Request,
    principal: Principal,
    area_id: str | None,
    rollup: Rollup,
    row: Callable[[Area, Document], Row],
    period: str | None = None,
) -> tuple[Row, list[Row]]:
    """An area's row and one per child, from the area's one cell (children counts inside)."""
    areas: AreaTree = request.app.state.areas
    area_id = readable_area(areas, principal, area_id)
    cell = await rollup.cell(area_id, period)
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


@router.get("/volunteers", response_model=VolunteerReport)
async def volunteers_by_area(
    request: Request, principal: Reader, area_id: AreaQuery = None, format: Format = "json"
) -> VolunteerReport | Response:
    """Registered volunteers in an area and in each of its children."""
    rollup: VolunteerRollup = request.app.state.volunteer_rollup
    area, children = await drill_down(request, principal, area_id, rollup, AreaVolunteers.of)
    if format != "json":
        return area_table(format, "volunteers", area, children)
    return VolunteerReport(area=area, children=children)


class AreaService(BaseModel):
    area_id: str
    name: str
    level: AreaLevel
    activities: int
    cancelled: int
    turnouts: int
    hours: float
    beneficiaries: int
    beneficiaries_by_group: dict[str, int]

    @classmethod
    def of(cls, area: Area, counts: Document) -> AreaService:
        return cls(
            area_id=area.id,
            name=area.name,
            level=area.level,
            activities=int(counts.get("activities", 0)),
            cancelled=int(counts.get("cancelled", 0)),
            turnouts=int(counts.get("turnouts", 0)),
            hours=int(counts.get("minutes", 0)) / 60,
            beneficiaries=int(counts.get("beneficiaries_total", 0)),
            beneficiaries_by_group={k: int(v) for k, v in counts.get("beneficiaries", {}).items()},
        )


class ServiceReport(BaseModel):
    area: AreaService
    children: list[AreaService]


@router.get("/service", response_model=ServiceReport)
async def service_by_area(
    request: Request,
    principal: Reader,
    area_id: AreaQuery = None,
    period: Period = None,
    format: Format = "json",
) -> ServiceReport | Response:
    """Activities held, turn-outs (人次), approved hours and beneficiaries, with drill-down,
    for all time or one month or day."""
    rollup: ServiceRollup = request.app.state.service_rollup
    area, children = await drill_down(request, principal, area_id, rollup, AreaService.of, period)
    if format != "json":
        return area_table(format, "service", area, children)
    return ServiceReport(area=area, children=children)
