"""The area tree as reference data: admins add areas; every role reads an area and its children."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field

from muster_auth.auth import Principal, require_role
from muster_contracts.areas import Area, AreaTree
from muster_contracts.envelope import Role
from muster_dispatch.entrypoints.dependencies import Areas, AreaTreeEditor
from muster_http.idempotency import RetrySafeRoute
from muster_runtime.errors import NotFoundError
from muster_runtime.ports.event_store import CommandContext

router = APIRouter(tags=["areas"], route_class=RetrySafeRoute)

Admin = Annotated[Principal, Depends(require_role(Role.ADMIN))]
Anyone = Annotated[
    Principal, Depends(require_role(Role.VOLUNTEER, Role.ORGANISER, Role.LEADER, Role.ADMIN))
]


class AddArea(BaseModel):
    """A new area: its level and parent follow from its hierarchical id."""

    id: str = Field(
        min_length=1,
        max_length=16,
        description="Digits: the parent's id plus 2 or 3 more (`13020300100101` + `07`).",
        examples=["1302030010010107"],
    )
    name: str = Field(min_length=1, max_length=100, examples=["7号楼"])


def _view(area: Area, areas: AreaTree) -> dict[str, Any]:
    return area.model_dump(mode="json") | {
        "path": [{"id": a.id, "name": a.name} for a in areas.ancestors(area.id)],
        "children": [c.model_dump(mode="json") for c in areas.children(area.id)],
    }


@router.post(
    "/admin/areas",
    status_code=201,
    responses={200: {"description": "The area was there already, with this name."}},
)
async def add_area(
    response: Response, form: AddArea, principal: Admin, book: AreaTreeEditor
) -> dict[str, Any]:
    """Add an area below an existing one (201); the same request again answers 200.

    409 if the id is taken by an area of another name; 422 for a malformed id, a second
    root or a parent that does not exist. Volunteer and reporting learn it from the event.
    """
    area, added = await book.add(form.id, form.name, CommandContext(principal.actor))
    if not added:
        response.status_code = 200
    return _view(area, book.areas)


@router.get("/areas/{area_id}")
async def area(area_id: str, _: Anyone, areas: Areas) -> dict[str, Any]:
    """An area with the path down to it and its children (the packaged file and additions)."""
    if area_id not in areas:
        raise NotFoundError(f"no area {area_id}", field="area_id")
    return _view(areas.get(area_id), areas)
