"""Leadership's reports over HTTP equal what a small generated district sent, exactly.

Volunteers register; activities in two streets over two local days (one of them just after
local midnight, the day before in UTC) are scheduled, attended (补签 times), counted for
beneficiaries (before approval, and amended after it), one is cancelled, most approved;
one that ended is never approved, one is under way and one is still to come (activities
not held yet: none of their attendances or beneficiaries count); then two approved records
are corrected. The test keeps its own ledger of what it sent and checks every report — by
area level, period, category, drive and team, the leaderboards, stars, registered
volunteers, and figures as of an instant before the corrections — against it. Then the
reporting read models are rebuilt from the log and every answer must be the same.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from muster_cli.sample import SampleVolunteers
from muster_contracts.areas import load_area_tree
from muster_contracts.envelope import Role
from tests.e2e.conftest import RunningSystem, next_minute
from tests.e2e.test_register_to_report import auth

SHANGHAI = ZoneInfo("Asia/Shanghai")
AREAS = load_area_tree()
DISTRICT = "130203"
STAR_HOURS = (1, 2, 3, 4, 5)  # small thresholds, so a short test earns stars


def _first_building(street: str) -> tuple[str, str, str]:
    community = AREAS.children(street)[0].id
    grid = AREAS.children(community)[0].id
    return community, grid, AREAS.children(grid)[0].id


C1, G1, B1 = _first_building("130203001")
C2, G2, B2 = _first_building("130203002")


@pytest.fixture(scope="module", autouse=True)
def small_star_thresholds() -> Iterator[None]:
    """Set before the module's services start (autouse fixtures come first in a scope)."""
    os.environ["MUSTER_STAR_THRESHOLDS_HOURS"] = json.dumps(STAR_HOURS)
    yield
    os.environ.pop("MUSTER_STAR_THRESHOLDS_HOURS", None)


@dataclass
class Planned:
    key: str
    day: date
    slot: tuple[int, int, int]  # local start hour, minute, length in minutes
    place: str
    category: str
    drive: str
    team: str | None
    served: dict[str, int]  # volunteer key → minutes (whole half hours: credited as is)
    beneficiaries: list[dict[str, int]] = field(default_factory=list)
    cancelled: bool = False
    approved: bool = True  # False: not held yet (its hours are never approved here)
    amended: dict[str, int] | None = None  # beneficiaries amended after approval
    activity_id: str = ""

    @property
    def held(self) -> bool:
        return self.approved and not self.cancelled

    @property
    def pending(self) -> bool:
        return not self.approved and not self.cancelled

    @property
    def last_beneficiaries(self) -> dict[str, int]:
        if self.amended is not None:
            return self.amended
        return self.beneficiaries[-1] if self.beneficiaries else {}

    def stage(self, now: datetime) -> str:
        if now < self.starts_at:
            return "activities_upcoming"
        if now < self.ends_at:
            return "activities_in_progress"
        return "activities_awaiting_approval"

    @property
    def starts_at(self) -> datetime:
        hour, minute, _ = self.slot
        local = datetime(self.day.year, self.day.month, self.day.day, hour, minute, tzinfo=SHANGHAI)
        return local.astimezone(UTC)

    @property
    def ends_at(self) -> datetime:
        return self.starts_at + timedelta(minutes=self.slot[2])


@dataclass
class Ledger:
    """What the test sent: the ground truth every report is checked against."""

    homes: dict[str, str]  # volunteer id → home building
    categories: dict[str, list[str]]
    activities: list[Planned]
    ids: dict[str, str]  # volunteer key → id
    corrections: dict[tuple[str, str], int] = field(
        default_factory=dict
    )  # (activity, key) → minutes

    def records(self, corrected: bool) -> list[tuple[Planned, str, int]]:
        out = []
        for activity in self.activities:
            if not activity.held:
                continue  # no approved attendance: no record
            for key, minutes in activity.served.items():
                if corrected:
                    minutes = self.corrections.get((activity.key, key), minutes)
                out.append((activity, self.ids[key], minutes))
        return out


