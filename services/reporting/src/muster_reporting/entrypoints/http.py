"""The leadership API: registered volunteers by area, with drill-down."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from muster_contracts.areas import AreaLevel, AreaTree
from muster_contracts.envelope import Role
from muster_reporting.application.service_rollup import ServiceRollup
from muster_reporting.application.volunteer_rollup import VolunteerRollup
from muster_runtime.auth import Principal, require_role
from muster_runtime.errors import NotFoundError
from muster_runtime.mongo import Document

router = APIRouter(prefix="/reports", tags=["reports"])

Reader = Annotated[Principal, Depends(require_role(Role.LEADER, Role.ORGANISER))]


class AreaVolunteers(BaseModel):
    area_id: str
    name: str
    level: AreaLevel
    registered: int
    by_category: dict[str, int]


class VolunteerReport(BaseModel):
    area: AreaVolunteers
    children: list[AreaVolunteers]


@router.get("/volunteers", response_model=VolunteerReport)
async def volunteers_by_area(
    request: Request,
    principal: Reader,
    area_id: Annotated[str | None, Query(description="Defaults to the caller's scope.")] = None,
) -> VolunteerReport:
    """Registered volunteers in an area and in each of its children."""
    areas: AreaTree = request.app.state.areas
    area_id = area_id or principal.area_id
    if area_id not in areas:
        raise NotFoundError(f"unknown area {area_id}", field="area_id")
    principal.require_scope(area_id, areas)
    rollup: VolunteerRollup = request.app.state.volunteer_rollup
    cell = await rollup.cell(area_id)
    by_child = cell.get("children", {})

    def row(a_id: str, counts: Document) -> AreaVolunteers:
        area = areas.get(a_id)
        return AreaVolunteers(
            area_id=a_id,
            name=area.name,
            level=area.level,
            registered=int(counts.get("registered", 0)),
            by_category={k: int(v) for k, v in counts.get("category", {}).items()},
        )

    return VolunteerReport(
        area=row(area_id, cell),
        children=[row(c.id, by_child.get(c.id, {})) for c in areas.children(area_id)],
    )


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


class ServiceReport(BaseModel):
    area: AreaService
    children: list[AreaService]


@router.get("/service", response_model=ServiceReport)
async def service_by_area(
    request: Request,
    principal: Reader,
    area_id: Annotated[str | None, Query(description="Defaults to the caller's scope.")] = None,
) -> ServiceReport:
    """Activities held, turn-outs (人次), approved hours and beneficiaries, with drill-down."""
    areas: AreaTree = request.app.state.areas
    area_id = area_id or principal.area_id
    if area_id not in areas:
        raise NotFoundError(f"unknown area {area_id}", field="area_id")
    principal.require_scope(area_id, areas)
    rollup: ServiceRollup = request.app.state.service_rollup
    cell = await rollup.cell(area_id)
    by_child = cell.get("children", {})

    def row(a_id: str, counts: Document) -> AreaService:
        area = areas.get(a_id)
        return AreaService(
            area_id=a_id,
            name=area.name,
            level=area.level,
            activities=int(counts.get("activities", 0)),
            cancelled=int(counts.get("cancelled", 0)),
            turnouts=int(counts.get("turnouts", 0)),
            hours=int(counts.get("minutes", 0)) / 60,
            beneficiaries=int(counts.get("beneficiaries_total", 0)),
            beneficiaries_by_group={k: int(v) for k, v in counts.get("beneficiaries", {}).items()},
        )

    return ServiceReport(
        area=row(area_id, cell),
        children=[row(c.id, by_child.get(c.id, {})) for c in areas.children(area_id)],
    )
