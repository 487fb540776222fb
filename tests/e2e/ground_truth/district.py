"""A generated district driven only through the public HTTP API, keeping its own ledger.

From a seed: volunteers registered (by themselves or an organiser) in homes over several
streets and communities, in every category (in-service party members with an employer
unit); two drives; activities in the past over four local days — the worked example's two
overlapping ones, two 6-hour ones on one day (over the daily cap), one over local midnight,
one relative to now overlapping the live one, and random ones — their attendances recorded
by corrections (补签) for past times; a live activity checked into with its rotating code
and the phone's location, checked out of, some check-ins corrected; one in progress, one
upcoming, one cancelled, three left awaiting approval; beneficiaries recorded and amended;
approvals, several sent at once; corrections after approval.

The ledger holds what the API acknowledged: the times the volunteer service recorded for
check-ins and check-outs, the corrections, approvals and counts. `rules.Expected` turns it
into report figures.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from functools import partial
from typing import Any

import httpx

from tests.e2e.ground_truth.rules import (
    CATEGORIES,
    ZONE,
    Activity,
    Attendance,
    Volunteer,
)

# role, area, subject → Authorization headers (the fixture's token minting).
Tokens = Callable[[str, str, str], dict[str, str]]

DISTRICT = "130203"
SERVICE_CATEGORIES = ("elderly_care", "environment", "education", "health", "safety")
BENEFICIARY_GROUPS = (
    "elderly",
    "children",
    "disabled",
    "low_income",
    "outdoor_workers",
    "residents",
)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰"
UNITS = ("唐山市路北区人民医院", "开滦集团", "路北区教育局", "唐山供电公司", "河北联合大学")
PLACE = (39.6300, 118.1800)
NEAR = (39.6304, 118.1803)  # about 50 m away
LIVE_WINDOW = timedelta(seconds=50)  # the live activity ends this long after it is scheduled


def at_local(day: date, hour: int, minute: int) -> datetime:
    return datetime.combine(day, dtime(hour, minute), tzinfo=ZONE).astimezone(UTC)


@dataclass
class Person:
    volunteer: Volunteer
    headers: dict[str, str] | None  # the volunteer's own token, if they registered themself


@dataclass
class Ledger:
    people: list[Person] = field(default_factory=list)
    activities: list[Activity] = field(default_factory=list)
    attendances: dict[tuple[str, str], Attendance] = field(default_factory=dict)
    areas: list[str] = field(default_factory=list)  # communities, grids and buildings used
    drives: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {})

    def attendance(self, activity: Activity, volunteer_id: str) -> Attendance:
        key = (activity.key, volunteer_id)
        if key not in self.attendances:
            self.attendances[key] = Attendance(activity, volunteer_id)
        return self.attendances[key]

    def count(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n


def _ok(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    assert response.status_code in (statuses or (200,)), (
        f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
    )
    body: dict[str, Any] = response.json()
    return body


class District:
    def __init__(self, urls: dict[str, str], seed: int, tokens: Tokens) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.urls = urls
        self.tokens = tokens
        self.organiser = tokens("organiser", DISTRICT, f"gt-organiser-{seed}")
        self.ledger = Ledger()
        self.today = datetime.now(ZONE).date()
        self._run = f"{seed}-{time.time_ns()}"
        self.assigned: dict[str, list[str]] = {}

    async def run(self) -> Ledger:
        async with (
            httpx.AsyncClient(base_url=self.urls["volunteer"], timeout=60) as volunteer,
            httpx.AsyncClient(base_url=self.urls["dispatch"], timeout=60) as dispatch,
        ):
            self.volunteer, self.dispatch = volunteer, dispatch
            await self._discover_areas()
            await self._register(36)
            await self._launch_drives()
            live = await self._live_activity()
            await self._check_in_and_out(live)
            planned = self._plan_past()
            await self._schedule_all(planned)
            await self._attend_past(planned)
            await self._beneficiaries(
                [a for a in planned if a.key != "upcoming"] + [live, self.in_progress]
            )
            await self._cancel_and_leave_pending(planned)
            await self._approve(planned)
            await self._approve_live(live)
            await self._correct_after_approval(planned)
        return self.ledger

    async def _discover_areas(self) -> None:
        """Three streets, two communities each, two grids each, two buildings each."""

        async def children(area: str) -> list[str]:
            body = _ok(await self.dispatch.get(f"/areas/{area}", headers=self.organiser))
            return sorted(c["id"] for c in body["children"])

        streets = self.rng.sample(await children(DISTRICT), 3)
        for street in streets:
            for community in self.rng.sample(await children(street), 2):
                self.ledger.areas.append(community)
                grids = await children(community)
                for grid in self.rng.sample(grids, min(2, len(grids))):
                    self.ledger.areas.append(grid)
                    buildings = await children(grid)
                    self.ledger.areas += self.rng.sample(buildings, min(2, len(buildings)))
        self.streets = streets

    def _form(self, phones: set[str]) -> dict[str, Any]:
        rng = self.rng
        phone = ""
        while not phone or phone in phones:
            phone = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
        phones.add(phone)
        categories = rng.sample(CATEGORIES, rng.choice((1, 1, 2, 2, 3)))
        form: dict[str, Any] = {
            "name": rng.choice(SURNAMES) + "".join(rng.sample(GIVEN, rng.choice((1, 2)))),
            "phone": phone,
            "home_area_id": rng.choice(self.ledger.areas),
            "categories": categories,
            "skills": ["general"],
            "birth_year": rng.randrange(1950, 2006),
        }
        if "in_service_party_member" in categories:
            form["employer_unit"] = rng.choice(UNITS)
        return form

    async def _register(self, n: int) -> None:
        """The first ten register themselves (they check in later), the rest by an organiser;
        an in-service party member without an employer unit and a second use of a phone
        are refused and count nowhere."""
        phones: set[str] = set()
        forms = [self._form(phones) for _ in range(n)]
        refused = dict(forms[0], employer_unit=None, categories=["in_service_party_member"])
        refused["phone"] = "13900000001"
        assert (
            await self.volunteer.post("/volunteers", json=refused, headers=self.organiser)
        ).status_code == 422

        async def register(i: int, form: dict[str, Any]) -> Person:
            own = i < 10
            headers = (
                self.tokens("volunteer", DISTRICT, f"gt-{self._run}-{i}")
                if own
                else self.organiser | {"Idempotency-Key": f"gt-{self._run}-{i}"}
            )
            async with slots:
                response = await self.volunteer.post("/volunteers", json=form, headers=headers)
            body = _ok(response, 201)
            self.ledger.count("registrations")
            volunteer = Volunteer(
                body["volunteer_id"], form["home_area_id"], tuple(form["categories"])
            )
            return Person(volunteer, headers if own else None)

        slots = asyncio.Semaphore(6)
        self.ledger.people = list(
            await asyncio.gather(*(register(i, f) for i, f in enumerate(forms)))
        )
        duplicate = self._form(set()) | {"phone": forms[1]["phone"]}
        assert (
            await self.volunteer.post("/volunteers", json=duplicate, headers=self.organiser)
        ).status_code == 409

    async def _launch_drives(self) -> None:
        now = datetime.now(UTC)
        for street, category in zip(self.streets[:2], SERVICE_CATEGORIES, strict=False):
            body = _ok(
                await self.dispatch.post(
                    "/drives",
                    json={
                        "title": f"{category} 志愿服务",
                        "scope_area_id": street,
                        "category": category,
                        "roles": [{"role_id": "general", "skill": "general", "headcount": 20}],
                        "signup_closes_at": (now + timedelta(days=2)).isoformat(),
                        "activity_starts_at": (now + timedelta(days=3)).isoformat(),
                        "activity_ends_at": (now + timedelta(days=3, hours=3)).isoformat(),
                        "team_size_min": 2,
                        "team_size_max": 8,
                    },
                    headers=self.organiser,
                ),
                201,
            )
            self.ledger.drives.append(body["drive_id"])
        self.teams = [f"gt-team-{self.seed}-{n}" for n in range(3)]

    # --- scheduling -----------------------------------------------------------------------

    def _activity(self, key: str, starts_at: datetime, ends_at: datetime) -> Activity:
        rng = self.rng
        drive = rng.choice([*self.ledger.drives, None])
        team = rng.choice([*self.teams, None]) if drive else rng.choice(self.teams)
        return Activity(
            key,
            place=rng.choice(self.ledger.areas + self.streets[:1]),
            category=rng.choice(SERVICE_CATEGORIES),
            drive_id=drive,
            team_id=team,
            starts_at=starts_at,
            ends_at=ends_at,
        )

    async def _schedule(
        self, activity: Activity, assigned: list[str], coordinates: bool = False
    ) -> None:
        body: dict[str, Any] = {
            "drive_id": activity.drive_id,
            "team_id": activity.team_id,
            "title": f"活动 {activity.key}",
            "place_area_id": activity.place,
            "category": activity.category,
            "starts_at": activity.starts_at.isoformat(),
            "ends_at": activity.ends_at.isoformat(),
            "capacity": len(assigned) + 2,
            "assigned_volunteer_ids": assigned,
        }
        if coordinates:
            body |= {"latitude": PLACE[0], "longitude": PLACE[1]}
        scheduled = _ok(
            await self.dispatch.post("/activities", json=body, headers=self.organiser), 201
        )
        activity.activity_id = scheduled["activity_id"]
        self.ledger.activities.append(activity)
        self.ledger.count("activities scheduled")
        self.assigned[activity.key] = assigned

    async def _live_activity(self) -> Activity:
        """Started two hours ago, ends in under a minute: volunteers check in with its code."""
        now = datetime.now(UTC)
        live = self._activity("live", now - timedelta(hours=2), now + LIVE_WINDOW)
        own = [p.volunteer.volunteer_id for p in self.ledger.people if p.headers]
        await self._schedule(live, own[:6], coordinates=True)
        in_progress = self._activity(
            "in-progress", now - timedelta(minutes=30), now + timedelta(hours=3)
        )
        await self._schedule(in_progress, own[6:8], coordinates=True)
        self.in_progress = in_progress
        return live

    async def _check_in_and_out(self, live: Activity) -> None:
        """Four of the live activity's six check in and out at once (real times: no whole
        minute each), one checks in and out a few seconds later, one never comes; one
        volunteer checks in to the activity in progress and stays."""
        own = {p.volunteer.volunteer_id: p.headers for p in self.ledger.people if p.headers}

        async def check_in(activity: Activity, volunteer_id: str) -> None:
            headers = own[volunteer_id]
            assert headers is not None
            path = f"/activities/{activity.activity_id}/check-in"
            deadline = time.monotonic() + 30
            while True:
                code = _ok(
                    await self.dispatch.get(
                        f"/activities/{activity.activity_id}/check-in-code", headers=self.organiser
                    )
                )["code"]
                body = {"code": code, "latitude": NEAR[0], "longitude": NEAR[1]}
                response = await self.volunteer.post(path, json=body, headers=headers)
                # 404 until the volunteer service has the activity from dispatch's events;
                # a code that rotated between the two calls is asked for again.
                if response.status_code == 200 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            checked_in = _ok(response)
            self.ledger.attendance(activity, volunteer_id).check_in = datetime.fromisoformat(
                checked_in["checked_in_at"]
            )
            self.ledger.count("check-ins")

        async def check_out(activity: Activity, volunteer_id: str) -> None:
            headers = own[volunteer_id]
            assert headers is not None
            out = _ok(
                await self.volunteer.post(
                    f"/activities/{activity.activity_id}/check-out", headers=headers
                )
            )
            self.ledger.attendance(activity, volunteer_id).check_out = datetime.fromisoformat(
                out["checked_out_at"]
            )
            self.ledger.count("check-outs")

        volunteers = self.assigned["live"]
        await asyncio.gather(*(check_in(live, v) for v in volunteers[:5]))
        await asyncio.gather(*(check_out(live, v) for v in volunteers[:4]))
        await check_in(self.in_progress, self.assigned["in-progress"][0])
        await asyncio.sleep(3)
        await check_out(live, volunteers[4])
        self.live_corrected = volunteers[1:4]  # their check-ins corrected to earlier times

    def _plan_past(self) -> list[Activity]:
        """Activities over four past local days (and one relative to now), with who attends
        and when: each attendance (activity key, volunteer index, check-in, check-out)."""
        rng = self.rng
        d1, d2, d3, d4 = (self.today - timedelta(days=n) for n in (4, 3, 2, 1))
        people = list(range(len(self.ledger.people)))
        plans: list[Activity] = []
        self.attending: dict[str, list[tuple[int, datetime, datetime]]] = {}

        def plan(
            activity: Activity,
            who: list[int],
            times: Callable[[Activity], tuple[datetime, datetime]],
        ) -> None:
            plans.append(activity)
            self.attending[activity.key] = [(i, *times(activity)) for i in who]

        def scheduled(a: Activity) -> tuple[datetime, datetime]:
            return a.starts_at, a.ends_at

        def jittered(a: Activity) -> tuple[datetime, datetime]:
            check_in = a.starts_at + timedelta(
                minutes=rng.randrange(-10, 40), seconds=rng.randrange(60)
            )
            check_out = a.ends_at + timedelta(
                minutes=rng.randrange(-60, 16), seconds=rng.randrange(60)
            )
            if check_out <= check_in + timedelta(minutes=5):
                check_out = check_in + timedelta(minutes=47, seconds=13)
            return check_in, check_out

        # The worked example: 08:58-12:26 and 11:05-15:20, shared volunteers as scheduled.
        shared = rng.sample(people, 4)
        plan(
            self._activity("overlap-a", at_local(d1, 8, 58), at_local(d1, 12, 26)),
            [*shared[:3], rng.choice(people)],
            scheduled,
        )
        plan(
            self._activity("overlap-b", at_local(d1, 11, 5), at_local(d1, 15, 20)),
            shared,
            scheduled,
        )
        # Two 6-hour activities on one day, then one over local midnight.
        capped = rng.sample(people, 4)
        plan(self._activity("six-am", at_local(d2, 7, 0), at_local(d2, 13, 0)), capped, scheduled)
        plan(
            self._activity("six-pm", at_local(d2, 13, 30), at_local(d2, 19, 30)),
            capped[:3],
            scheduled,
        )
        plan(
            self._activity("midnight", at_local(d2, 21, 10), at_local(d3, 2, 40)),
            capped[1:] + rng.sample(people, 2),
            jittered,
        )
        # Before the live one, overlapping the corrected check-ins there.
        now = datetime.now(UTC)
        live_people = [self._index(v) for v in self.live_corrected]
        plan(
            self._activity("before-live", now - timedelta(hours=5), now - timedelta(minutes=100)),
            live_people[:2] + rng.sample(people, 2),
            jittered,
        )
        for n in range(16):
            day = rng.choice((d1, d2, d3, d4))
            start = at_local(day, rng.randrange(6, 18), rng.choice((0, 15, 30, 45, 7, 52)))
            length = timedelta(minutes=rng.randrange(60, 330))
            plan(
                self._activity(f"past-{n}", start, start + length),
                rng.sample(people, rng.randrange(2, 8)),
                jittered,
            )
        plans.append(
            self._activity(
                "upcoming",
                at_local(self.today + timedelta(days=1), 9, 0),
                at_local(self.today + timedelta(days=1), 11, 0),
            )
        )
        self.attending["upcoming"] = []
        plans.append(
            self._activity(
                "cancelled",
                at_local(self.today + timedelta(days=2), 14, 0),
                at_local(self.today + timedelta(days=2), 16, 0),
            )
        )
        self.attending["cancelled"] = []
        plans.append(self._activity("nobody-came", at_local(d3, 9, 0), at_local(d3, 10, 0)))
        self.attending["nobody-came"] = []
        return plans  # fmt: skip

    def _index(self, volunteer_id: str) -> int:
        return next(
            i for i, p in enumerate(self.ledger.people) if p.volunteer.volunteer_id == volunteer_id
        )

    async def _schedule_all(self, planned: list[Activity]) -> None:
        """Scheduled side by side; each has two volunteers assigned who never attend."""
        people = self.ledger.people
        jobs: list[Callable[[], Awaitable[None]]] = []
        for activity in planned:
            who = list(dict.fromkeys(i for i, _, _ in self.attending[activity.key]))
            extra = self.rng.sample(range(len(people)), 2)
            ids = [people[i].volunteer.volunteer_id for i in dict.fromkeys(who + extra)]
            jobs.append(partial(self._schedule, activity, ids))
        await self._gather(jobs)

    async def _gather(self, jobs: list[Callable[[], Awaitable[None]]], at_once: int = 6) -> None:
        slots = asyncio.Semaphore(at_once)

        async def run(job: Callable[[], Awaitable[None]]) -> None:
            async with slots:
                await job()

        await asyncio.gather(*(run(j) for j in jobs))

    async def _correct(
        self,
        activity: Activity,
        volunteer_id: str,
        check_in: datetime | None,
        check_out: datetime | None,
        reason: str = "纸质签到表",
    ) -> None:
        body: dict[str, Any] = {"reason": reason}
        if check_in is not None:
            body["check_in_at"] = check_in.isoformat()
        if check_out is not None:
            body["check_out_at"] = check_out.isoformat()
        _ok(
            await self.dispatch.post(
                f"/activities/{activity.activity_id}/attendances/{volunteer_id}/correct",
                json=body,
                headers=self.organiser,
            )
        )
        attendance = self.ledger.attendance(activity, volunteer_id)
        attendance.check_in = check_in or attendance.check_in
        attendance.check_out = check_out or attendance.check_out
        self.ledger.count("corrections")

    async def _attend_past(self, planned: list[Activity]) -> None:
        """Past attendances recorded as corrections (补签), activities side by side."""
        people = self.ledger.people

        def job(activity: Activity) -> Callable[[], Awaitable[None]]:
            async def run() -> None:
                for i, check_in, check_out in self.attending[activity.key]:
                    await self._correct(
                        activity, people[i].volunteer.volunteer_id, check_in, check_out
                    )

            return run

        await self._gather([job(a) for a in planned])

    async def _beneficiaries(self, activities: list[Activity]) -> None:
        """Counts for most started activities, some amended with a reason (the latest count)."""
        rng = self.rng

        def draw() -> dict[str, int]:
            return {
                g: rng.randrange(1, 30) for g in rng.sample(BENEFICIARY_GROUPS, rng.randrange(1, 4))
            }

        def job(activity: Activity, rounds: list[dict[str, int]]) -> Callable[[], Awaitable[None]]:
            async def run() -> None:
                for n, counts in enumerate(rounds):
                    body: dict[str, Any] = {"counts": counts}
                    if n:
                        body["reason"] = "复核人数"
                    _ok(
                        await self.dispatch.post(
                            f"/activities/{activity.activity_id}/beneficiaries",
                            json=body,
                            headers=self.organiser,
                        )
                    )
                    activity.beneficiaries = dict(counts)
                    self.ledger.count("beneficiary counts")

            return run

        jobs = []
        for activity in activities:
            if activity.key == "cancelled" or rng.random() < 0.2:
                continue
            jobs.append(job(activity, [draw() for _ in range(rng.choice((1, 1, 2)))]))
        await self._gather(jobs)

    async def _cancel_and_leave_pending(self, planned: list[Activity]) -> None:
        cancelled = next(a for a in planned if a.key == "cancelled")
        _ok(
            await self.dispatch.post(
                f"/activities/{cancelled.activity_id}/cancel",
                json={"reason": "天气预警"},
                headers=self.organiser,
            )
        )
        cancelled.cancelled = True
        self.ledger.count("cancellations")
        past = [a for a in planned if a.key.startswith("past-")]
        self.awaiting = {a.key for a in self.rng.sample(past, 3)}

    async def _approve_one(self, client: httpx.AsyncClient, activity: Activity) -> None:
        _ok(
            await client.post(f"/activities/{activity.activity_id}/approve", headers=self.organiser)
        )
        activity.approved = True
        self.ledger.count("approvals")

    async def _approve(self, planned: list[Activity]) -> None:
        """Nine at once (the overlapping, capped and midnight ones among them), then the
        rest one by one; three are left awaiting approval."""
        due = [a for a in planned if a.ends_at < datetime.now(UTC) and a.key not in self.awaiting]
        first = {"overlap-a", "overlap-b", "six-am", "six-pm", "midnight"}
        at_once = [a for a in due if a.key in first]
        at_once += self.rng.sample([a for a in due if a.key not in first], 4)
        async with httpx.AsyncClient(base_url=self.urls["dispatch"], timeout=60) as other:
            await asyncio.gather(
                *(
                    self._approve_one(self.dispatch if n % 2 else other, a)
                    for n, a in enumerate(at_once)
                )
            )
        self.ledger.count("approvals sent at once", len(at_once))
        for activity in due:
            if not activity.approved:
                await self._approve_one(self.dispatch, activity)

    async def _approve_live(self, live: Activity) -> None:
        """Three check-ins corrected to earlier times (the volunteer's check-out stands), then
        approved once it has ended and dispatch has every check-out."""
        for n, volunteer_id in enumerate(self.live_corrected):
            check_in = live.starts_at + timedelta(
                minutes=7 + 23 * n, seconds=self.rng.randrange(60)
            )
            await self._correct(live, volunteer_id, check_in, None, reason="签到时手机没电")
        await asyncio.sleep(max(0.0, (live.ends_at - datetime.now(UTC)).total_seconds() + 0.5))
        checked_in = {
            v for (k, v), a in self.ledger.attendances.items() if k == "live" and a.check_in
        }
        deadline = time.monotonic() + 30
        while True:
            view = _ok(
                await self.dispatch.get(f"/activities/{live.activity_id}", headers=self.organiser)
            )
            seen = {a["volunteer_id"] for a in view["attendances"] if a["check_out_at"]}
            if seen >= checked_in or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.3)
        await self._approve_one(self.dispatch, live)

    async def _correct_after_approval(self, planned: list[Activity]) -> None:
        """Approved attendances corrected: the worked example's B ends earlier for one
        volunteer, a random approved one ends later (within its day)."""
        overlap_b = next(a for a in planned if a.key == "overlap-b")
        volunteer_index = self.attending["overlap-b"][0][0]
        await self._correct(
            overlap_b,
            self.ledger.people[volunteer_index].volunteer.volunteer_id,
            None,
            at_local(overlap_b.start_day, 13, 47),
            reason="更正签退时间",
        )
        approved = [
            a for a in planned if a.approved and a.key.startswith("past-") and self.attending[a.key]
        ]
        activity = self.rng.choice(approved)
        index, _, check_out = self.attending[activity.key][0]
        later = min(check_out + timedelta(minutes=44), datetime.now(UTC) - timedelta(minutes=1))
        await self._correct(
            activity,
            self.ledger.people[index].volunteer.volunteer_id,
            None,
            later,
            reason="更正签退时间",
        )
        self.ledger.count("corrections after approval", 2)
