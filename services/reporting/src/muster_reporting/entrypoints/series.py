"""Service delivered over time: one point per day or month, read from the per-period cells.

Each point is a cell the rollup already keeps (`<area>|2026-11-27`), all of a series' cells
read together by `_id`: a series costs one read of at most as many documents as it has
points, whatever the number of events.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from muster_reporting.entrypoints.dependencies import Areas, Heavy, Service
from muster_reporting.entrypoints.exports import EXPORTED_ANSWERS, Format, table
from muster_reporting.entrypoints.http import AreaQuery, Reader, delivered, readable_area
from muster_runtime.errors import RuleViolationError

router = APIRouter(prefix="/reports", tags=["reports"])

MAX_POINTS = 366
# A series of at most this many points is not a heavy query (the dashboard's 30 days, 12
# months): it is never refused as busy.
LIGHT_POINTS = 31
# Points built between two yields to the event loop: a year's series takes a few short turns.
POINTS_PER_TURN = 64
Granularity = Literal["day", "month"]
Bound = Annotated[
    str | None,
    Query(
        pattern=r"^\d{4}-\d{2}(-\d{2})?$",
        description="First / last period, inclusive (`2026-11-01` by day, `2026-11` by month); "
        "default the last 30 days or 12 months to today.",
    ),
]


class ServicePoint(BaseModel):
    period: str
    activities: int
    turnouts: int
    hours: float
    beneficiaries: int
    beneficiaries_by_group: dict[str, int]


class ServiceSeries(BaseModel):
    area_id: str
    granularity: Granularity
    points: list[ServicePoint]


def periods(
    granularity: Granularity, first: str | None, last: str | None, today: date
) -> list[str]:
    """The periods from `first` to `last`, inclusive, as the rollup names them."""
    try:
        if granularity == "day":
            end = date.fromisoformat(last) if last else today
            start = date.fromisoformat(first) if first else end - timedelta(days=29)
            count = (end - start).days + 1
        else:
            end_m = _month_index(last) if last else today.year * 12 + today.month - 1
            start_m = _month_index(first) if first else end_m - 11
            count = end_m - start_m + 1
    except (ValueError, OverflowError) as error:
        raise RuleViolationError(
            f"not a {granularity}: {error}", code="invalid_period", field="from"
        ) from None
    # The range is checked before a single period is built: a wide one costs nothing.
    if count <= 0:
        raise RuleViolationError("`from` is after `to`", code="invalid_range", field="from")
    if count > MAX_POINTS:
        raise RuleViolationError(
            f"at most {MAX_POINTS} points a series", code="range_too_long", field="from"
        )
    if granularity == "day":
        return [(start + timedelta(days=n)).isoformat() for n in range(count)]
    return [f"{m // 12:04d}-{m % 12 + 1:02d}" for m in range(start_m, start_m + count)]


def _month_index(month: str) -> int:
    if len(month) != 7:
        raise ValueError(f"{month!r} is not a month (YYYY-MM)")
    parsed = datetime.strptime(month, "%Y-%m")
    return parsed.year * 12 + parsed.month - 1


@router.get("/service/series", response_model=ServiceSeries, responses=EXPORTED_ANSWERS)
async def service_series(
    heavy: Heavy,
    principal: Reader,
    rollup: Service,
    areas: Areas,
    area_id: AreaQuery = None,
    granularity: Granularity = "day",
    first: Annotated[Bound, Query(alias="from")] = None,
    last: Annotated[Bound, Query(alias="to")] = None,
    format: Format = "json",
) -> Response:
    """Activities, turn-outs, approved hours and beneficiaries of an area per day or month."""
    area_id = readable_area(areas, principal, area_id)
    today = datetime.now(rollup.zone).date()  # in the zone the rollup counts days in
    wanted = periods(granularity, first, last, today)  # refused before any work
    with heavy.admit(len(wanted) > LIGHT_POINTS or format != "json"):
        cells = await rollup.periods_of(area_id, wanted)
        points: list[ServicePoint] = []
        for n, (period, cell) in enumerate(zip(wanted, cells, strict=True)):
            if n and n % POINTS_PER_TURN == 0:
                await asyncio.sleep(0)  # other requests, /healthz and the consumer go first
            points.append(ServicePoint(period=period, **delivered(cell)))
        series = ServiceSeries(area_id=area_id, granularity=granularity, points=points)
        if format != "json":
            rows = [p.model_dump(mode="json") for p in points]
            return await table(format, f"service-series-{area_id}", rows)
    # Serialized once, by the model: not validated again on the way out.
    return Response(series.model_dump_json(), media_type="application/json")
