"""The organiser's list of activities: by area and time, of a drive, team or series."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from muster_dispatch.application.ports import ActivityQuery
from muster_dispatch.entrypoints import listing
from muster_dispatch.entrypoints.activities_http import Reader
from muster_dispatch.entrypoints.dependencies import Areas, Directory

router = APIRouter(prefix="/activities", tags=["activities"])

MAX_LIMIT = 500


class ActivityListing(BaseModel):
    activity_id: str
    title: str
    category: str
    drive_id: str | None
    team_id: str | None
    series_id: str | None
    occurrence: int | None
    place_area_id: str
    starts_at: datetime
    ends_at: datetime
    capacity: int
    assigned: int
    cancelled: bool
    approved: bool


class ActivityList(BaseModel):
    activities: list[ActivityListing]
    next_after: str | None = None


@router.get(
    "",
    response_model=ActivityList,
    responses=listing.refusals("a `limit` outside 1–500, an instant without its offset"),
)
async def list_activities(
    principal: Reader,
    directory: Directory,
    areas: Areas,
    area_id: Annotated[str | None, Query(pattern=r"^[0-9]{4,16}$")] = None,
    starts_from: Annotated[str | None, Query(alias="from", pattern=listing.INSTANT)] = None,
    starts_before: Annotated[str | None, Query(alias="to", pattern=listing.INSTANT)] = None,
    drive_id: Annotated[str | None, Query(max_length=64)] = None,
    team_id: Annotated[str | None, Query(max_length=64)] = None,
    series_id: Annotated[str | None, Query(max_length=64)] = None,
    include_cancelled: bool = True,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    after: Annotated[
        str | None, Query(max_length=120, description=listing.AFTER_DESCRIPTION)
    ] = None,
) -> ActivityList:
    """Activities held in an area (default: your own; an admin's, every area) and below, in order of their start;
    `from`/`to` bound the start (`to` exclusive). A page holds up to `limit`; the next
    page is asked for with `after=<next_after>`. Follows dispatch's events: an activity
    just scheduled is listed within moments."""
    query = ActivityQuery(
        area_id=listing.listed_area(principal, area_id, areas),
        starts_from=listing.instant(starts_from, "from"),
        starts_before=listing.instant(starts_before, "to"),
        drive_id=drive_id,
        team_id=team_id,
        series_id=series_id,
        include_cancelled=include_cancelled,
        limit=limit,
        after=listing.page_key(after),
    )
    docs = await directory.find(query)
    listed = [_listing(doc) for doc in docs]
    return ActivityList(
        activities=listed,
        next_after=listing.next_after([(a.starts_at, a.activity_id) for a in listed], limit),
    )


def _listing(doc: dict[str, Any]) -> ActivityListing:
    return ActivityListing(activity_id=doc["_id"], **{k: doc.get(k) for k in _FIELDS})


_FIELDS = [f for f in ActivityListing.model_fields if f != "activity_id"]
