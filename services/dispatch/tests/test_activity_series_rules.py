"""A recurring activity's occurrences: the same local time on the chosen weekdays, every
n weeks, until a date; the first where the organiser put it; bounded."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from muster_dispatch.domain.activity import ActivityRuleError
from muster_dispatch.domain.activity_series import MAX_OCCURRENCES, Recurrence, occurrences

SHANGHAI = ZoneInfo("Asia/Shanghai")
SATURDAY = datetime(2026, 12, 12, 8, 0, tzinfo=SHANGHAI)


def test_a_weekly_saturday_patrol_until_a_date() -> None:
    rule = Recurrence(weekdays=(6,), until=date(2027, 1, 9))

    found = occurrences(SATURDAY, SATURDAY + timedelta(hours=2), rule, "Asia/Shanghai")

    assert [s.astimezone(SHANGHAI).date() for s, _ in found] == [
        date(2026, 12, 12),
        date(2026, 12, 19),
        date(2026, 12, 26),
        date(2027, 1, 2),
        date(2027, 1, 9),
    ]
    assert {(s.astimezone(UTC).hour, e - s) for s, e in found} == {(0, timedelta(hours=2))}


def test_fortnightly_on_two_weekdays_counts_weeks_from_the_first() -> None:
    tuesday = datetime(2026, 12, 8, 19, 0, tzinfo=SHANGHAI)
    rule = Recurrence(weekdays=(2, 4), every_weeks=2, until=date(2026, 12, 31))

    found = occurrences(tuesday, tuesday + timedelta(minutes=90), rule, "Asia/Shanghai")

    assert [s.date() for s, _ in found] == [
        date(2026, 12, 8),
        date(2026, 12, 10),
        date(2026, 12, 22),
        date(2026, 12, 24),
    ]


def test_the_wall_clock_time_holds_across_a_change_of_summer_time() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    first = datetime(2027, 3, 20, 8, 0, tzinfo=berlin)  # the clocks go forward on 28 March
    rule = Recurrence(weekdays=(6,), until=date(2027, 4, 3))

    found = occurrences(first, first + timedelta(hours=2), rule, "Europe/Berlin")

    assert [s.astimezone(berlin).hour for s, _ in found] == [8, 8, 8]
    assert [s.astimezone(UTC).hour for s, _ in found] == [7, 7, 6]


@pytest.mark.parametrize(
    ("rule", "starts", "refusal"),
    [
        (Recurrence(weekdays=(7,), until=date(2027, 1, 1)), SATURDAY, "first_on_a_weekday"),
        (Recurrence(weekdays=(6,), until=date(2026, 12, 1)), SATURDAY, "until_after_first"),
        (
            Recurrence(weekdays=(1, 2, 3, 4, 5, 6, 7), until=date(2027, 12, 31)),
            SATURDAY,
            "max_occurrences",
        ),
    ],
)
def test_a_series_that_cannot_be_is_refused_by_name(
    rule: Recurrence, starts: datetime, refusal: str
) -> None:
    with pytest.raises(ActivityRuleError) as refused:
        occurrences(starts, starts + timedelta(hours=1), rule, "Asia/Shanghai")
    assert refused.value.rule == refusal


def test_weekdays_outside_1_to_7_are_refused() -> None:
    with pytest.raises(ValueError, match="weekdays"):
        Recurrence(weekdays=(0,), until=date(2027, 1, 1))


@given(
    first_day=st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 12, 31)),
    minute=st.integers(min_value=0, max_value=24 * 60 - 1),
    extra_days=st.sets(st.integers(min_value=1, max_value=7), max_size=6),
    every_weeks=st.integers(min_value=1, max_value=4),
    span_days=st.integers(min_value=0, max_value=200),
)
def test_every_occurrence_is_at_the_first_ones_local_time_in_order(
    first_day: date, minute: int, extra_days: set[int], every_weeks: int, span_days: int
) -> None:
    first = datetime(
        first_day.year,
        first_day.month,
        first_day.day,
        minute // 60,
        minute % 60,
        tzinfo=SHANGHAI,
    )
    rule = Recurrence(
        weekdays=tuple({first.isoweekday(), *extra_days}),
        every_weeks=every_weeks,
        until=first_day + timedelta(days=span_days),
    )
    found = _unless_too_many(first, rule)
    if found is None:
        return
    assert found[0][0] == first
    assert len(found) <= MAX_OCCURRENCES
    assert all(a[0] < b[0] for a, b in itertools.pairwise(found))
    for starts, ends in found:
        local = starts.astimezone(SHANGHAI)
        assert (local.hour, local.minute) == (first.hour, first.minute)
        assert local.isoweekday() in rule.weekdays
        assert ((local.date() - first_day).days + first.isoweekday() - 1) // 7 % every_weeks == 0
        assert local.date() <= rule.until
        assert ends - starts == timedelta(hours=1)


def _unless_too_many(first: datetime, rule: Recurrence) -> list[tuple[datetime, datetime]] | None:
    try:
        return occurrences(first, first + timedelta(hours=1), rule, "Asia/Shanghai")
    except ActivityRuleError as exc:
        if exc.rule != "max_occurrences":
            raise
        return None
