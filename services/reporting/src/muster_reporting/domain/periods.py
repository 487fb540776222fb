"""Report periods: all time, a year, an ISO week, a month or a day, in the reporting time zone.

A figure counts in every period containing the local day it belongs to, so a period is
read from one cell, never summed from smaller ones (unique volunteers do not add up).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

PERIOD_PATTERN = r"^\d{4}(-\d{2}(-\d{2})?|-W\d{2})?$"
PERIOD_DESCRIPTION = (
    "A year (`2026`), ISO week (`2026-W48`), month (`2026-11`) or day (`2026-11-27`) in the "
    "reporting time zone; default all time."
)
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


def periods_of(day: date) -> tuple[str | None, ...]:
    """Every period a local day belongs to: all time, its year, ISO week, month and itself."""
    iso = day.isocalendar()
    return (
        None,
        f"{day.year:04d}",
        f"{iso.year:04d}-W{iso.week:02d}",
        day.isoformat()[:7],
        day.isoformat(),
    )


def cell_id(area_id: str, period: str | None) -> str:
    """The id of an (area, period) cell: the area's for all time."""
    return area_id if period is None else f"{area_id}|{period}"


def check_period(period: str) -> str:
    """The period if it names a real one (`2026-02-30` and `2025-W53` do not), else ValueError."""
    problem = f"{period!r} is not a year, ISO week, month or day"
    if not re.match(PERIOD_PATTERN, period):
        raise ValueError(problem)
    week = _WEEK.match(period)
    try:
        if week:
            date.fromisocalendar(int(week[1]), int(week[2]), 1)
        elif len(period) == 7:
            date.fromisoformat(f"{period}-01")
        elif len(period) == 10:
            date.fromisoformat(period)
    except ValueError:
        raise ValueError(f"{problem} that exists") from None
    return period


def local_day(at: datetime | str, zone: ZoneInfo) -> date:
    """The day an instant falls on in `zone`."""
    instant = datetime.fromisoformat(at) if isinstance(at, str) else at
    return instant.astimezone(zone).date()
