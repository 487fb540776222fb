"""The periods of a service series: a range is checked before any period is built, so the
widest request is refused at once instead of building millions of days first."""

from __future__ import annotations

import tracemalloc
from datetime import date

import pytest

from muster_reporting.entrypoints.series import MAX_POINTS, periods
from muster_runtime.errors import MusterError

TODAY = date(2026, 12, 7)


def test_the_default_is_the_last_30_days_or_12_months() -> None:
    days = periods("day", None, None, TODAY)
    months = periods("month", None, None, TODAY)

    assert (days[0], days[-1], len(days)) == ("2026-11-08", "2026-12-07", 30)
    assert (months[0], months[-1], len(months)) == ("2026-01", "2026-12", 12)


def test_a_range_is_inclusive_and_may_cross_years() -> None:
    assert periods("month", "2025-11", "2026-02", TODAY) == [
        "2025-11",
        "2025-12",
        "2026-01",
        "2026-02",
    ]
    assert len(periods("day", "2024-01-01", "2024-12-31", TODAY)) == 366


@pytest.mark.parametrize(
    ("granularity", "first", "last", "code"),
    [
        ("day", "0001-01-01", "9999-12-31", "range_too_long"),
        ("month", "0001-01", "9999-12", "range_too_long"),
        ("day", "2026-12-07", "2026-12-06", "invalid_range"),
        ("day", "2026-13-01", None, "invalid_period"),
        ("month", "2026-1", None, "invalid_period"),
    ],
)
def test_bad_ranges_are_refused_with_their_reason(
    granularity: str, first: str, last: str | None, code: str
) -> None:
    with pytest.raises(MusterError) as refused:
        periods(granularity, first, last, TODAY)  # type: ignore[arg-type]

    assert refused.value.code == code


def test_the_widest_range_is_refused_before_any_period_is_built() -> None:
    tracemalloc.start()
    try:
        with pytest.raises(MusterError):
            periods("day", "0001-01-01", "9999-12-31", TODAY)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # Building the 3,652,059 days first took hundreds of megabytes; a refusal takes none.
    assert peak < 100_000
    assert MAX_POINTS < 10_000
