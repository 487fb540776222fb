"""Hours rules as specifications: attendance spans in, credited minutes per local day out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from muster_contracts.areas import AreaLevel, load_area_tree
from muster_contracts.events import DomainEvent
from muster_contracts.events.activities import (
    AttendanceCheckedIn,
    AttendanceCheckedOut,
    AttendanceClosedByRule,
    AttendanceCorrected,
    NeverCheckedOutRule,
    PresenceProof,
    ServiceRecordAdjusted,
    ServiceRecordIssued,
)
from muster_dispatch.domain import service_day
from muster_dispatch.domain.activity import (
    Activity,
    ScheduleActivity,
    approve_hours,
    close_never_checked_out,
    correct_attendance,
    days_to_count,
    evolve,
    schedule_activity,
    settle_records,
)
from muster_dispatch.domain.hours import (
    HoursPolicy,
    Interval,
    credit_day,
    credited_minutes,
    star_rating,
)
from muster_dispatch.domain.service_day import ServiceDay

SHANGHAI = ZoneInfo("Asia/Shanghai")
POLICY = HoursPolicy()
DAY = date(2025, 3, 5)
NEXT_DAY = date(2025, 3, 6)


def at(hour: int, minute: int = 0, second: int = 0, day: date = DAY) -> datetime:
    """A local Shanghai time, as the UTC instant events carry."""
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=SHANGHAI).astimezone(
        UTC
    )


def span(start: datetime, end: datetime) -> Interval:
    return Interval(start, end)


def credit(*spans: Interval, policy: HoursPolicy = POLICY) -> dict[date, int]:
    return dict(credited_minutes(spans, policy).minutes_by_day)


def day_of(attendances: dict[str, Interval], day: date = DAY) -> dict[str, int]:
    """The day's attribution to activities from its approved attendances."""
    return credit_day(attendances, day, POLICY)


# --- actual time, rounded down -------------------------------------------------------------


def test_the_actual_time_between_check_in_and_check_out_is_credited() -> None:
    assert credit(span(at(9), at(11))) == {DAY: 120}


def test_time_is_rounded_down_to_the_half_hour() -> None:
    assert credit(span(at(9), at(10, 59, 59))) == {DAY: 90}
    assert credit(span(at(9), at(11, 29))) == {DAY: 120}


def test_a_check_out_exactly_on_a_rounding_boundary_keeps_the_boundary() -> None:
    assert credit(span(at(9), at(11, 30))) == {DAY: 150}
    assert credit(span(at(9, 0, 1), at(11, 30))) == {DAY: 120}


def test_seconds_count_towards_the_unit() -> None:
    # 29 min 40 s + nothing else: below one unit, credits nothing.
    assert credit(span(at(9, 0, 20), at(9, 30))) == {DAY: 0}
    # Exactly 30 minutes made of partial minutes still reach the unit.
    assert credit(span(at(9, 0, 20), at(9, 30, 20))) == {DAY: 30}


def test_the_rounding_unit_is_configurable() -> None:
    quarter = HoursPolicy(rounding_minutes=15)
    minute = HoursPolicy(rounding_minutes=1)

    assert credit(span(at(9), at(10, 59)), policy=quarter) == {DAY: 105}
    assert credit(span(at(9), at(10, 59, 59)), policy=minute) == {DAY: 119}


def test_empty_or_backwards_spans_credit_nothing() -> None:
    assert credit(span(at(9), at(9))) == {}
    assert credit(span(at(11), at(9))) == {}
    assert credited_minutes([], POLICY).total_minutes == 0


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        credit(span(datetime(2025, 3, 5, 9), datetime(2025, 3, 5, 11)))


# --- local days and the daily cap ----------------------------------------------------------


def test_crossing_midnight_splits_the_time_per_local_day() -> None:
    result = credited_minutes([span(at(22), at(3, day=NEXT_DAY))], POLICY)

    assert result.minutes_by_day == {DAY: 120, NEXT_DAY: 180}
    assert result.total_minutes == 300


def test_crossing_midnight_rounds_each_day_down_on_its_own() -> None:
    # 23:20-00:50: 40 min then 50 min, each down to 30; not 90 min down to 90.
    assert credit(span(at(23, 20), at(0, 50, day=NEXT_DAY))) == {DAY: 30, NEXT_DAY: 30}


def test_crossing_midnight_caps_each_day_on_its_own() -> None:
    # 14:00 to 10:00 the next day: 10 h then 10 h, each capped at 8 h.
    assert credit(span(at(14), at(10, day=NEXT_DAY))) == {DAY: 480, NEXT_DAY: 480}


