"""The counting rules as written (notes/HOURS-RULE.md, README, issue 19 section 2), computed
from what the generator sent and was told, with this module's own code.

Hours, per volunteer and local day D (Asia/Shanghai): the approved, non-cancelled
attendances [check-in, check-out) clipped to D; the day's total is R(union), where
R(x) = floor_to_30(min(whole minutes of x, 480)); the activities of the day, ordered by
(clipped start, activity id), get line_i = R(cum_i) - R(cum_{i-1}), cum_i the union of the
first i. A record exists for every approved attendance on every local day it touches, 0
minutes included. A turn-out per (volunteer, approved activity), on the attendance's first
local day; unique volunteers: those with a record.

Reports: activities held are the approved ones, on their local start day; cancelled never
count as held (they are their own figure); beneficiaries only of approved activities;
scheduled-but-not-approved activities are reported apart. Registered volunteers count in
their home area and every area above it, once per category they hold.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

ZONE = ZoneInfo("Asia/Shanghai")
# An area's id is its parent's id plus more digits: city, district, street, community,
# grid, building.
LEVEL_LENGTHS = (4, 6, 9, 12, 14, 16)
DAILY_CAP_MINUTES = 480
ROUNDING_MINUTES = 30
CATEGORIES = ("party_member", "in_service_party_member", "resident", "student", "company_staff")
# One filter at a time: (query parameter, value).
Filter = tuple[str, str] | None


def lineage(area_id: str) -> list[str]:
    """The area and every area above it, top first."""
    return [area_id[:n] for n in LEVEL_LENGTHS if n <= len(area_id)]


def local_day(at: datetime) -> date:
    return at.astimezone(ZONE).date()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, dtime(0), tzinfo=ZONE).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), dtime(0), tzinfo=ZONE).astimezone(UTC)
    return start, end


def periods_of(day: date) -> list[str]:
    """The year, ISO week, month and day a local day belongs to."""
    iso = day.isocalendar()
    return [str(day.year), f"{iso.year}-W{iso.week:02d}", day.isoformat()[:7], day.isoformat()]


def rounded(whole_minutes: int) -> int:
    """R: capped at the daily maximum, then down to the rounding unit."""
    capped = min(whole_minutes, DAILY_CAP_MINUTES)
    return capped - capped % ROUNDING_MINUTES


def union_length(spans: Iterable[tuple[datetime, datetime]]) -> timedelta:
    total = timedelta(0)
    reach: datetime | None = None
    for start, end in sorted(spans):
        if reach is None or start > reach:
            total += end - start
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total


def whole_minutes(span: timedelta) -> int:
    return span // timedelta(minutes=1)


@dataclass
class Activity:
    key: str
    place: str
    category: str
    drive_id: str | None
    team_id: str | None
    starts_at: datetime
    ends_at: datetime
    activity_id: str = ""
    cancelled: bool = False
    approved: bool = False
    beneficiaries: dict[str, int] = field(default_factory=dict)  # the latest counts

    @property
    def start_day(self) -> date:
        return local_day(self.starts_at)


@dataclass
class Attendance:
    """Effective times: a correction wins over the volunteer's own check-in or check-out."""

    activity: Activity
    volunteer_id: str
    check_in: datetime | None = None
    check_out: datetime | None = None

    @property
    def interval(self) -> tuple[datetime, datetime] | None:
        if self.check_in is None or self.check_out is None or self.check_out <= self.check_in:
            return None
        return self.check_in, self.check_out


@dataclass(frozen=True)
class Volunteer:
    volunteer_id: str
    home: str
    categories: tuple[str, ...]


@dataclass(frozen=True)
class Record:
    volunteer_id: str
    activity: Activity
    day: date
    minutes: int


def credited(attendances: Iterable[Attendance]) -> list[Record]:
    """Every service record the approved attendances earn, by the hours rule."""
    by_volunteer: dict[str, list[tuple[Activity, tuple[datetime, datetime]]]] = defaultdict(list)
    for attendance in attendances:
        activity = attendance.activity
        interval = attendance.interval
        if activity.approved and not activity.cancelled and interval is not None:
            by_volunteer[attendance.volunteer_id].append((activity, interval))
    records = []
    for volunteer_id, served in by_volunteer.items():
        days: set[date] = set()
        for _, (start, end) in served:
            day = local_day(start)
            while day_bounds(day)[0] < end:
                days.add(day)
                day += timedelta(days=1)
        for day in sorted(days):
            low, high = day_bounds(day)
            clipped = [
                (max(start, low), min(end, high), activity)
                for activity, (start, end) in served
                if max(start, low) < min(end, high)
            ]
            clipped.sort(key=lambda c: (c[0], c[2].activity_id))
            before = 0
            for i, (_, _, activity) in enumerate(clipped):
                cumulative = rounded(
                    whole_minutes(union_length((s, e) for s, e, _ in clipped[: i + 1]))
                )
                records.append(Record(volunteer_id, activity, day, cumulative - before))
                before = cumulative
    return records


