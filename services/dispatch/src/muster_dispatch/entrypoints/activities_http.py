"""The organiser API for activities: schedule, check-in code, beneficiaries, corrections,
never-checked-out attendances and approval of hours."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from muster_auth.auth import Principal, require_role
from muster_contracts.checkin import (
    check_in_link,
    checkin_code,
    decode_secret,
    new_checkin_secret,
)
from muster_contracts.envelope import Role
from muster_contracts.events.activities import BeneficiaryGroup
from muster_dispatch.application.activities import ActivityBook, ActivityRead, DecideActivity
from muster_dispatch.application.drives import DriveBook
from muster_dispatch.domain.activity import (
    Activity,
    AmendActivity,
    ScheduleActivity,
    approve_hours,
    cancel_activity,
    close_never_checked_out,
    correct_attendance,
    never_checked_out,
    record_beneficiaries,
    schedule_activity,
)
from muster_dispatch.entrypoints.dependencies import Activities, Desks, Drives, Policy
from muster_http.idempotency import NewIds, RetrySafeRoute
from muster_runtime.errors import (
    ErrorAnswer,
    PreconditionRequiredError,
    RuleViolationError,
)
from muster_runtime.mongo import INT64_MAX
from muster_runtime.ports.event_store import CommandContext

router = APIRouter(prefix="/activities", tags=["activities"], route_class=RetrySafeRoute)

Organiser = Annotated[Principal, Depends(require_role(Role.ORGANISER))]
Reader = Annotated[Principal, Depends(require_role(Role.ORGANISER, Role.LEADER, Role.ADMIN))]
CODE_STEP_SECONDS = 60
IfMatch = Annotated[
    int | None,
    Header(
        alias="If-Match",
        ge=0,
        le=INT64_MAX,
        description="The activity's version you read (its `ETag`, the `version` field).",
    ),
]


class CancelForm(BaseModel):
    reason: str = Field(min_length=1, max_length=200)


class BeneficiariesForm(BaseModel):
    counts: dict[BeneficiaryGroup, Annotated[int, Field(le=1_000_000)]]
    reason: str | None = Field(default=None, max_length=200)


class CorrectionForm(BaseModel):
    check_in_at: AwareDatetime | None = None
    check_out_at: AwareDatetime | None = None
    reason: str = Field(min_length=1, max_length=200)


def activity_view(state: Activity) -> dict[str, Any]:
    scheduled = state.scheduled
    assert scheduled is not None
    return {
        "activity_id": state.activity_id,
        "version": state.version,
        **scheduled.model_dump(mode="json", exclude={"activity_id", "checkin_secret"}),
        "assigned": sorted(state.assigned),
        "cancelled": state.cancelled,
        "beneficiaries": state.beneficiaries.model_dump(mode="json")["counts"]
        if state.beneficiaries
        else {},
        "attendances": [
            {
                "volunteer_id": a.volunteer_id,
                "check_in_at": a.check_in_at,
                "check_out_at": a.check_out_at,
                "closed_by_rule": a.closed_by_rule,
            }
            for a in state.attendances.values()
        ],
        "approved": state.approved,
        "records": [
            {
                "record_id": r.record_id,
                "volunteer_id": r.volunteer_id,
                "service_date": r.service_date,
                "minutes": r.minutes,
            }
            for r in state.records.values()
        ],
    }


async def _change(
    book: ActivityBook,
    principal: Principal,
    activity_id: str,
    decide: DecideActivity,
    loaded: ActivityRead | None = None,
) -> dict[str, Any]:
    """Decide on the activity and append (on `loaded`, the caller's read, if it has one)."""
    read = loaded or await book.existing_read(activity_id)
    assert read.state.scheduled is not None
    principal.require_scope(read.state.scheduled.place_area_id, book.areas)
    state, events = await book.execute(
        activity_id, decide, CommandContext(principal.actor), loaded=read
    )
    return activity_view(state) | {"events": [e.event_type for e in events]}


def _require_place(principal: Principal, book: ActivityBook, area_id: str) -> None:
    """A place the area tree holds (422 `unknown_area`) inside the organiser's area (403)."""
    if area_id not in book.areas:
        raise RuleViolationError(
            f"unknown area {area_id}", code="unknown_area", field="place_area_id", rule="known_area"
        )
    principal.require_scope(area_id, book.areas)


class ActivityForm(ScheduleActivity):
    """An activity as the organiser schedules it: of a drive or a team (or both)."""

    # What the server requires, said in the schema too (pydantic cannot express it itself).
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["drive_id"], "properties": {"drive_id": {"type": "string"}}},
                {"required": ["team_id"], "properties": {"team_id": {"type": "string"}}},
            ]
        }
    )


