"""The drive funnel report: signed up → accepted → assigned → checked in → hours approved."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from muster_reporting.domain.funnel import Stage, conversion
from muster_reporting.entrypoints.dependencies import Areas, Funnel, Heavy
from muster_reporting.entrypoints.exports import EXPORTED_ANSWERS, Format, table
from muster_reporting.entrypoints.http import (
    AnsweredAsOf,
    AreaQuery,
    AsOf,
    Reader,
    readable_area,
)
from muster_runtime.errors import NotFoundError

router = APIRouter(prefix="/reports", tags=["reports"])


class FunnelStage(BaseModel):
    stage: Stage
    count: int
    rate: float | None


class FunnelReport(BaseModel):
    area_id: str
    drive_id: str | None
    stages: list[FunnelStage]
    as_of: AnsweredAsOf = None


@router.get("/funnel", response_model=FunnelReport, responses=EXPORTED_ANSWERS)
async def drive_funnel(
    heavy: Heavy,
    principal: Reader,
    funnel: Funnel,
    areas: Areas,
    area_id: AreaQuery = None,
    drive_id: Annotated[
        str | None, Query(min_length=1, max_length=64, description="One drive; default all.")
    ] = None,
    as_of: AsOf = None,
    format: Format = "json",
) -> FunnelReport | Response:
    """How many volunteers reached each stage, with the rate from the stage before, for
    every drive of an area (its own and its descendants') or for one drive. A volunteer
    counts once per stage per drive; a withdrawal leaves accepted and assigned. With
    `as_of`, the counts as recorded by the start of that instant's minute."""
    area_id = readable_area(areas, principal, area_id)
    with heavy.admit(format != "json" or as_of is not None):
        if drive_id is None:
            counts = await funnel.counts(area_id=area_id, as_of=as_of)
        else:
            drive_area = await funnel.area_of_drive(drive_id)
            if drive_area is None or not areas.is_within(drive_area, area_id):
                raise NotFoundError(f"no drive {drive_id} in area {area_id}", field="drive_id")
            principal.require_scope(drive_area, areas)
            counts = await funnel.counts(drive_id=drive_id, as_of=as_of)
        stages = [
            FunnelStage(stage=s.stage, count=s.count, rate=s.rate) for s in conversion(counts)
        ]
        report = FunnelReport(area_id=area_id, drive_id=drive_id, stages=stages, as_of=as_of)
        if format != "json":
            rows = [s.model_dump(mode="json") for s in stages]
            return await table(format, f"funnel-{drive_id or area_id}", rows)
    return report