def test_a_day_is_a_local_day_in_the_configured_time_zone() -> None:
    # 07:00-09:00 in Shanghai is 23:00-01:00 UTC: one Shanghai day, two UTC days.
    morning = span(at(7), at(9))

    assert credit(morning) == {DAY: 120}
    assert credit(morning, policy=HoursPolicy(timezone="UTC")) == {
        date(2025, 3, 4): 60,
        DAY: 60,
    }


def test_a_long_day_is_capped_at_eight_hours() -> None:
    assert credit(span(at(7), at(19))) == {DAY: 480}


def test_the_daily_cap_is_configurable() -> None:
    assert credit(span(at(7), at(19)), policy=HoursPolicy(daily_cap_minutes=600)) == {DAY: 600}


def test_the_daily_cap_applies_to_the_day_and_the_earlier_activity_is_credited_first() -> None:
    morning = span(at(8), at(14))
    evening = span(at(15), at(19))

    assert day_of({"evening": evening, "morning": morning}) == {"morning": 360, "evening": 120}


def test_two_six_hour_activities_on_a_day_credit_eight_hours() -> None:
    assert day_of({"a": span(at(7), at(13)), "b": span(at(13), at(19))}) == {"a": 360, "b": 120}


def test_the_cap_only_consumes_the_same_local_day() -> None:
    full_day = span(at(8), at(17))
    late = span(at(23), at(1, day=NEXT_DAY))

    assert day_of({"full": full_day, "late": late}) == {"full": 480, "late": 0}
    assert day_of({"full": full_day, "late": late}, NEXT_DAY) == {"late": 60}


def test_the_cap_is_applied_before_rounding_down() -> None:
    # 7 h 50 min, then 2 h more: the cap leaves 10 minutes, which round down to nothing.
    assert day_of({"a": span(at(7), at(14, 50)), "b": span(at(15), at(17))}) == {
        "a": 450,
        "b": 30,
    }


def test_the_worked_example_rounds_the_day_once() -> None:
    # README: 08:58-12:26 and 11:05-15:20 on one day. The union, 6 h 22 min, is 6.0 h; the
    # earlier activity is credited its 3 h 28 min rounded down (3.0 h), the later one what
    # it adds to the day (6.0 - 3.0 h). Rounding each record alone would give 3.0 + 2.5 h.
    a = span(at(8, 58), at(12, 26))
    b = span(at(11, 5), at(15, 20))

    assert day_of({"A": a, "B": b}) == {"A": 180, "B": 180}
    assert sum(day_of({"A": a, "B": b}).values()) == credit(a, b)[DAY] == 360


def test_activities_starting_together_are_ordered_by_id() -> None:
    assert day_of({"b": span(at(9), at(11)), "a": span(at(9), at(10))}) == {"a": 60, "b": 60}


def test_an_activity_with_no_time_on_the_day_is_left_out() -> None:
    assert day_of(
        {"a": span(at(9), at(11)), "tomorrow": span(at(9, day=NEXT_DAY), at(10, day=NEXT_DAY))}
    ) == {"a": 120}


# --- overlapping time counts once ----------------------------------------------------------


def test_overlapping_spans_of_one_activity_count_once() -> None:
    assert credit(span(at(9), at(11)), span(at(10), at(12))) == {DAY: 180}


def test_overlapping_activities_count_the_common_time_once() -> None:
    assert day_of({"first": span(at(9), at(12)), "second": span(at(11), at(13))}) == {
        "first": 180,
        "second": 60,
    }


def test_an_activity_inside_an_earlier_one_is_credited_nothing() -> None:
    assert day_of({"outer": span(at(9), at(12)), "inner": span(at(10), at(11))}) == {
        "outer": 180,
        "inner": 0,
    }


def test_time_around_a_later_activity_is_counted_with_it() -> None:
    # 08:45-12:15 around 09:00-12:00: 3 h 30 min served in all, the first activity's.
    assert day_of({"around": span(at(8, 45), at(12, 15)), "inside": span(at(9), at(12))}) == {
        "around": 210,
        "inside": 0,
    }


# --- through the activity: corrections after approval and the never-checked-out rule -------

AREAS = load_area_tree()
PLACE = AREAS.at_level(AreaLevel.COMMUNITY)[0].id


def scheduled(starts_at: datetime, ends_at: datetime) -> Activity:
    form = ScheduleActivity(
        drive_id="drive-1",
        title="Stairwell clean-up",
        place_area_id=PLACE,
        category="environment",
        starts_at=starts_at,
        ends_at=ends_at,
        capacity=10,
        assigned_volunteer_ids=("v-1",),
    )
    return apply(Activity("act-1"), schedule_activity(Activity("act-1"), form, b"k" * 32, AREAS))


def apply(state: Activity, events: list[DomainEvent]) -> Activity:
    for event in events:
        state = evolve(state, event)
    return state