async def may_schedule(
    book: ActivityBook, drives: DriveBook, form: ScheduleActivity, principal: Principal
) -> None:
    """Refuse an activity in an unknown area (422 `unknown_area`), outside the organiser's
    scope, or of another area's drive (403 `outside_scope`)."""
    _require_place(principal, book, form.place_area_id)
    if form.drive_id is not None:
        # An activity of another area's drive is not this organiser's to schedule.
        drive = await drives.load(form.drive_id)
        if drive.launched is not None:
            principal.require_scope(drive.launched.scope_area_id, book.areas)


@router.post("", status_code=201)
async def schedule(
    ids: NewIds,
    response: Response,
    form: ActivityForm,
    principal: Organiser,
    book: Activities,
    drives: Drives,
) -> dict[str, Any]:
    """Schedule an activity of a drive or team; its check-in secret is generated here.

    422 `unknown_area` (field `place_area_id`) for an area the tree does not hold, 403
    `outside_scope` for a known area outside the organiser's.
    """
    await may_schedule(book, drives, form, principal)
    activity_id = ids.of("activity").hex[:12]
    secret = new_checkin_secret()
    state, _ = await book.execute(
        activity_id,
        lambda s: schedule_activity(s, form, secret, book.areas),
        CommandContext(principal.actor),
    )
    response.headers["Location"] = f"/activities/{activity_id}"
    return activity_view(state)


@router.get("/{activity_id}")
async def get_activity(
    response: Response, activity_id: str, principal: Reader, book: Activities
) -> dict[str, Any]:
    """The activity; its `ETag` is its version, which an amendment's `If-Match` names."""
    state = await book.existing(activity_id)
    assert state.scheduled is not None
    principal.require_scope(state.scheduled.place_area_id, book.areas)
    response.headers["ETag"] = str(state.version)
    return activity_view(state)


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorAnswer, "description": description}


AMEND_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Amended (`events`: `activity.amended`), or nothing to change "
        "(`events` empty). `ETag`: the version now."
    },
    401: _error("No valid token (`reason`: missing, invalid, expired, revoked)."),
    403: _error(
        "Not an organiser (`wrong_role`), or the activity's place or the new place lies "
        "outside the organiser's area (`outside_scope`)."
    ),
    404: _error("No such activity (`not_found`)."),
    409: _error("The activity kept changing under the command; read it again."),
    412: _error(
        "`precondition_failed`: the activity's version is no longer the `If-Match` sent "
        "(`current_version` says which it is); read it again."
    ),
    422: _error(
        "Not valid (`validation_failed`), an unknown place (`unknown_area`), or a rule "
        "broken (`rule_violated`, with `field` and `rule`): `activity_cancelled`, "
        "`already_approved`, `ends_after_start`, `coordinates_pair`, "
        "`capacity_below_assigned`, `recorded_attendance_outside`."
    ),
    428: _error("`precondition_required`: send `If-Match` with the version you read."),
}


