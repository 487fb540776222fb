"""Service-hours rules: from attendance intervals to approved minutes per local day, and stars.

Pure and configurable through `HoursPolicy`; minutes are whole integers so sums stay exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
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
class CreditLedger:
    """What one volunteer has already been credited by *other* activities' approved records.

    `minutes_by_day`: approved minutes per local day (records plus adjustments) — they consume
    the daily cap first. `intervals`: the attendance spans of those activities — time
    overlapping them was already counted and is not counted again.
    """

    minutes_by_day: Mapping[date, int] = field(default_factory=dict)
    intervals: tuple[Interval, ...] = ()


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


def credited_minutes(
    intervals: Iterable[Interval],
    policy: HoursPolicy,
    ledger: CreditLedger | None = None,
) -> Credit:
    """Minutes to credit one volunteer for one activity, per local day.

    Args:
        intervals: the volunteer's attendance spans at the activity being approved (check-in
            to check-out; travel is never part of them).
        policy: rounding unit, daily cap and time zone.
        ledger: what other activities' approved records already credited this volunteer.

    The order of operations, always this one:

    1. Merge: the spans are joined into disjoint ones, so overlapping time counts once.
    2. Subtract: time covered by `ledger.intervals` is removed — overlapping activities
       count their common time once, for the activity approved first.
    3. Split: what remains is cut at local midnights of `policy.timezone`.
    4. Cap, per local day: at most `daily_cap_minutes - ledger.minutes_by_day[day]`
       (never below zero), so earlier approved records consume the cap first.
    5. Round down, per local day: whole minutes, then down to a multiple of
       `rounding_minutes` (a check-out exactly on a boundary keeps that boundary).

    Capping before rounding keeps every credited figure a multiple of the unit even when
    the cap's remainder is not.
    """
    ledger = ledger or CreditLedger()
    served = subtract_intervals(intervals, ledger.intervals)
    minutes_by_day: dict[date, int] = {}
    for day, duration in split_by_local_day(served, policy.zone).items():
        room = max(0, policy.daily_cap_minutes - ledger.minutes_by_day.get(day, 0))
        capped = min(duration // _MINUTE, room)
        minutes_by_day[day] = capped - capped % policy.rounding_minutes
    return Credit(minutes_by_day)