def attended(state: Activity, check_in: datetime, check_out: datetime | None) -> Activity:
    events: list[DomainEvent] = [
        AttendanceCheckedIn(
            activity_id="act-1", volunteer_id="v-1", at=check_in, proof=PresenceProof.CODE
        )
    ]
    if check_out is not None:
        events.append(AttendanceCheckedOut(activity_id="act-1", volunteer_id="v-1", at=check_out))
    return apply(state, events)


Days = dict[tuple[str, date], ServiceDay]


def settled(state: Activity, days: Days | None = None) -> tuple[Activity, Days, list[DomainEvent]]:
    """What dispatch does after an approval or a correction, in memory: count the
    activity's attendance into the volunteer's days, then settle its records to them."""
    days = dict(days or {})
    events: list[DomainEvent] = []
    for day in days_to_count(state, "v-1", POLICY):
        current = days.get(("v-1", day)) or ServiceDay("v-1", day)
        for event in service_day.recount(
            current, "act-1", state.attendance("v-1").interval, POLICY
        ):
            current = service_day.evolve(current, event)
        days[("v-1", day)] = current
        events += settle_records(
            state, "v-1", day, current.credited.get("act-1"), "org-1", "recounted"
        )
    return apply(state, events), days, events


def approved(state: Activity, days: Days | None = None, at_: datetime | None = None) -> Activity:
    ends_at = state.scheduled.ends_at if state.scheduled else at(23)
    state = apply(state, approve_hours(state, "org-1", at_ or ends_at + timedelta(hours=1)))
    return settled(state, days)[0]


def corrected(state: Activity, *events: DomainEvent) -> list[DomainEvent]:
    return settled(apply(state, list(events)))[2]


def test_a_correction_after_approval_emits_the_delta_not_an_edit() -> None:
    state = approved(attended(scheduled(at(9), at(12)), at(9), at(11)))
    assert state.records[("v-1", DAY)].minutes == 120

    correction = correct_attendance(
        state, "v-1", None, at(12), "forgot to check out", "org-1", at(14)
    )
    events = corrected(state, *correction)

    assert [type(e) for e in correction] == [AttendanceCorrected]
    adjustment = events[-1]
    assert isinstance(adjustment, ServiceRecordAdjusted)
    assert adjustment.delta_minutes == 60
    assert adjustment.record_id == state.records[("v-1", DAY)].record_id


def test_a_correction_after_approval_can_lower_the_hours() -> None:
    state = approved(attended(scheduled(at(9), at(12)), at(9), at(12)))

    events = corrected(
        state, *correct_attendance(state, "v-1", at(10, 30), None, "arrived late", "org-1", at(14))
    )

    assert [e.delta_minutes for e in events if isinstance(e, ServiceRecordAdjusted)] == [-90]


def test_a_correction_after_approval_respects_the_cap_of_the_day() -> None:
    # Another activity approved the same day: 13:00-19:00, 6 hours.
    other = ServiceDay("v-1", DAY)
    for event in service_day.recount(other, "other", span(at(13), at(19)), POLICY):
        other = service_day.evolve(other, event)
    state = attended(scheduled(at(9), at(12)), at(9), at(11))
    state = apply(state, approve_hours(state, "org-1", at(20)))
    state, days, _ = settled(state, {("v-1", DAY): other})
    assert state.records[("v-1", DAY)].minutes == 120
    assert days[("v-1", DAY)].credited == {"act-1": 120, "other": 360}

    state = apply(
        state, correct_attendance(state, "v-1", None, at(12), "late check-out", "org-1", at(20))
    )
    state, days, events = settled(state, days)

    # 3 hours now, started first: act-1 is credited 3 h, the other activity the 5 h left.
    assert [e.delta_minutes for e in events if isinstance(e, ServiceRecordAdjusted)] == [60]
    assert days[("v-1", DAY)].credited == {"act-1": 180, "other": 300}


def test_a_correction_after_approval_into_a_new_day_issues_a_record_for_it() -> None:
    state = approved(attended(scheduled(at(20), at(23, 30)), at(20), at(23, 30)), at_=at(23, 45))

    events = corrected(
        state,
        *correct_attendance(
            state, "v-1", None, at(1, day=NEXT_DAY), "stayed to help", "org-1", at(2, day=NEXT_DAY)
        ),
    )

    adjusted = [e for e in events if isinstance(e, ServiceRecordAdjusted)]
    issued = [e for e in events if isinstance(e, ServiceRecordIssued)]
    assert [(e.service_date, e.delta_minutes) for e in adjusted] == [(DAY, 30)]
    assert [(e.service_date, e.minutes) for e in issued] == [(NEXT_DAY, 60)]


