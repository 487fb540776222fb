"""Recurring activities: a weekly patrol every Saturday 08:00–10:00 until a date.

A series is a rule that yields occurrences; each occurrence is scheduled as its own
activity (`activity.scheduled` with the series' id and its number), so it can be amended
or cancelled alone. The first occurrence's `starts_at` and `ends_at` give the local time
of day and the duration; each later occurrence is at the same wall-clock time in the
district's time zone on the weekdays chosen, every `every_weeks` weeks, until `until`
(inclusive, a local date).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from muster_dispatch.domain.activity import ActivityRuleError

MAX_OCCURRENCES = 120  # a weekly series of a little over two years; a daily one of four months


class Recurrence(BaseModel):
    """How a series repeats."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weekdays: tuple[int, ...] = Field(
        min_length=1,
        max_length=7,
        description="ISO weekdays the activity is held on: 1 Monday … 7 Sunday.",
    )
    every_weeks: int = Field(default=1, ge=1, le=4, description="1 weekly, 2 fortnightly, …")
    until: date = Field(description="The last local date an occurrence may fall on.")

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 1 <= day <= 7 for day in value):
            raise ValueError("weekdays are 1 (Monday) to 7 (Sunday)")
        return tuple(sorted(set(value)))


def occurrences(
    starts_at: AwareDatetime, ends_at: datetime, rule: Recurrence, timezone: str
) -> list[tuple[datetime, datetime]]:
    """Each occurrence's start and end, in order, the first at `starts_at`."""
    if ends_at <= starts_at:
        raise ActivityRuleError("ends_at", "ends_after_start", "an activity ends after it starts")
    zone = ZoneInfo(timezone)
    first = starts_at.astimezone(zone)
    if first.isoweekday() not in rule.weekdays:
        raise ActivityRuleError(
            "repeat.weekdays",
            "first_on_a_weekday",
            f"the first occurrence falls on weekday {first.isoweekday()}, which the series "
            f"does not repeat on ({', '.join(map(str, rule.weekdays))})",
        )
    if rule.until < first.date():
        raise ActivityRuleError(
            "repeat.until", "until_after_first", "the series ends before its first occurrence"
        )
    duration = ends_at - starts_at
    at = first.timetz().replace(tzinfo=None)
    week_of_first = first.date() - timedelta(days=first.isoweekday() - 1)
    found: list[tuple[datetime, datetime]] = []
    day = first.date()
    while day <= rule.until:
        weeks = (day - week_of_first).days // 7
        if day.isoweekday() in rule.weekdays and weeks % rule.every_weeks == 0:
            if len(found) == MAX_OCCURRENCES:
                raise ActivityRuleError(
                    "repeat.until",
                    "max_occurrences",
                    f"a series holds at most {MAX_OCCURRENCES} occurrences: end it sooner",
                )
            start = _local(day, at, zone)
            found.append((start, start + duration))
        day += timedelta(days=1)
    return found


def _local(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The wall-clock time `at` on `day` in `zone` (the earlier one where a clock goes back)."""
    return datetime.combine(day, at, tzinfo=zone)