@router.post("/{activity_id}/amend", responses=AMEND_ANSWERS)
async def amend(
    response: Response,
    activity_id: str,
    form: AmendActivity,
    principal: Organiser,
    book: Activities,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    """Change the time (`starts_at`, `ends_at`), place (`place_area_id`, `latitude` and
    `longitude`; both null remove the coordinates) or capacity of an activity not yet
    approved or cancelled; what is left out stays. Send `If-Match` with the version read.

    Check-in and check-out windows follow the new times and the location check the new
    place; attendances recorded already must fit the new windows. The assigned and
    checked-in volunteers are told what changed (`activity.amended`)."""
    read = await book.existing_read(activity_id)
    assert read.state.scheduled is not None
    principal.require_scope(read.state.scheduled.place_area_id, book.areas)
    if form.place_area_id is not None:
        _require_place(principal, book, form.place_area_id)
    if if_match is None:
        raise PreconditionRequiredError(
            "send If-Match with the activity's version", field="If-Match"
        )

    state, events = await book.amend(
        activity_id, form, if_match, CommandContext(principal.actor), loaded=read
    )
    response.headers["ETag"] = str(state.version)
    return activity_view(state) | {"events": [e.event_type for e in events]}


@router.get("/{activity_id}/check-in-code")
async def check_in_code(
    activity_id: str, principal: Organiser, book: Activities, desks: Desks
) -> dict[str, Any]:
    """The rotating code to show as a QR code on the organiser's device: `qr_payload` is
    the volunteer page's link to the activity with the code (`MUSTER_VOLUNTEER_PAGE_URL`),
    which a phone's camera opens."""
    state = await book.existing(activity_id)
    assert state.scheduled is not None
    principal.require_scope(state.scheduled.place_area_id, book.areas)
    now = datetime.now(UTC)
    code = checkin_code(
        decode_secret(state.scheduled.checkin_secret), activity_id, now, CODE_STEP_SECONDS
    )
    return {
        "activity_id": activity_id,
        "code": code,
        "valid_for_seconds": CODE_STEP_SECONDS - int(now.timestamp()) % CODE_STEP_SECONDS,
        "qr_payload": check_in_link(desks.volunteer_page_url, activity_id, code),
    }


@router.post("/{activity_id}/cancel")
async def cancel(
    activity_id: str, form: CancelForm, principal: Organiser, book: Activities
) -> dict[str, Any]:
    now = datetime.now(UTC)
    return await _change(
        book, principal, activity_id, lambda s: cancel_activity(s, form.reason, now)
    )


@router.post("/{activity_id}/beneficiaries")
async def beneficiaries(
    activity_id: str, form: BeneficiariesForm, principal: Organiser, book: Activities
) -> dict[str, Any]:
    """Record whom the activity served, by group; a later call amends it (give a reason)."""
    now = datetime.now(UTC)
    return await _change(
        book,
        principal,
        activity_id,
        lambda s: record_beneficiaries(s, form.counts, form.reason, now),
    )


@router.post("/{activity_id}/attendances/{volunteer_id}/correct")
async def correct(
    activity_id: str,
    volunteer_id: str,
    form: CorrectionForm,
    principal: Organiser,
    book: Activities,
) -> dict[str, Any]:
    """Correct an attendance (补签); after approval the volunteer's days are recounted and
    the records adjusted."""
    now = datetime.now(UTC)

    def decide(state: Activity) -> list[Any]:
        return correct_attendance(
            state, volunteer_id, form.check_in_at, form.check_out_at, form.reason,
            principal.subject, now,
        )  # fmt: skip

    view = await _change(book, principal, activity_id, decide)
    if not view["approved"] or not view["events"]:
        return view
    return await _settled(book, principal, activity_id, view, [volunteer_id])


@router.get("/{activity_id}/never-checked-out")
async def open_attendances(activity_id: str, principal: Reader, book: Activities) -> dict[str, Any]:
    state = await book.existing(activity_id)
    assert state.scheduled is not None
    principal.require_scope(state.scheduled.place_area_id, book.areas)
    return {
        "attendances": [
            {"volunteer_id": a.volunteer_id, "check_in_at": a.check_in_at}
            for a in never_checked_out(state)
        ]
    }


@router.post("/{activity_id}/close-never-checked-out")
async def close_open(
    activity_id: str, principal: Organiser, book: Activities, policy: Policy
) -> dict[str, Any]:
    """Close open attendances by the configured rule once the grace period is over."""
    now = datetime.now(UTC)
    return await _change(
        book, principal, activity_id, lambda s: close_never_checked_out(s, now, policy)
    )


@router.post("/{activity_id}/approve")
async def approve(activity_id: str, principal: Organiser, book: Activities) -> dict[str, Any]:
    """Approve the hours. Each volunteer's days are counted with their other approved
    attendances, and the service records of this activity (and of activities sharing
    those days) follow: one per volunteer and local day."""
    read = await book.existing_read(activity_id)
    now = datetime.now(UTC)
    view = await _change(
        book, principal, activity_id, lambda s: approve_hours(s, principal.subject, now), read
    )
    return await _settled(book, principal, activity_id, view)


async def _settled(
    book: ActivityBook,
    principal: Principal,
    activity_id: str,
    view: dict[str, Any],
    volunteer_ids: list[str] | None = None,
) -> dict[str, Any]:
    """`view` once the activity's hours are settled (`ActivityBook.settle_hours`)."""
    state = await book.settle_hours(activity_id, CommandContext(principal.actor), volunteer_ids)
    return activity_view(state) | {"events": view["events"]}
