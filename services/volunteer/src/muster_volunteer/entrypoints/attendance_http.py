"""The volunteer's API at an activity: check in, check out, and my service record."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from muster_contracts.checkin import Coordinates
from muster_http.idempotency import RetrySafeRoute
from muster_runtime.ports.event_store import CommandContext
from muster_volunteer.application.attendance import attendance_view
from muster_volunteer.domain.service_categories import Language
from muster_volunteer.entrypoints.dependencies import (
    Activities,
    Attendance,
    OwnVolunteer,
    Registry,
    Statements,
    VolunteerLogin,
)
from muster_volunteer.entrypoints.hours_statement_page import render_statement

router = APIRouter(tags=["attendance"], route_class=RetrySafeRoute)


class CheckInForm(BaseModel):
    code: str = Field(
        min_length=4, max_length=12, description="The rotating code from the organiser's QR."
    )
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)


@router.post("/activities/{activity_id}/check-in")
async def check_in(
    activity_id: str,
    form: CheckInForm,
    principal: VolunteerLogin,
    me: OwnVolunteer,
    desk: Attendance,
) -> Any:
    """Check in (签到): one request, with the code and, where the place has one, your location.

    With an `Idempotency-Key`, a retry returns the first answer, not "already checked in".
    """
    location = (
        Coordinates(form.latitude, form.longitude)
        if form.latitude is not None and form.longitude is not None
        else None
    )
    attendance = await desk.check_in(
        activity_id,
        me,
        form.code,
        location,
        datetime.now(UTC),
        CommandContext(principal.actor),
    )
    return attendance_view(attendance)


@router.post("/activities/{activity_id}/check-out")
async def check_out(
    activity_id: str, principal: VolunteerLogin, me: OwnVolunteer, desk: Attendance
) -> dict[str, Any]:
    """Check out (签退)."""
    attendance = await desk.check_out(
        activity_id, me, datetime.now(UTC), CommandContext(principal.actor)
    )
    return attendance_view(attendance)


@router.get("/me/service-record")
async def my_service_record(me: OwnVolunteer, board: Activities) -> dict[str, Any]:
    """Every approved service record, total hours and star rating."""
    return await board.service_record(me)


@router.get("/me/hours-statement", response_model=None)
async def my_hours_statement(
    me: OwnVolunteer,
    statements: Statements,
    registry: Registry,
    format: Annotated[
        Literal["json", "html"], Query(description="`html`: a page that prints on one A4 sheet.")
    ] = "json",
    lang: Annotated[
        Language, Query(description="The language of the page and of the category names.")
    ] = "zh-CN",
) -> dict[str, Any] | HTMLResponse:
    """A numbered statement of my approved service (志愿服务证明), as JSON or a printable
    page: each record with its activity, drive, category, place and organising unit (the
    area the drive was launched for), names in `lang` (areas by their registered names)."""
    record = await registry.get(me)
    volunteer = {
        "volunteer_id": me,
        "name": record.personal.name,
        "home_area_id": record.registered.home_area_id,
    }
    statement = await statements.statement(volunteer, datetime.now(UTC), lang)
    if format == "html":
        return HTMLResponse(render_statement(statement, lang))
    return statement
