"""Activities not held yet: scheduled, neither approved nor cancelled, and where they stand
at the moment of a query — upcoming (not started), in progress (started, not ended) or
awaiting approval (ended, not approved).

Why a list per area, not counters: which of the three an activity is in changes with the
clock, not with any event, so no counter updated by events can hold it. What can is the
pending activities' start and end: one document per area (`_id` = the area's id) lists the
activities pending anywhere beneath it, each with its start, end, local start day, the
child area it lies under, category, drive and team. A report reads the area's one document
by `_id` and sorts its activities by the query's instant, period and filter (`split`):
exact at any moment, with no sweep and no query on another field. An activity enters the
lists of its place's areas when scheduled and leaves them when approved or cancelled, so
a list holds only what is pending there (what organisers have yet to hold or approve),
and its activities are packed in one compressed value, as counter cells are.

The total of pending activities is also a counter of the service rollup's cells
(`activities_scheduled`: +1 at scheduling, -1 at approval or cancellation), so it has an
as-of history like every counted figure; its split by the clock is for the present only.

Writes are exact under redelivery and beside other writers as the packed cells are: each
document keeps a high-water offset per source partition (an event at or below it changed
the document already) and a version its next write is guarded by. The lists' storage is
the store's (`ports.PendingLists`; the document store's in `adapters/pending_lists.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

from muster_runtime.projections import ConsumedEvent

STAGES = ("upcoming", "in_progress", "awaiting_approval")


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def microseconds(at: datetime) -> int:
    """An instant as whole microseconds since the epoch (exact, unlike a float)."""
    return (at - EPOCH) // MICROSECOND


class PendingActivity(NamedTuple):
    """An activity scheduled and not yet approved or cancelled, as one area lists it: plain
    values, as stored, so a report sorts thousands without parsing a date."""

    starts: int  # microseconds since the epoch
    ends: int
    day: str  # its local start day (ISO): the periods it belongs to
    child: str | None  # the child area it lies under (None: placed at the area itself)
    category: str | None = None
    drive_id: str | None = None
    team_id: str | None = None

    @classmethod
    def at(
        cls,
        starts_at: datetime,
        ends_at: datetime,
        day: date,
        child: str | None,
        category: str | None = None,
        drive_id: str | None = None,
        team_id: str | None = None,
    ) -> PendingActivity:
        return cls(
            microseconds(starts_at),
            microseconds(ends_at),
            day.isoformat(),
            child,
            category,
            drive_id,
            team_id,
        )

    def stage(self, now: datetime) -> str:
        """Where it stands at `now`: upcoming, in progress or awaiting approval."""
        return self.stage_at(microseconds(now))

    def stage_at(self, now: int) -> str:
        if now < self.starts:
            return "upcoming"
        if now < self.ends:
            return "in_progress"
        return "awaiting_approval"

    def matches(self, only: tuple[str, str] | None) -> bool:
        """In the report's filter (`("category" | "drives" | "teams", value)`), if any."""
        if only is None:
            return True
        dimension, value = only
        own = {"category": self.category, "drives": self.drive_id, "teams": self.team_id}
        return own.get(dimension) == value


def in_period(period: str | None) -> Callable[[str], bool]:
    """Whether a local day (ISO) is in `period` (all time, a year, ISO week, month or day),
    without parsing the day (pure)."""
    if period is None:
        return lambda day: True
    if "-W" in period:
        monday = date.fromisocalendar(int(period[:4]), int(period[6:]), 1)
        first, last = monday.isoformat(), (monday + timedelta(days=6)).isoformat()
        return lambda day: first <= day <= last
    return lambda day: day[: len(period)] == period


class PendingChange(NamedTuple):
    """An event adding an activity to an area's list (`activity` set) or removing it (None)."""

    event: ConsumedEvent
    area_id: str
    activity_id: str
    activity: PendingActivity | None


def split(
    pending: Iterable[PendingActivity],
    now: datetime,
    period: str | None,
    child_ids: Sequence[str],
    only: tuple[str, str] | None = None,
) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """The pending activities of an area's period by stage at `now` (pure): the area's and
    each child's (`upcoming`, `in_progress`, `awaiting_approval`)."""
    area = dict.fromkeys(STAGES, 0)
    children = {child: dict.fromkeys(STAGES, 0) for child in child_ids}
    now_us, wanted = microseconds(now), in_period(period)
    for activity in pending:
        if not wanted(activity.day) or not activity.matches(only):
            continue
        stage = activity.stage_at(now_us)
        area[stage] += 1
        if activity.child in children:
            children[activity.child][stage] += 1
    return area, children


@dataclass
class Listed:
    """An area's list: its activities by id, its marks per source, and the version a store
    guards its next write by."""

    activities: dict[str, list[Any]] = field(default_factory=dict)
    hwm: dict[str, int] = field(default_factory=dict)
    version: int | None = None  # None: not stored yet

    def pending(self) -> list[PendingActivity]:
        return [PendingActivity(*a) for a in self.activities.values()]


def apply_above_marks(changes: Sequence[PendingChange], lists: dict[str, Listed]) -> set[str]:
    """Apply each change above its list's marks as they were before the call (an event
    applied by an earlier call is not applied again; a list not in `lists` yet is added
    empty); returns the lists changed."""
    raised: dict[tuple[str, str], int] = {}
    for change in changes:
        listed = lists.setdefault(change.area_id, Listed())
        source, offset = change.event.source, change.event.offset
        if offset <= listed.hwm.get(source, -1):
            continue
        if change.activity is None:
            listed.activities.pop(change.activity_id, None)
        else:
            listed.activities[change.activity_id] = list(change.activity)
        key = (change.area_id, source)
        raised[key] = max(raised.get(key, -1), offset)
    for (area_id, source), offset in raised.items():
        lists[area_id].hwm[source] = offset
    return {area_id for area_id, _ in raised}