def in_period(day: date, period: str | None) -> bool:
    iso = day.isocalendar()
    return period in (
        None,
        str(day.year),
        f"{iso.year}-W{iso.week:02d}",
        day.isoformat()[:7],
        day.isoformat(),
    )


def expected_service(
    ledger: Ledger,
    area: str,
    period: str | None,
    only: tuple[str, str] | None,
    corrected: bool,
    now: datetime | None = None,
) -> dict[str, Any]:
    """What a row must show, by the README's rules (`now`: the split of activities not held
    yet at that moment; None as of a past instant, where it is null)."""

    def counts(a: Planned) -> bool:
        if area not in AREAS.lineage_ids(a.place) or not in_period(a.day, period):
            return False
        if only is None:
            return True
        dimension, value = only
        return {"category": a.category, "drive_id": a.drive, "team_id": a.team}[dimension] == value

    here = [a for a in ledger.activities if counts(a)]
    records = [(a, v, m) for a, v, m in ledger.records(corrected) if counts(a)]
    beneficiaries: dict[str, int] = {}
    running = [a for a in here if a.held]
    for a in running:  # beneficiaries of activities held only
        for group, n in a.last_beneficiaries.items():
            if n:
                beneficiaries[group] = beneficiaries.get(group, 0) + n
    pending = [a for a in here if a.pending]
    stages = ("activities_upcoming", "activities_in_progress", "activities_awaiting_approval")
    hours_by_category: dict[str, float] = {}
    for a, _, m in records:
        hours_by_category[a.category] = hours_by_category.get(a.category, 0) + m / 60
    return {
        "activities": len(running),
        "activities_scheduled": len(pending),
        **{
            stage: None if now is None else sum(1 for a in pending if a.stage(now) == stage)
            for stage in stages
        },
        "cancelled": sum(1 for a in here if a.cancelled),
        "turnouts": len(records),
        "volunteers": None if only else len({v for _, v, _ in records}),
        "hours": sum(m for _, _, m in records) / 60,
        "beneficiaries": sum(beneficiaries.values()),
        "beneficiaries_by_group": beneficiaries,
        "drives_active": None
        if only and only[0] != "drive_id"
        else len({a.drive for a in running}),
        "teams_active": None
        if only and only[0] != "team_id"
        else len({a.team for a in running if a.team}),
        "hours_by_category": None
        if only and only[0] != "category"
        else {k: v for k, v in hours_by_category.items() if v},
    }


def _plan(today: date) -> tuple[list[Planned], dict[str, str]]:
    d1, d2 = today - timedelta(days=2), today - timedelta(days=1)
    under_way = (datetime.now(UTC) - timedelta(hours=1)).astimezone(SHANGHAI)
    am, pm, night = (9, 0, 180), (14, 0, 180), (0, 30, 120)  # night: 16:30 UTC the day before
    homes = {"v1": B1, "v2": B1, "v3": B1, "v4": B1, "v5": B2, "v6": B2, "v7": B2}
    activities = [
        Planned("a1", d1, am, B1, "elderly_care", "drive-a", "team-1",
                {"v1": 120, "v2": 90, "v3": 60},
                beneficiaries=[{"elderly": 12, "disabled": 2}, {"elderly": 10, "children": 3}]),
        Planned("a2", d1, pm, G1, "environment", "drive-a", "team-2", {"v1": 60, "v4": 150}),
        Planned("a3", d2, night, B2, "elderly_care", "drive-b", "team-3", {"v5": 60, "v6": 90},
                beneficiaries=[{"elderly": 7}]),
        Planned("a4", d2, am, B2, "education", "drive-b", None, {"v1": 180, "v5": 30},
                beneficiaries=[{"children": 8}], amended={"children": 9, "residents": 4}),
        Planned("a5", d2, pm, C1, "elderly_care", "drive-a", "team-1",
                {"v2": 120, "v3": 120, "v7": 60}),
        # Called off before it was held (an activity that has ended cannot be cancelled).
        Planned("a6", today + timedelta(days=1), pm, B1, "environment", "drive-a", "team-2",
                {"v4": 60}, cancelled=True),
        # Not held yet: over and never approved (its attendance and beneficiaries do not
        # count), under way, and to come.
        Planned("a7", d2, pm, B2, "environment", "drive-b", "team-3", {"v6": 60},
                beneficiaries=[{"residents": 20}], approved=False),
        Planned("a8", under_way.date(),
                (under_way.hour, under_way.minute, 180), G1, "elderly_care", "drive-b",
                "team-3", {}, beneficiaries=[{"children": 5}], approved=False),
        Planned("a9", today + timedelta(days=2), am, B1, "education", "drive-a", None, {},
                approved=False),
    ]  # fmt: skip
    return activities, homes


