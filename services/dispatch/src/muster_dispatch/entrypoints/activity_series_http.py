"""Recurring activities: one request schedules every occurrence of a series, each its own
activity (amended or cancelled alone through `/activities/{id}`)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response
from pydantic import BaseModel

from muster_contracts.areas import AreaTree
from muster_contracts.checkin import new_checkin_secret
from muster_contracts.events.registry import DomainEvent
from muster_dispatch.application.activities import DecideActivity
from muster_dispatch.domain.activity import Activity, ActivityRuleError, schedule_activity
from muster_dispatch.domain.activity_series import MAX_OCCURRENCES, Recurrence, occurrences
from muster_dispatch.entrypoints.activities_http import ActivityForm, Organiser, may_schedule
from muster_dispatch.entrypoints.dependencies import Activities, Drives, Policy
from muster_http.idempotency import NewIds, RetrySafeRoute
from muster_runtime.errors import ErrorAnswer, RuleViolationError
from muster_runtime.ports.event_store import CommandContext

router = APIRouter(prefix="/activity-series", tags=["activities"], route_class=RetrySafeRoute)


class SeriesForm(ActivityForm):
    """An activity as for `POST /activities` (its `starts_at` and `ends_at` the first
    occurrence's), and how it repeats."""

    repeat: Recurrence


class Occurrence(BaseModel):
    activity_id: str
    occurrence: int
    starts_at: datetime
    ends_at: datetime


class Series(BaseModel):
    series_id: str
    occurrences: list[Occurrence]


@router.post(
    "",
    status_code=201,
    response_model=Series,
    responses={
        422: {
            "model": ErrorAnswer,
            "description": "Besides the activity's own rules (`unknown_area`, "
            "`ends_after_start`, …): `first_on_a_weekday` (the first occurrence is on a "
            "weekday the series does not repeat on), `until_after_first`, "
            f"`max_occurrences` (more than {MAX_OCCURRENCES}).",
        }
    },
)
async def schedule_series(
    ids: NewIds,
    response: Response,
    form: SeriesForm,
    principal: Organiser,
    book: Activities,
    drives: Drives,
    policy: Policy,
) -> Series:
    """Schedule a recurring activity, e.g. a patrol every Saturday 08:00–10:00 until a
    date: every occurrence at once, at the same local time (`MUSTER_TIMEZONE`). Send an
    `Idempotency-Key`: a retry (after a lost answer, or a 503 half-way) schedules only the
    occurrences not scheduled yet, under the same ids."""
    await may_schedule(book, drives, form, principal)
    timezone = policy.timezone
    try:
        times = occurrences(form.starts_at, form.ends_at, form.repeat, timezone)
    except ActivityRuleError as exc:
        raise RuleViolationError(str(exc), field=exc.field, rule=exc.rule) from None
    series_id = ids.of("activity-series").hex[:12]
    context = CommandContext(principal.actor)
    scheduled: list[Occurrence] = []
    one = form.model_dump(exclude={"repeat"})
    for number, (starts_at, ends_at) in enumerate(times, start=1):
        activity_id = ids.of(f"activity-series:{number}").hex[:12]
        command = ActivityForm.model_validate(one | {"starts_at": starts_at, "ends_at": ends_at})
        await book.execute(
            activity_id, _occurrence(command, book.areas, (series_id, number)), context
        )
        scheduled.append(
            Occurrence(
                activity_id=activity_id, occurrence=number, starts_at=starts_at, ends_at=ends_at
            )
        )
    response.headers["Location"] = f"/activities/{scheduled[0].activity_id}"
    return Series(series_id=series_id, occurrences=scheduled)


def _occurrence(command: ActivityForm, areas: AreaTree, series: tuple[str, int]) -> DecideActivity:
    """Schedule one occurrence, unless a first run of the same request already did."""
    secret = new_checkin_secret()

    def decide(state: Activity) -> list[DomainEvent]:
        if state.exists:
            return []
        return schedule_activity(state, command, secret, areas, series)

    return decide