def turnouts(attendances: Iterable[Attendance]) -> list[tuple[str, Activity, date]]:
    """One per (volunteer, approved activity) with an approved attendance, on its first day."""
    return [
        (a.volunteer_id, a.activity, local_day(a.interval[0]))
        for a in attendances
        if a.activity.approved and not a.activity.cancelled and a.interval is not None
    ]


PENDING_STAGES = ("upcoming", "in_progress", "awaiting_approval")


def pending_status(activity: Activity, now: datetime) -> str:
    """Where a scheduled, not cancelled, not approved activity stands at `now`."""
    if now < activity.starts_at:
        return "upcoming"
    if now < activity.ends_at:
        return "in_progress"
    return "awaiting_approval"


@dataclass
class Cell:
    activities: int = 0
    cancelled: int = 0
    turnouts: int = 0
    minutes: int = 0
    volunteers: set[str] = field(default_factory=set)
    beneficiaries: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    drives: set[str] = field(default_factory=set)
    teams: set[str] = field(default_factory=set)
    minutes_by_category: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    pending: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class Expected:
    """Every report figure the rules give for what the generator recorded."""

    def __init__(
        self,
        volunteers: Iterable[Volunteer],
        activities: Iterable[Activity],
        attendances: Iterable[Attendance],
        now: datetime,
    ) -> None:
        self.volunteers = list(volunteers)
        self.activities = list(activities)
        self.attendances = list(attendances)
        self.records = credited(self.attendances)
        self.turnouts = turnouts(self.attendances)
        self._cells: dict[tuple[str, str | None, Filter], Cell] = defaultdict(Cell)
        self.service_periods: dict[str, set[str | None]] = defaultdict(lambda: {None})
        self.filters: set[tuple[str, str]] = set()
        for activity in self.activities:
            for cell in self._cells_of(activity, activity.start_day):
                if activity.cancelled:
                    cell.cancelled += 1
                elif activity.approved:
                    cell.activities += 1
                    for group, n in activity.beneficiaries.items():
                        cell.beneficiaries[group] += n
                    if activity.drive_id:
                        cell.drives.add(activity.drive_id)
                    if activity.team_id:
                        cell.teams.add(activity.team_id)
                else:
                    cell.pending[pending_status(activity, now)] += 1
        for _, activity, day in self.turnouts:
            for cell in self._cells_of(activity, day):
                cell.turnouts += 1
        for record in self.records:
            for cell in self._cells_of(record.activity, record.day):
                cell.minutes += record.minutes
                cell.volunteers.add(record.volunteer_id)
                cell.minutes_by_category[record.activity.category] += record.minutes
        self.registered: dict[str, list[Volunteer]] = defaultdict(list)
        for volunteer in self.volunteers:
            for area in lineage(volunteer.home):
                self.registered[area].append(volunteer)

    def _cells_of(self, activity: Activity, day: date) -> list[Cell]:
        filters: list[Filter] = [None, ("category", activity.category)]
        if activity.drive_id:
            filters.append(("drive_id", activity.drive_id))
        if activity.team_id:
            filters.append(("team_id", activity.team_id))
        self.filters.update(f for f in filters if f is not None)
        cells: list[Cell] = []
        for area in lineage(activity.place):
            self.service_periods[area].update(periods_of(day))
            for period in (None, *periods_of(day)):
                cells.extend(self._cells[(area, period, only)] for only in filters)
        return cells

    def service_row(self, area: str, period: str | None, only: Filter) -> dict[str, Any]:
        cell = self._cells.get((area, period, only)) or Cell()
        dimension = only[0] if only else None
        return {
            "activities": cell.activities,
            "cancelled": cell.cancelled,
            "turnouts": cell.turnouts,
            "volunteers": None if only else len(cell.volunteers),
            "hours": cell.minutes / 60,
            "beneficiaries": sum(cell.beneficiaries.values()),
            "beneficiaries_by_group": {g: n for g, n in cell.beneficiaries.items() if n},
            "drives_active": len(cell.drives) if dimension in (None, "drive_id") else None,
            "teams_active": len(cell.teams) if dimension in (None, "team_id") else None,
            "hours_by_category": {c: m / 60 for c, m in cell.minutes_by_category.items() if m}
            if dimension in (None, "category")
            else None,
        }

    def pending_row(self, area: str, period: str | None, only: Filter) -> dict[str, int]:
        """Activities not held yet (scheduled, neither approved nor cancelled), by stage."""
        cell = self._cells.get((area, period, only)) or Cell()
        stages = {f"activities_{s}": cell.pending.get(s, 0) for s in PENDING_STAGES}
        return {"activities_scheduled": sum(stages.values())} | stages

    def volunteers_row(self, area: str) -> dict[str, Any]:
        living = self.registered.get(area, [])
        by_category: dict[str, int] = defaultdict(int)
        for volunteer in living:
            for category in volunteer.categories:
                by_category[category] += 1
        return {"registered": len(living), "by_category": dict(by_category)}
