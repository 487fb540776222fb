"""The volunteer's API at an activity: check in, check out, and my service record."""

from __future__ import annotations

import hashlib
import html
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from muster_contracts.checkin import Coordinates
from muster_contracts.envelope import Role
from muster_runtime.auth import Principal, require_role
from muster_runtime.eventstore import CommandContext
from muster_runtime.idempotency import RetrySafeRoute
from muster_volunteer.application.attendance import ActivityBoard, AttendanceDesk, attendance_view
from muster_volunteer.application.registration import VolunteerRegistry

router = APIRouter(tags=["attendance"], route_class=RetrySafeRoute)

Volunteer = Annotated[Principal, Depends(require_role(Role.VOLUNTEER))]


class CheckInForm(BaseModel):
    code: str = Field(
        min_length=4, max_length=12, description="The rotating code from the organiser's QR."
    )
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)


async def _volunteer_id(request: Request, principal: Principal) -> str:
    registry: VolunteerRegistry = request.app.state.registry
    return await registry.own_volunteer_id(principal.subject)


@router.post("/activities/{activity_id}/check-in")
async def check_in(
    request: Request,
    activity_id: str,
    form: CheckInForm,
    principal: Volunteer,
) -> Any:
    """Check in (签到): one request, with the code and, where the place has one, your location.

    With an `Idempotency-Key`, a retry returns the first answer, not "already checked in".
    """
    desk: AttendanceDesk = request.app.state.attendance
    volunteer_id = await _volunteer_id(request, principal)
    location = (
        Coordinates(form.latitude, form.longitude)
        if form.latitude is not None and form.longitude is not None
        else None
    )
    attendance = await desk.check_in(
        activity_id,
        volunteer_id,
        form.code,
        location,
        datetime.now(UTC),
        CommandContext(principal.actor),
    )
    return attendance_view(attendance)


@router.post("/activities/{activity_id}/check-out")
async def check_out(request: Request, activity_id: str, principal: Volunteer) -> dict[str, Any]:
    """Check out (签退)."""
    desk: AttendanceDesk = request.app.state.attendance
    volunteer_id = await _volunteer_id(request, principal)
    attendance = await desk.check_out(
        activity_id, volunteer_id, datetime.now(UTC), CommandContext(principal.actor)
    )
    return attendance_view(attendance)


@router.get("/me/service-record")
async def my_service_record(request: Request, principal: Volunteer) -> dict[str, Any]:
    """Every approved service record, total hours and star rating."""
    board: ActivityBoard = request.app.state.activity_board
    return await board.service_record(await _volunteer_id(request, principal))


@router.get("/me/hours-statement", response_model=None)
async def my_hours_statement(
    request: Request, principal: Volunteer, format: str = "json"
) -> dict[str, Any] | HTMLResponse:
    """A numbered statement of my approved service (志愿服务证明), as JSON or a printable page."""
    board: ActivityBoard = request.app.state.activity_board
    registry: VolunteerRegistry = request.app.state.registry
    volunteer_id = await _volunteer_id(request, principal)
    record = await registry.get(volunteer_id)
    service = await board.service_record(volunteer_id)
    issued_at = datetime.now(UTC)
    digest = hashlib.sha256(
        f"{volunteer_id}:{service['total_minutes']}:{len(service['records'])}".encode()
    ).hexdigest()[:8]
    statement = {
        "statement_no": f"MUSTER-{issued_at:%Y%m%d}-{digest.upper()}",
        "issued_by": request.app.state.statement_issuer,
        "issued_at": issued_at,
        "volunteer": {
            "volunteer_id": volunteer_id,
            "name": record.personal.name,
            "home_area": [
                a.name for a in request.app.state.areas.path(record.registered.home_area_id)
            ],
        },
        **{k: v for k, v in service.items() if k != "volunteer_id"},
    }
    if format != "html":
        return statement
    rows = "".join(
        f"<tr><td>{html.escape(str(r['service_date']))}</td><td>{html.escape(str(r['category']))}</td>"
        f"<td>{html.escape(str(r['place_area_id']))}</td><td class=n>{r['hours']:.1f}</td></tr>"
        for r in service["records"]
    )
    page = f"""<!doctype html><html lang="zh"><meta charset="utf-8">
<title>志愿服务证明 {statement["statement_no"]}</title>
<style>body{{font-family:serif;max-width:46em;margin:3em auto}}table{{width:100%;border-collapse:collapse}}
td,th{{border:1px solid #444;padding:.3em .6em}}.n{{text-align:right}}@media print{{body{{margin:1em}}}}</style>
<h1>志愿服务证明 Volunteer service statement</h1>
<p>No. {statement["statement_no"]} · {issued_at:%Y-%m-%d}</p>
<p>兹证明 <b>{html.escape(record.personal.name)}</b>（{html.escape(" › ".join(statement["volunteer"]["home_area"]))}）
参加志愿服务，经组织单位审核，累计服务时长 <b>{service["total_hours"]:.1f}</b> 小时，星级 {service["stars"]}。</p>
<table><tr><th>日期 date</th><th>类别 category</th><th>地点 place</th><th>时长 hours</th></tr>{rows}
<tr><th colspan=3>合计 total</th><th class=n>{service["total_hours"]:.1f}</th></tr></table>
<p>出具单位 issued by: {html.escape(statement["issued_by"])}</p></html>"""
    return HTMLResponse(page)
