"""The organiser API of dispatch (so far: the volunteer pool it knows of)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from muster_auth.auth import Principal, require_role
from muster_contracts.envelope import Role
from muster_dispatch.entrypoints.dependencies import Areas, Pool
from muster_runtime.errors import NotFoundError

router = APIRouter(prefix="/pool", tags=["volunteer pool"])

Organiser = Annotated[Principal, Depends(require_role(Role.ORGANISER, Role.ADMIN))]


@router.get("/volunteers/{volunteer_id}")
async def pooled_volunteer(
    volunteer_id: str, principal: Organiser, pool: Pool, areas: Areas
) -> dict[str, Any]:
    """What dispatch knows of a volunteer (no personal data: that stays with the volunteer service)."""
    doc = await pool.get(volunteer_id)
    if doc is None or not principal.covers(doc["home_area_id"], areas):
        raise NotFoundError(f"no volunteer {volunteer_id} in the pool")
    doc["volunteer_id"] = doc.pop("_id")
    doc["version"] = doc.pop("_v")
    return doc
