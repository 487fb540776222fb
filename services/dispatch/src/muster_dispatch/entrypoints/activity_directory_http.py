"""The organiser's list of activities: by area and time, of a drive, team or series."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from muster_dispatch.application.activity_directory import ActivityQuery
from muster_dispatch.entrypoints.activities_http import Reader
from muster_dispatch.entrypoints.dependencies import Areas, Directory
from muster_runtime.errors import ErrorAnswer, RuleViolationError

router = APIRouter(prefix="/activities", tags=["activities"])

MAX_LIMIT = 500
# An ISO 8601 instant with its offset (`2026-12-12T08:00:00+08:00`, `…Z`); not a number.
INSTANT = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})$"


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
    responses={
        403: {"model": ErrorAnswer, "description": "`area_id` is outside your scope."},
        422: {
            "model": ErrorAnswer,
            "description": "A bad parameter (`validation_failed`), an unknown area "
            "(`unknown_area`) or a malformed `after` (`invalid_cursor`).",
        },
    },
)
async def list_activities(
    principal: Reader,
    directory: Directory,
    areas: Areas,
    area_id: Annotated[str | None, Query(pattern=r"^[0-9]{4,16}$")] = None,
    starts_from: Annotated[str | None, Query(alias="from", pattern=INSTANT)] = None,
    starts_before: Annotated[str | None, Query(alias="to", pattern=INSTANT)] = None,
    drive_id: Annotated[str | None, Query(max_length=64)] = None,
    team_id: Annotated[str | None, Query(max_length=64)] = None,
    series_id: Annotated[str | None, Query(max_length=64)] = None,
    include_cancelled: bool = True,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    after: Annotated[
        str | None, Query(max_length=120, description="`next_after` of the previous page.")
    ] = None,
) -> ActivityList:
    """Activities held in an area (default: your own) and below, in order of their start;
    `from`/`to` bound the start (`to` exclusive). A page holds up to `limit`; the next
    page is asked for with `after=<next_after>`. Follows dispatch's events: an activity
    just scheduled is listed within moments."""
    area = area_id or principal.area_id
    if area not in areas:
        raise RuleViolationError(
            f"unknown area {area}", code="unknown_area", field="area_id", rule="known_area"
        )
    principal.require_scope(area, areas)
    query = ActivityQuery(
        area_id=area,
        starts_from=_instant(starts_from, "from"),
        starts_before=_instant(starts_before, "to"),
        drive_id=drive_id,
        team_id=team_id,
        series_id=series_id,
        include_cancelled=include_cancelled,
    )
    docs = await directory.find(query, limit, _cursor(after))
    listed = [_listing(doc) for doc in docs]
    last = listed[-1] if len(listed) == limit else None
    return ActivityList(
        activities=listed,
        next_after=f"{last.starts_at.isoformat()}|{last.activity_id}" if last else None,
    )


def _instant(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise RuleViolationError(
            f"{name} is not a valid instant: {text}", field=name, rule="instant"
        ) from None


def _cursor(after: str | None) -> tuple[datetime, str] | None:
    if after is None:
        return None
    moment, _, activity_id = after.partition("|")
    try:
        starts_at = datetime.fromisoformat(moment)
    except ValueError:
        starts_at = None
    if starts_at is None or starts_at.tzinfo is None or not activity_id:
        raise RuleViolationError(
            "after must be a page's next_after", code="invalid_cursor", field="after", rule="cursor"
        )
    return starts_at, activity_id


def _listing(doc: dict[str, Any]) -> ActivityListing:
    return ActivityListing(activity_id=doc["_id"], **{k: doc.get(k) for k in _FIELDS})


_FIELDS = [f for f in ActivityListing.model_fields if f != "activity_id"]
