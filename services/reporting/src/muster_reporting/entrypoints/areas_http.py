"""An area as leadership reads it: its name and the path down to it from the caller's scope
(the dashboard's breadcrumb, also when it opens on an area deep in the tree)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from muster_contracts.areas import Area, AreaLevel
from muster_reporting.entrypoints.dependencies import Areas
from muster_reporting.entrypoints.http import Reader, readable_area

router = APIRouter(prefix="/reports", tags=["reports"])


class AreaStep(BaseModel):
    area_id: str
    name: str
    level: AreaLevel

    @classmethod
    def of(cls, area: Area) -> AreaStep:
        return cls(area_id=area.id, name=area.name, level=area.level)


class AreaPath(BaseModel):
    area: AreaStep
    path: list[AreaStep] = Field(
        description="From the caller's scope down to the area, both included: every step "
        "is an area the caller may read."
    )


@router.get(
    "/areas/{area_id}",
    response_model=AreaPath,
    responses={
        403: {"description": "The area lies outside the caller's scope (`outside_scope`)."},
        404: {"description": "No such area (`field`: `area_id`)."},
    },
)
async def area_path(principal: Reader, area_id: str, areas: Areas) -> AreaPath:
    """An area (names from the area tree, additions included) and the path from the caller's
    scope down to it."""
    area_id = readable_area(areas, principal, area_id)
    # The readable ancestors are those from the scope down (an admin's: from the root).
    path = [AreaStep.of(a) for a in areas.path(area_id) if principal.covers(a.id, areas)]
    return AreaPath(area=path[-1], path=path)
