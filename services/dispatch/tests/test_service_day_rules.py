"""A volunteer's day depends on the set of approved attendances, never on approval order.

Property-based (hypothesis): activities of one volunteer over two local days, some
overlapping, some over midnight or over the cap, approved in any order, with the activities'
records settled at arbitrary moments in between (as concurrent approvals and the settlement
safety net do), always end with the same days and records as counting the whole set once,
and each attendance's first record is its first local day's.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from muster_contracts.areas import AreaLevel, load_area_tree
from muster_contracts.events import DomainEvent
from muster_contracts.events.activities import (
    AttendanceCheckedIn,
    AttendanceCheckedOut,
    HoursApproved,
    PresenceProof,
    ServiceRecordIssued,
)
from muster_dispatch.domain import service_day
from muster_dispatch.domain.activity import (
    Activity,
    ScheduleActivity,
    days_to_count,
    evolve,
    schedule_activity,
    settle_attendance,
)
from muster_dispatch.domain.hours import (
    HoursPolicy,
    Interval,
    clip,
    credit_day,
    day_bounds,
    day_total,
    local_days,
    merge_intervals,
)
from muster_dispatch.domain.service_day import ServiceDay

POLICY = HoursPolicy()
AREAS = load_area_tree()
PLACE = AREAS.at_level(AreaLevel.COMMUNITY)[0].id
DAY = date(2025, 3, 5)
# 06:00 local on DAY; attendances start within the next 20 hours.
ORIGIN = datetime(2025, 3, 5, 6, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)

spans = st.lists(
    st.tuples(st.integers(0, 20 * 60), st.integers(1, 11 * 60), st.integers(0, 59)),
    min_size=1,
    max_size=5,
)


def activity(activity_id: str, span: Interval) -> Activity:
    form = ScheduleActivity(
        drive_id="drive-1",
        title=activity_id,
        place_area_id=PLACE,
        category="environment",
        starts_at=span.start,
        ends_at=span.end,
        capacity=5,
        assigned_volunteer_ids=("v-1",),
    )
    events: list[DomainEvent] = [
        *schedule_activity(Activity(activity_id), form, b"k" * 32, AREAS),
        AttendanceCheckedIn(
            activity_id=activity_id, volunteer_id="v-1", at=span.start, proof=PresenceProof.CODE
        ),
        AttendanceCheckedOut(activity_id=activity_id, volunteer_id="v-1", at=span.end),
        HoursApproved(activity_id=activity_id, approved_by="org-1", at=span.end),
    ]
    return apply(Activity(activity_id), events)


def apply(state: Activity, events: list[DomainEvent]) -> Activity:
    for event in events:
        state = evolve(state, event)
    return state


def attendances_of(raw: list[tuple[int, int, int]]) -> dict[str, Interval]:
    return {
        f"a{i}": Interval(
            ORIGIN + timedelta(minutes=start, seconds=second),
            ORIGIN + timedelta(minutes=start + length, seconds=second),
        )
        for i, (start, length, second) in enumerate(raw)
    }


@settings(max_examples=300, deadline=None)
@given(raw=spans, data=st.data())
def test_any_order_of_approvals_and_settlements_ends_with_the_set_count(
    raw: list[tuple[int, int, int]], data: st.DataObject
) -> None:
    attendances = attendances_of(raw)
    activities = {a: activity(a, span) for a, span in attendances.items()}
    order = data.draw(st.permutations(sorted(attendances)), label="approval order")
    days: dict[date, ServiceDay] = {}

    first_records: dict[str, date] = {}

    def settle(activity_id: str) -> None:
        state = activities[activity_id]
        credited = {
            day: (days.get(day) or ServiceDay("v-1", day)).credited.get(activity_id)
            for day in days_to_count(state, "v-1", POLICY)
        }
        events = settle_attendance(state, "v-1", credited, "org-1", "recounted", POLICY)
        for event in events:
            if isinstance(event, ServiceRecordIssued):
                first_records.setdefault(activity_id, event.service_date)
        activities[activity_id] = apply(state, events)

    for activity_id in order:
        state = activities[activity_id]
        to_count = days_to_count(state, "v-1", POLICY)
        # An approval counts its days concurrently: in any order.
        for day in data.draw(st.permutations(to_count), label=f"days of {activity_id}"):
            counted = days.get(day) or ServiceDay("v-1", day)
            span = state.attendance("v-1").interval
            for event in service_day.recount(counted, activity_id, span, POLICY):
                counted = service_day.evolve(counted, event)
            days[day] = counted
            # Some activities' records are settled now, from the days as they stand (the
            # approval's other days may not be counted yet).
            for settled in data.draw(st.sets(st.sampled_from(order)), label="settled now"):
                settle(settled)
    for activity_id in order:
        settle(activity_id)

    for day, counted in days.items():
        expected = credit_day(attendances, day, POLICY)
        assert counted.credited == expected
        bounds = day_bounds(day, POLICY.zone)
        on_day = [c for span in attendances.values() if (c := clip(span, bounds))]
        served = sum((s.end - s.start for s in merge_intervals(on_day)), timedelta(0))
        assert sum(expected.values()) == day_total(served, POLICY)
        for activity_id, minutes in expected.items():
            assert activities[activity_id].records[("v-1", day)].minutes == minutes
    # Each attendance's first record, where its turn-out counts, is its first local day's.
    for activity_id, span in attendances.items():
        assert first_records[activity_id] == local_days(span, POLICY.zone)[0]


@given(raw=spans)
def test_recounting_what_a_day_already_counts_changes_nothing(
    raw: list[tuple[int, int, int]],
) -> None:
    attendances = attendances_of(raw)
    day = ServiceDay("v-1", DAY)
    for activity_id, span in attendances.items():
        for event in service_day.recount(day, activity_id, span, POLICY):
            day = service_day.evolve(day, event)

    for activity_id, span in attendances.items():
        assert service_day.recount(day, activity_id, span, POLICY) == []
    assert all(minutes % POLICY.rounding_minutes == 0 for minutes in day.credited.values())
