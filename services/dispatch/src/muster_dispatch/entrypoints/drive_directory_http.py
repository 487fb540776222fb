"""The organiser's list of drives: by area, sign-up status, category and time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from muster_contracts.events.drives import ServiceCategory
from muster_dispatch.application.drive_directory import sign_up_status
from muster_dispatch.application.ports import DriveQuery, SignUpStatus
from muster_dispatch.entrypoints import listing
from muster_dispatch.entrypoints.dependencies import Areas, ListedDrives
from muster_dispatch.entrypoints.drives_http import Reader

router = APIRouter(prefix="/drives", tags=["recruitment drives"])

MAX_LIMIT = 200


class DriveListing(BaseModel):
    drive_id: str
    title: str
    category: ServiceCategory
    organiser: str
    scope_area_id: str
    signup_closes_at: datetime
    activity_starts_at: datetime
    activity_ends_at: datetime
    status: SignUpStatus


class DriveList(BaseModel):
    drives: list[DriveListing]
    next_after: str | None = None


@router.get(
    "",
    response_model=DriveList,
    responses=listing.refusals(
        "an unknown `status` or `category`, a `limit` outside 1–200, an instant without its offset"
    ),
)
async def list_drives(
    principal: Reader,
    directory: ListedDrives,
    areas: Areas,
    area_id: Annotated[str | None, Query(pattern=r"^[0-9]{4,16}$")] = None,
    status: SignUpStatus | None = None,
    category: ServiceCategory | None = None,
    starts_from: Annotated[str | None, Query(alias="from", pattern=listing.INSTANT)] = None,
    starts_before: Annotated[str | None, Query(alias="to", pattern=listing.INSTANT)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    after: Annotated[
        str | None, Query(max_length=120, description=listing.AFTER_DESCRIPTION)
    ] = None,
) -> DriveList:
    """Drives launched for an area (default: your own; an admin's, every area) and below,
    the latest activity start first. `status`: `open` (taking sign-ups: not closed, the
    deadline ahead) or `closed`; `from`/`to` bound the activity's start (`to` exclusive).
    A page holds up to `limit`; the next page is asked for with `after=<next_after>`.
    Follows dispatch's events: a drive just launched is listed within moments."""
    now = datetime.now(UTC)
    query = DriveQuery(
        area_id=listing.listed_area(principal, area_id, areas),
        now=now,
        status=status,
        category=category.value if category else None,
        starts_from=listing.instant(starts_from, "from"),
        starts_before=listing.instant(starts_before, "to"),
        limit=limit,
        after=listing.page_key(after),
    )
    docs = await directory.find(query)
    listed = [_listing(doc, now) for doc in docs]
    return DriveList(
        drives=listed,
        next_after=listing.next_after([(d.activity_starts_at, d.drive_id) for d in listed], limit),
    )


def _listing(doc: dict[str, Any], now: datetime) -> DriveListing:
    fields = {k: doc[k] for k in _FIELDS}
    return DriveListing(drive_id=doc["_id"], status=sign_up_status(doc, now), **fields)


_FIELDS = [f for f in DriveListing.model_fields if f not in ("drive_id", "status")]
