"""A volunteer's local day of approved service: the one place its hours are counted.

A volunteer's credited hours for a day depend on every approved attendance of that day
together (overlaps count once, the daily cap and the rounding apply to the day), so the day
is an event stream of its own (`service-day-{volunteer}-{yyyymmdd}`). An approval or a
correction after approval recounts each day its attendance touches, with the day's
version as the optimistic-concurrency check: two approvals at once, in one process or on
two replicas, cannot both count from the same state; the later one is recounted from the
set that includes the earlier. The day's attribution then decides each activity's service
record (`settle_records` in `activity`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date

from muster_contracts.events import DomainEvent
from muster_contracts.events.activities import ServiceDayRecounted
from muster_dispatch.domain.hours import HoursPolicy, Interval, clip, credit_day, day_bounds


@dataclass(frozen=True)
class ServiceDay:
    """The folded state of one volunteer's local day.

    `attendances`: each approved activity's attendance that has time on the day (its whole
    span, in UTC); `credited`: the day's attribution, minutes per activity.
    """

    volunteer_id: str
    service_date: date
    version: int = 0
    attendances: Mapping[str, Interval] = field(default_factory=dict)
    credited: Mapping[str, int] = field(default_factory=dict)


def _in_utc(interval: Interval) -> Interval:
    return Interval(interval.start.astimezone(UTC), interval.end.astimezone(UTC))


def recount(
    state: ServiceDay, activity_id: str, span: Interval | None, policy: HoursPolicy
) -> list[DomainEvent]:
    """Count the day again with `activity_id`'s approved attendance now spanning `span`
    (None, or a span with no time on the day: it no longer counts here).

    Nothing when the day already counts that attendance so (a retry, a redelivery)."""
    if span is not None and clip(span, day_bounds(state.service_date, policy.zone)) is None:
        span = None
    span = _in_utc(span) if span is not None else None
    if state.attendances.get(activity_id) == span:
        return []
    attendances = {a: i for a, i in state.attendances.items() if a != activity_id}
    if span is not None:
        attendances[activity_id] = span
    return [
        ServiceDayRecounted(
            volunteer_id=state.volunteer_id,
            service_date=state.service_date,
            activity_id=activity_id,
            check_in_at=span.start if span else None,
            check_out_at=span.end if span else None,
            credited_minutes=credit_day(attendances, state.service_date, policy),
        )
    ]


def evolve(state: ServiceDay, event: DomainEvent) -> ServiceDay:
    if not isinstance(event, ServiceDayRecounted):
        return state
    attendances = {a: i for a, i in state.attendances.items() if a != event.activity_id}
    if event.check_in_at is not None and event.check_out_at is not None:
        attendances[event.activity_id] = _in_utc(Interval(event.check_in_at, event.check_out_at))
    return replace(
        state,
        version=state.version + 1,
        attendances=attendances,
        credited=dict(event.credited_minutes),
    )
