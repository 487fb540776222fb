"""Service-hours rules: from attendance intervals to approved minutes per local day, and stars.

Pure and configurable through `HoursPolicy`; minutes are whole integers so sums stay exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from muster_contracts.events.activities import NeverCheckedOutRule
from muster_contracts.stars import (
    DEFAULT_STAR_THRESHOLDS_HOURS,
    check_thresholds,
    star_rating,
)

__all__ = ["star_rating"]

_MINUTE = timedelta(minutes=1)


class HoursPolicy(BaseModel):
    """How hours are credited; every field is configuration, defaults are the district's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rounding_minutes: int = Field(default=30, ge=1, le=1440, description="Rounded down to.")
    daily_cap_minutes: int = Field(default=480, ge=0, le=1440)
    timezone: str = Field(default="Asia/Shanghai", description="Where a 'day' is counted.")
    # Flagging is the default: certified hours should rest on a recorded check-out.
    never_checked_out_rule: NeverCheckedOutRule = NeverCheckedOutRule.FLAG_FOR_REVIEW
    grace_minutes: int = Field(default=120, ge=0, description="After the scheduled end.")
    star_thresholds_hours: tuple[int, ...] = DEFAULT_STAR_THRESHOLDS_HOURS

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("star_thresholds_hours")
    @classmethod
    def _ascending(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        check_thresholds(value)
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)  # ZoneInfo caches instances per key

    def local_day(self, at: datetime) -> date:
        """The local calendar day of an instant in the policy's time zone."""
        return at.astimezone(self.zone).date()


class Interval(NamedTuple):
    """A span of time served, `[start, end)`, timezone-aware."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class Credit:
    """Minutes to credit per local day (every day the attendance touches, zeros included)."""

    minutes_by_day: Mapping[date, int]

    @property
    def total_minutes(self) -> int:
        return sum(self.minutes_by_day.values())


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at.isoformat()}: hours need timezone-aware times")
    # Differences between datetimes sharing one tzinfo ignore DST shifts; UTC has none.
    return at.astimezone(UTC)


def merge_intervals(intervals: Iterable[Interval]) -> list[Interval]:
    """The union of `intervals` as sorted, disjoint spans (touching spans are joined)."""
    spans = sorted(
        (Interval(_utc(i.start), _utc(i.end)) for i in intervals if _utc(i.end) > _utc(i.start)),
        key=lambda i: i.start,
    )
    merged: list[Interval] = []
    for span in spans:
        if merged and span.start <= merged[-1].end:
            last = merged[-1]
            merged[-1] = Interval(last.start, max(last.end, span.end))
        else:
            merged.append(span)
    return merged


def subtract_intervals(spans: Iterable[Interval], taken: Iterable[Interval]) -> list[Interval]:
    """The parts of `spans` not covered by `taken`, sorted and disjoint."""
    remaining = merge_intervals(spans)
    for cut in merge_intervals(taken):
        kept: list[Interval] = []
        for span in remaining:
            if cut.end <= span.start or cut.start >= span.end:
                kept.append(span)
                continue
            if span.start < cut.start:
                kept.append(Interval(span.start, cut.start))
            if cut.end < span.end:
                kept.append(Interval(cut.end, span.end))
        remaining = kept
    return remaining


def split_by_local_day(spans: Iterable[Interval], zone: ZoneInfo) -> dict[date, timedelta]:
    """Time served per local calendar day, split at local midnights, in day order."""
    by_day: dict[date, timedelta] = {}
    for span in merge_intervals(spans):
        cursor = span.start
        day = cursor.astimezone(zone).date()
        while cursor < span.end:
            next_midnight = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
            piece_end = min(span.end, next_midnight.astimezone(UTC))
            by_day[day] = by_day.get(day, timedelta(0)) + (piece_end - cursor)
            cursor = piece_end
            day += timedelta(days=1)
    return dict(sorted(by_day.items()))


def day_bounds(day: date, zone: ZoneInfo) -> Interval:
    """A local calendar day as an interval of instants (23 or 25 hours where clocks change)."""
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return Interval(start.astimezone(UTC), end.astimezone(UTC))


def local_days(interval: Interval, zone: ZoneInfo) -> list[date]:
    """The local days an attendance has time on, in order."""
    return list(split_by_local_day([interval], zone))


def clip(interval: Interval, bounds: Interval) -> Interval | None:
    """The part of `interval` inside `bounds`, or None if they share no time."""
    start, end = max(_utc(interval.start), bounds.start), min(_utc(interval.end), bounds.end)
    return Interval(start, end) if end > start else None


def credit_day(
    attendances: Mapping[str, Interval], day: date, policy: HoursPolicy
) -> dict[str, int]:
    """Minutes credited to each activity of one volunteer's local `day`, from the set of
    that day's approved attendances (activity id -> span), whatever order they came in.

    The day is counted once: the union of the attendances' time on that day (overlapping
    time counts once), in whole minutes, capped at `daily_cap_minutes`, rounded down to a
    multiple of `rounding_minutes` (`policy.day_total`). It is attributed to activities in
    the order they start (ties by activity id): each activity adds its time not covered by
    earlier-starting ones, and is credited what that addition adds to the rounded, capped
    total. So every activity's minutes are a multiple of the unit, and they add up to the
    day's total exactly. Activities with no time on the day are left out; activities whose
    time adds nothing (inside another's, past the cap, or under a unit) get 0.
    """
    bounds = day_bounds(day, policy.zone)
    on_day = {a: c for a, i in attendances.items() if (c := clip(i, bounds)) is not None}
    credited: dict[str, int] = {}
    covered: list[Interval] = []
    served = timedelta(0)
    total_before = 0
    for activity_id in sorted(on_day, key=lambda a: (on_day[a].start, a)):
        span = on_day[activity_id]
        served += sum((i.end - i.start for i in subtract_intervals([span], covered)), timedelta(0))
        covered.append(span)
        total = day_total(served, policy)
        credited[activity_id] = total - total_before
        total_before = total
    return credited


def day_total(served: timedelta, policy: HoursPolicy) -> int:
    """A day's credited minutes from its time served: whole minutes, capped, rounded down."""
    capped = min(served // _MINUTE, policy.daily_cap_minutes)
    return capped - capped % policy.rounding_minutes


def credited_minutes(intervals: Iterable[Interval], policy: HoursPolicy) -> Credit:
    """Minutes one activity's attendance earns per local day when no other approved
    activity shares its days (`credit_day` with one activity): time served on each day,
    overlaps counted once, capped and rounded down (every day touched, zeros included)."""
    return Credit(
        {
            day: day_total(duration, policy)
            for day, duration in split_by_local_day(intervals, policy.zone).items()
        }
    )
