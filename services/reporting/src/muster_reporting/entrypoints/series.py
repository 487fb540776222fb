"""Service delivered over time: one point per day or month, read from the per-period cells.

Each point is one point read of a cell the rollup already keeps (`<area>|2026-11-27`), so a
series costs as many reads as it has points, whatever the number of events.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from muster_reporting.entrypoints.dependencies import Areas, Service
from muster_reporting.entrypoints.exports import EXPORTED_ANSWERS, Format, table
from muster_reporting.entrypoints.http import AreaQuery, AreaService, Reader, readable_area
from muster_runtime.errors import RuleViolationError

router = APIRouter(prefix="/reports", tags=["reports"])

MAX_POINTS = 366
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
    principal: Reader,
    rollup: Service,
    areas: Areas,
    area_id: AreaQuery = None,
    granularity: Granularity = "day",
    first: Annotated[Bound, Query(alias="from")] = None,
    last: Annotated[Bound, Query(alias="to")] = None,
    format: Format = "json",
) -> ServiceSeries | Response:
    """Activities, turn-outs, approved hours and beneficiaries of an area per day or month."""
    area_id = readable_area(areas, principal, area_id)
    today = datetime.now(rollup.zone).date()  # in the zone the rollup counts days in
    area = areas.get(area_id)
    wanted = periods(granularity, first, last, today)
    cells = await asyncio.gather(*(rollup.cell(area_id, period) for period in wanted))
    points = [
        ServicePoint(period=period, **AreaService.of(area, cell).model_dump(include=_MEASURES))
        for period, cell in zip(wanted, cells, strict=True)
    ]
    series = ServiceSeries(area_id=area_id, granularity=granularity, points=points)
    if format != "json":
        rows = [p.model_dump(mode="json") for p in points]
        return await table(format, f"service-series-{area_id}", rows)
    return series


_MEASURES = {"activities", "turnouts", "hours", "beneficiaries", "beneficiaries_by_group"}