def test_a_correction_off_a_day_adjusts_its_record_to_zero() -> None:
    state = approved(
        attended(scheduled(at(20), at(23, 30)), at(23), at(1, day=NEXT_DAY)),
        at_=at(2, day=NEXT_DAY),
    )
    assert state.records[("v-1", NEXT_DAY)].minutes == 60

    events = corrected(
        state,
        *correct_attendance(
            state,
            "v-1",
            None,
            at(0, day=NEXT_DAY),
            "left at midnight",
            "org-1",
            at(3, day=NEXT_DAY),
        ),
    )

    assert [
        (e.service_date, e.delta_minutes) for e in events if isinstance(e, ServiceRecordAdjusted)
    ] == [(NEXT_DAY, -60)]


def test_an_approved_attendance_that_rounds_to_zero_still_has_a_record() -> None:
    state = approved(attended(scheduled(at(9), at(12)), at(9), at(9, 20)))

    assert state.records[("v-1", DAY)].minutes == 0


def test_never_checked_out_is_credited_the_scheduled_end_when_so_configured() -> None:
    policy = HoursPolicy(never_checked_out_rule=NeverCheckedOutRule.CREDIT_SCHEDULED_END)
    state = attended(scheduled(at(9), at(12)), at(9, 10), None)

    closed = close_never_checked_out(state, at(14), policy)
    state = approved(apply(state, closed), at_=at(14))

    assert closed == [
        AttendanceClosedByRule(
            activity_id="act-1",
            volunteer_id="v-1",
            rule=NeverCheckedOutRule.CREDIT_SCHEDULED_END,
            check_out_at=at(12),
        )
    ]
    assert [r.minutes for r in state.records.values()] == [150]


def test_never_checked_out_is_flagged_and_credits_nothing_by_default() -> None:
    state = attended(scheduled(at(9), at(12)), at(9), None)

    state = apply(state, close_never_checked_out(state, at(14), POLICY))
    state = approved(state, at_=at(14))

    assert state.attendances["v-1"].closed_by_rule is NeverCheckedOutRule.FLAG_FOR_REVIEW
    assert state.records == {}


def test_never_checked_out_waits_for_the_grace_period() -> None:
    state = attended(scheduled(at(9), at(12)), at(9), None)

    assert close_never_checked_out(state, at(13, 59), POLICY) == []
    assert close_never_checked_out(state, at(12, 30), HoursPolicy(grace_minutes=30)) != []


# --- star rating ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hours", "stars"),
    [
        (0, 0),
        (99, 0),
        (100, 1),
        (299, 1),
        (300, 2),
        (600, 3),
        (999, 3),
        (1000, 4),
        (1500, 5),
        (9000, 5),
    ],
)
def test_stars_follow_the_default_thresholds(hours: int, stars: int) -> None:
    assert star_rating(hours * 60) == stars


def test_a_star_needs_the_full_threshold_to_the_minute() -> None:
    assert star_rating(100 * 60 - 1) == 0


def test_star_thresholds_are_configurable() -> None:
    assert star_rating(50 * 60, (10, 50, 80)) == 2
    assert (
        star_rating(50 * 60, HoursPolicy(star_thresholds_hours=(10, 20)).star_thresholds_hours) == 2
    )


@pytest.mark.parametrize("thresholds", [(300, 100), (100, 100), (0, 100)])
def test_star_thresholds_must_ascend(thresholds: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="ascending"):
        star_rating(0, thresholds)
    with pytest.raises(ValidationError):
        HoursPolicy(star_thresholds_hours=thresholds)


# --- the policy itself ---------------------------------------------------------------------


def test_the_default_policy_is_the_districts() -> None:
    assert POLICY.rounding_minutes == 30
    assert POLICY.daily_cap_minutes == 480
    assert POLICY.timezone == "Asia/Shanghai"
    assert POLICY.grace_minutes == 120
    assert POLICY.local_day(datetime(2025, 3, 5, 16, 30, tzinfo=UTC)) == NEXT_DAY


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ValidationError, match="unknown time zone"):
        HoursPolicy(timezone="Mars/Olympus_Mons")


def test_a_policy_is_immutable() -> None:
    with pytest.raises(ValidationError):
        POLICY.rounding_minutes = 15  # type: ignore[misc]


def test_time_around_dst_is_counted_as_elapsed_time() -> None:
    # Europe/Berlin springs forward at 02:00 on 2025-03-30: 01:00-04:00 local is 2 hours.
    berlin = ZoneInfo("Europe/Berlin")
    start = datetime(2025, 3, 30, 1, tzinfo=berlin)
    end = datetime(2025, 3, 30, 4, tzinfo=berlin)

    assert credit(span(start, end), policy=HoursPolicy(timezone="Europe/Berlin")) == {
        date(2025, 3, 30): 120
    }
    assert end - start == timedelta(hours=3)  # the naive wall-clock gap the rules must not use