def _no_problems(problems: list[str]) -> None:
    assert not problems, "\n".join(problems[:6]) + f"\n… {len(problems)} in all"


def _eventually(check: Callable[[], list[str]], timeout: float = 90) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        problems = check()
        if not problems or time.monotonic() > deadline:
            return problems
        time.sleep(0.5)


def test_every_report_equals_what_the_district_sent_and_a_rebuild_changes_nothing(
    system: RunningSystem,
) -> None:
    volunteer = httpx.Client(base_url=system.urls["volunteer"], timeout=30)
    dispatch = httpx.Client(base_url=system.urls["dispatch"], timeout=30)
    reporting = httpx.Client(base_url=system.urls["reporting"], timeout=30)
    organiser, leader = auth(Role.ORGANISER), auth(Role.LEADER)
    before_everything = datetime.now(UTC)
    time.sleep(0.05)

    activities, homes = _plan(datetime.now(SHANGHAI).date())
    sample = SampleVolunteers(seed=2718)
    ids: dict[str, str] = {}
    categories: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for key, home in homes.items():
        body = sample.draw(home_area_id=home)
        headers = auth(Role.VOLUNTEER, subject=f"sum-{key}-{time.time_ns()}")
        registered = volunteer.post("/volunteers", json=body, headers=headers)
        assert registered.status_code == 201, registered.text
        ids[key] = registered.json()["volunteer_id"]
        categories[ids[key]] = body["categories"]
        names[ids[key]] = body["name"]
    ledger = Ledger({ids[k]: h for k, h in homes.items()}, categories, activities, ids)

    for planned in activities:
        scheduled = dispatch.post(
            "/activities",
            json={
                "drive_id": planned.drive,
                "team_id": planned.team,
                "title": f"活动 {planned.key}",
                "place_area_id": planned.place,
                "category": planned.category,
                "starts_at": planned.starts_at.isoformat(),
                "ends_at": planned.ends_at.isoformat(),
                "capacity": 10,
                "assigned_volunteer_ids": [ids[k] for k in planned.served],
            },
            headers=organiser,
        )
        assert scheduled.status_code == 201, scheduled.text
        planned.activity_id = scheduled.json()["activity_id"]
        path = f"/activities/{planned.activity_id}"
        for counts in planned.beneficiaries:
            body = {"counts": counts, "reason": "复核人数"}
            assert dispatch.post(f"{path}/beneficiaries", json=body, headers=organiser).is_success
        if planned.cancelled:
            assert dispatch.post(
                f"{path}/cancel", json={"reason": "下雨"}, headers=organiser
            ).is_success
            continue
        for key, minutes in planned.served.items():
            corrected = dispatch.post(
                f"{path}/attendances/{ids[key]}/correct",
                json={
                    "check_in_at": planned.starts_at.isoformat(),
                    "check_out_at": (planned.starts_at + timedelta(minutes=minutes)).isoformat(),
                    "reason": "纸质签到表",
                },
                headers=organiser,
            )
            assert corrected.status_code == 200, corrected.text
        if not planned.approved:
            continue
        approved = dispatch.post(f"{path}/approve", headers=organiser)
        assert approved.status_code == 200, approved.text
        if planned.amended is not None:
            body = {"counts": planned.amended, "reason": "审核后更正"}
            assert dispatch.post(f"{path}/beneficiaries", json=body, headers=organiser).is_success

    d1, d2 = activities[0].day, activities[2].day
    periods: list[str | None] = [None, str(d1.year), str(d2.year), d1.isoformat()[:7],
                                 d2.isoformat()[:7], d1.isoformat(), d2.isoformat()]  # fmt: skip
    for day in (d1, d2):
        iso = day.isocalendar()
        periods.append(f"{iso.year}-W{iso.week:02d}")
    periods = list(dict.fromkeys(periods))
    areas = [  # the leader's scope: the district and below
        a
        for a in dict.fromkeys(a for p in (B1, B2, G1, C1) for a in AREAS.lineage_ids(p))
        if AREAS.is_within(a, DISTRICT)
    ]
    filters = [("category", "elderly_care"), ("category", "education"), ("drive_id", "drive-a"),
               ("drive_id", "drive-b"), ("team_id", "team-1"), ("team_id", "team-3")]  # fmt: skip

    def service(params: dict[str, Any]) -> dict[str, Any]:
        response = reporting.get("/reports/service", params=params, headers=leader)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    days = [None, d1.isoformat(), d2.isoformat()]

    def service_problems(corrected: bool, as_of: datetime | None = None) -> list[str]:
        """Every period of the district; all time and each day at every level below it (the
        children's rows of each answer are checked too); each breakdown by all time and day."""
        problems = []
        queries: list[tuple[str, str | None, tuple[str, str] | None]] = [
            (area, period, None)
            for area in areas
            for period in (periods if area == DISTRICT else days)
        ]
        queries += [(DISTRICT, period, only) for period in days for only in filters]
        for area, period, only in queries:
            params: dict[str, Any] = {"area_id": area}
            if period:
                params["period"] = period
            if only:
                params[only[0]] = only[1]
            if as_of:
                params["as_of"] = as_of.isoformat()
            now = None if as_of else datetime.now(UTC)
            report = service(params)
            for row in [report["area"], *report["children"]]:
                want = expected_service(ledger, row["area_id"], period, only, corrected, now)
                got = {k: row[k] for k in want}
                if got != want:
                    problems.append(f"{row['area_id']} {period} {only} {as_of}: {got} != {want}")
        return problems

    def district_total(corrected: bool) -> Callable[[], list[str]]:
        """A cheap first check, polled: the district's all-time row."""

        def check() -> list[str]:
            want = expected_service(ledger, DISTRICT, None, None, corrected, datetime.now(UTC))
            row = service({"area_id": DISTRICT})["area"]
            return [] if {k: row[k] for k in want} == want else [f"district: {row}"]

        return check

    # Everything approved shows, exactly, at every level, period and breakdown.
    _no_problems(_eventually(district_total(corrected=False)))
    _no_problems(_eventually(lambda: service_problems(corrected=False), timeout=20))
    before_corrections = next_minute()  # as-of figures count to the minute

    # Two approved records corrected (补签 after approval): each changes by its delta.
    for key, activity_key, minutes in (("v1", "a1", 60), ("v5", "a4", 90)):
        planned = next(a for a in activities if a.key == activity_key)
        response = dispatch.post(
            f"/activities/{planned.activity_id}/attendances/{ids[key]}/correct",
            json={
                "check_out_at": (planned.starts_at + timedelta(minutes=minutes)).isoformat(),
                "reason": "更正签退时间",
            },
            headers=organiser,
        )
        assert response.status_code == 200, response.text
        ledger.corrections[(activity_key, key)] = minutes
    _no_problems(_eventually(district_total(corrected=True)))
    _no_problems(_eventually(lambda: service_problems(corrected=True), timeout=20))

    # As of the minute the corrections began, of the next one, and before anything at all;
    # each answer says which minute it is as of.
    _no_problems(service_problems(corrected=False, as_of=before_corrections))
    _no_problems(service_problems(corrected=True, as_of=before_corrections + timedelta(minutes=1)))
    asked = before_corrections + timedelta(seconds=59, microseconds=999_999)
    within = service({"area_id": DISTRICT, "as_of": asked.isoformat()})
    assert datetime.fromisoformat(within["as_of"]) == before_corrections
    assert (
        within["area"]
        == service({"area_id": DISTRICT, "as_of": before_corrections.isoformat()})["area"]
    )
    nothing = service({"area_id": DISTRICT, "as_of": before_everything.isoformat()})["area"]
    assert (nothing["activities"], nothing["turnouts"], nothing["hours"]) == (0, 0, 0)
    too_early = reporting.get(
        "/reports/service", params={"as_of": "2023-12-31T23:59:59Z"}, headers=leader
    )
    too_early_fields = [f["field"] for f in too_early.json()["error"]["fields"]]
    assert (too_early.status_code, too_early_fields) == (422, ["as_of"])
    # Each year since the history began is one read: an instant centuries ahead is refused.
    too_late = reporting.get(
        "/reports/service", params={"as_of": "6705-09-20T15:43:00Z"}, headers=leader
    )
    too_late_fields = [f["field"] for f in too_late.json()["error"]["fields"]]
    assert (too_late.status_code, too_late_fields) == (422, ["as_of"])

    # Leaderboards, stars and registered volunteers.
    def ranked_volunteers(area: str, period: str | None) -> list[tuple[str, float, int]]:
        minutes: dict[str, int] = {}
        turnouts: dict[str, int] = {}
        for a, v, m in ledger.records(corrected=True):
            if area in AREAS.lineage_ids(a.place) and in_period(a.day, period):
                minutes[v] = minutes.get(v, 0) + m
                turnouts[v] = turnouts.get(v, 0) + 1
        order = sorted(minutes, key=lambda v: (-minutes[v], v))
        return [(v, minutes[v] / 60, turnouts[v]) for v in order]

    def ranked_teams(area: str, period: str | None) -> list[tuple[str, float]]:
        minutes: dict[str, int] = {}
        for a, _, m in ledger.records(corrected=True):
            if a.team and area in AREAS.lineage_ids(a.place) and in_period(a.day, period):
                minutes[a.team] = minutes.get(a.team, 0) + m
        return sorted(((t, m / 60) for t, m in minutes.items()), key=lambda r: (-r[1], r[0]))

    def leaderboards() -> list[str]:
        problems = []
        for area, period in ((DISTRICT, None), ("130203001", d2.isoformat()), (B2, None)):
            params: dict[str, str | int] = {"area_id": area, "limit": 100}
            if period:
                params["period"] = period
            got = reporting.get("/reports/top-volunteers", params=params, headers=leader).json()
            rows = [(r["volunteer_id"], r["hours"], r["turnouts"]) for r in got["volunteers"]]
            if rows != ranked_volunteers(area, period):
                problems.append(f"top volunteers {area} {period}: {rows}")
            # Names come from the volunteer service, as it shows them to this leader.
            assert all(r["name"] == names[r["volunteer_id"]] for r in got["volunteers"])
            got = reporting.get("/reports/top-teams", params=params, headers=leader).json()
            teams = [(r["team_id"], r["hours"]) for r in got["teams"]]
            if teams != ranked_teams(area, period):
                problems.append(f"top teams {area} {period}: {teams}")
        return problems

    _no_problems(_eventually(leaderboards))
    top_two = reporting.get(
        "/reports/top-volunteers", params={"area_id": DISTRICT, "limit": 2}, headers=leader
    ).json()["volunteers"]
    assert [r["volunteer_id"] for r in top_two] == [
        v for v, _, _ in ranked_volunteers(DISTRICT, None)[:2]
    ]

    def stars() -> list[str]:
        totals: dict[str, int] = {}
        for _, v, m in ledger.records(corrected=True):
            totals[v] = totals.get(v, 0) + m
        problems = []
        for area in (DISTRICT, "130203001", "130203002", B1):
            living = {v: m for v, m in totals.items() if area in AREAS.lineage_ids(ledger.homes[v])}
            earned = {v: sum(1 for h in STAR_HOURS if m >= h * 60) for v, m in living.items()}
            want_by = {str(n): sum(1 for s in earned.values() if s == n) for n in range(1, 6)}
            want = sorted(
                ((v, earned[v]) for v in earned if earned[v]), key=lambda r: (-living[r[0]], r[0])
            )
            got = reporting.get("/reports/stars", params={"area_id": area}, headers=leader).json()
            if (
                got["by_stars"] != want_by
                or [(r["volunteer_id"], r["stars"]) for r in got["volunteers"]] != want
            ):
                problems.append(f"stars {area}: {got}")
        return problems

    _no_problems(_eventually(stars))

    def registrations() -> list[str]:
        problems = []
        for area in (DISTRICT, "130203001", "130203002"):
            living = [v for v, home in ledger.homes.items() if area in AREAS.lineage_ids(home)]
            by_category: dict[str, int] = {}
            for v in living:
                for c in ledger.categories[v]:
                    by_category[c] = by_category.get(c, 0) + 1
            got = reporting.get(
                "/reports/volunteers", params={"area_id": area}, headers=leader
            ).json()
            if (got["area"]["registered"], got["area"]["by_category"]) != (
                len(living),
                by_category,
            ):
                problems.append(f"registered {area}: {got['area']}")
        return problems

    _no_problems(_eventually(registrations))
    gone = reporting.get(
        "/reports/volunteers", params={"area_id": DISTRICT, "as_of": before_everything.isoformat()},
        headers=leader,
    ).json()  # fmt: skip
    assert gone["area"]["registered"] == 0
    refused = reporting.get(
        "/reports/top-volunteers", params={"as_of": before_everything.isoformat()}, headers=leader
    )
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "as_of_unsupported")

    # The batches' as-of history, journalled by the consumer, is written into its buckets
    # beside it: the journal empties, and the answers as of an instant stay as they were.
    def journal_left() -> list[str]:
        lines = reporting.get("/metrics").text.splitlines()
        left = [line for line in lines if line.startswith("muster_as_of_journal")]
        writes = [line for line in lines if line.startswith("muster_as_of_write_seconds_count")]
        written = [float(line.split()[-1]) > 0 for line in writes] == [True]
        return [] if left == ["muster_as_of_journal_documents 0.0"] and written else left + writes

    _no_problems(_eventually(journal_left, timeout=30))
    _no_problems(service_problems(corrected=False, as_of=before_corrections))
    _no_problems(service_problems(corrected=True, as_of=before_corrections + timedelta(minutes=1)))

    # Replay: the read models rebuilt from the log answer every report the same way.
    urls = [
        f"/reports/service?area_id={area}" + (f"&period={period}" if period else "")
        for area in areas
        for period in periods
    ]
    urls += [f"/reports/service?area_id={DISTRICT}&{k}={v}" for k, v in filters]
    urls += [
        f"/reports/service?area_id={DISTRICT}&as_of={before_corrections.isoformat().replace('+', '%2B')}"
    ]
    urls += [
        f"/reports/{r}?area_id={DISTRICT}"
        for r in ("top-volunteers", "top-teams", "stars", "volunteers")
    ]
    answers = {url: reporting.get(url, headers=leader).json() for url in urls}
    system.stop("reporting")
    rebuilt = system.command("reporting", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
    assert "replayed" in rebuilt.stdout
    system.start("reporting")
    system.wait_ready(["reporting"])
    again = {url: reporting.get(url, headers=leader).json() for url in urls}
    assert {u: a for u, a in again.items() if a != answers[u]} == {}
