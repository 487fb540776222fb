"""A volunteer's notification preferences and the quiet-hours rule: which channels carry
which kinds of message, and when a message may go out on a channel that interrupts.

The inbox always holds every message (it makes no noise and is the record of what Muster
told the volunteer). Email and the organisations' webhook channels follow these rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from muster_notify.domain.messages import Language, MessageKind

DEFAULT_TIME_ZONE = "Asia/Shanghai"
DEFAULT_QUIET_START = time(22, 0)
DEFAULT_QUIET_END = time(7, 0)
# A time-bound message whose moment falls in quiet hours goes out this long before they begin.
BEFORE_QUIET = timedelta(minutes=1)


class Channel(StrEnum):
    """Where a message goes besides the inbox."""

    EMAIL = "email"  # to the volunteer's own address, if they gave one and consented
    WEBHOOK = "webhook"  # to the organisations' systems subscribed for the area (SMS, WeChat)


# Messages about a moment: worth nothing after it, so they never wait for quiet hours to end.
TIME_BOUND = frozenset({MessageKind.ACTIVITY_REMINDER, MessageKind.CHECK_IN_OPEN})


class PreferenceError(ValueError):
    """A preference that cannot be kept; `field` names it."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise PreferenceError(f"unknown time zone {name!r}", "time_zone") from exc


@dataclass(frozen=True)
class QuietHours:
    """Local times in the volunteer's zone; `start == end` means none. A window whose start
    is after its end spans midnight (the default 22:00-07:00)."""

    start: time = DEFAULT_QUIET_START
    end: time = DEFAULT_QUIET_END
    time_zone: str = DEFAULT_TIME_ZONE

    def __post_init__(self) -> None:
        zone_of(self.time_zone)
        for name, value in (("quiet_start", self.start), ("quiet_end", self.end)):
            if value.tzinfo is not None or value.second or value.microsecond:
                raise PreferenceError("a local time in whole minutes, HH:MM", name)

    @property
    def none(self) -> bool:
        return self.start == self.end

    def window_around(self, at: datetime) -> tuple[datetime, datetime] | None:
        """The quiet window holding the instant `at`, as aware instants; None outside one."""
        if self.none:
            return None
        zone = zone_of(self.time_zone)
        local = at.astimezone(zone)
        day = local.date()
        # The windows that can hold `at`: the one starting the day before and today's.
        for start_day in (day - timedelta(days=1), day):
            begins, ends = self._window_from(start_day, zone)
            if begins <= at < ends:
                return begins, ends
        return None

    def _window_from(self, start_day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
        end_day = start_day if self.start < self.end else start_day + timedelta(days=1)
        begins = datetime.combine(start_day, self.start, zone)
        ends = datetime.combine(end_day, self.end, zone)
        return begins, ends


@dataclass(frozen=True)
class Preferences:
    """Channels off per kind (everything is on unless turned off), language, quiet hours."""

    language: Language | None = None
    quiet: QuietHours = field(default_factory=QuietHours)
    off: frozenset[tuple[MessageKind, Channel]] = frozenset()

    def wants(self, kind: MessageKind, channel: Channel) -> bool:
        return (kind, channel) not in self.off

    def channels_for(self, kind: MessageKind) -> list[Channel]:
        return [c for c in Channel if self.wants(kind, c)]


def send_at(
    preferences: Preferences, kind: MessageKind, moment: datetime, planned_at: datetime
) -> datetime:
    """When a message of `kind` about `moment` goes out on an interrupting channel, planned
    at `planned_at`.

    Outside quiet hours it goes at its moment (or at once, if that has passed). Inside
    them, a time-bound message (a reminder, the check-in window) goes a minute before the
    quiet hours begin; if they had already begun when it was planned, it goes at its moment,
    since a reminder after the activity is worth nothing. Any other message waits until
    the quiet hours end.
    """
    at = max(moment, planned_at)
    window = preferences.quiet.window_around(at)
    if window is None:
        return at
    begins, ends = window
    if kind in TIME_BOUND:
        early = begins - BEFORE_QUIET
        return early if early >= planned_at else at
    return ends
