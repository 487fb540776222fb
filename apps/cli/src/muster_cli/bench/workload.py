"""The mixed district workload over HTTP, with the ground truth every report must show.

Phases, each driven open-loop at the target rate:
1. setup — volunteers register and sign up for the district's drives; activities are
   scheduled with their volunteers assigned;
2. steady mix — check-ins, check-outs, report queries, beneficiary records, registrations,
   while probes time append→report and a consumer on the topics times append→publish;
3. closing — the last check-outs, the paper sign-in sheets (补签 corrections that fix the
   served times) and the approval of every activity's hours; then the reports must equal
   the generator's ground truth exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
from aiokafka import AIOKafkaConsumer

from muster_auth.dev_tokens import issue_token
from muster_cli.bench.freshness import FreshnessProbe
from muster_cli.bench.loadgen import OperationStats, open_loop
from muster_cli.sample import SampleVolunteers
from muster_contracts.areas import AreaLevel, load_area_tree
from muster_contracts.envelope import Role
from muster_contracts.topology import event_topic
from muster_runtime.lag import ConsumerLag

DISTRICT = "130203"
ZONE = ZoneInfo("Asia/Shanghai")
VOLUNTEERS_PER_ACTIVITY = 20
GROUPS = ("elderly", "children", "disabled", "low_income", "outdoor_workers", "residents")


def ensure_ok(response: httpx.Response) -> None:
    if response.status_code >= 300:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path}: "
            f"{response.status_code} {response.text[:300]}"
        )


def auth(subject: str, role: Role, area: str = DISTRICT) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(subject, role, area)}"}


@dataclass
class Truth:
    """What the district's reports must show at the end (counted from 2xx answers), by the
    README's rules: activities held are those approved, beneficiaries those of approved
    activities (recorded before or after the approval), and activities scheduled and not
    approved are not held yet."""

    registered: int = 0
    scheduled: set[str] = field(default_factory=set)
    approved: set[str] = field(default_factory=set)
    turnouts: int = 0
    minutes: int = 0
    beneficiaries: dict[str, int] = field(default_factory=dict)  # activity → last total

    @property
    def activities(self) -> int:
        """Activities held: approved."""
        return len(self.approved)

    @property
    def activities_scheduled(self) -> int:
        """Activities not held yet: scheduled, not approved (none is cancelled here)."""
        return len(self.scheduled - self.approved)

    def expected(self) -> dict[str, float]:
        return {
            "registered": self.registered,
            "activities": self.activities,
            "activities_scheduled": self.activities_scheduled,
            "turnouts": self.turnouts,
            "hours": self.minutes / 60,
            "beneficiaries": sum(
                total for a, total in self.beneficiaries.items() if a in self.approved
            ),
        }


@dataclass
class Activity:
    activity_id: str
    place: str
    starts_at: datetime
    volunteers: list[dict[str, Any]]
    code: str = ""


@dataclass
class Lags:
    """Append→publish (from the topics) and append→report (from probes), in seconds."""

    publish: list[float] = field(default_factory=list)
    events: int = 0
    # (probe activity, total) → (recorded_at, published at), wall clock
    probe_published: dict[tuple[str, int], tuple[float, float]] = field(default_factory=dict)


class DistrictWorkload:
    def __init__(self, urls: dict[str, str], topic_prefix: str, bootstrap: str, seed: int = 7):
        self.urls = urls
        self.topic_prefix = topic_prefix
        self.bootstrap = bootstrap
        self.random = random.Random(seed)
        self.sample = SampleVolunteers(seed)
        self.truth = Truth()
        self.organiser = auth("bench-organiser", Role.ORGANISER)
        self.leader = auth("bench-leader", Role.LEADER)
        self.volunteers: list[dict[str, Any]] = []
        self.drives: list[str] = []
        self.activities: list[Activity] = []
        self.lags = Lags()
        areas = load_area_tree()
        self.grids = [a.id for a in areas.at_level(AreaLevel.GRID)]
        self.report_areas = [DISTRICT] + [a.id for a in areas.at_level(AreaLevel.STREET)]
        self.report_areas += [a.id for a in areas.at_level(AreaLevel.COMMUNITY)][:30]
        self.clients: dict[str, httpx.AsyncClient] = {}
        self.to_check_in: deque[tuple[Activity, dict[str, Any]]] = deque()
        self.checked_in: deque[tuple[Activity, dict[str, Any]]] = deque()
        self.attended: list[tuple[Activity, dict[str, Any]]] = []
        self._busy_activities: set[str] = set()
        self.probe: FreshnessProbe | None = None

    async def __aenter__(self) -> DistrictWorkload:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        for name, url in self.urls.items():
            self.clients[name] = httpx.AsyncClient(base_url=url, timeout=60, limits=limits)
        return self

    async def __aexit__(self, *_: object) -> None:
        for client in self.clients.values():
            await client.aclose()

    # --- phase 1: setup -------------------------------------------------------------

    def registration(self) -> tuple[str, Awaitable[httpx.Response]]:
        form = self.sample.draw()
        account = auth(f"resident-{form['phone']}", Role.VOLUNTEER)

        async def register() -> httpx.Response:
            headers = account | {"Idempotency-Key": str(uuid.uuid4())}
            response = await self.clients["volunteer"].post(
                "/volunteers", json=form, headers=headers
            )
            if response.status_code == 201:
                self.truth.registered += 1
                self.volunteers.append({"headers": account} | response.json())
            return response

        return "register", register()

    async def launch_drives(self, count: int) -> None:
        now = datetime.now(UTC)
        for n in range(count):
            form = {
                "title": f"周末奉献日 {n + 1}",
                "scope_area_id": DISTRICT,
                "category": "environment",
                "roles": [{"role_id": "general", "skill": "general", "headcount": 100_000}],
                "signup_closes_at": (now + timedelta(hours=6)).isoformat(),
                "activity_starts_at": (now + timedelta(days=2)).isoformat(),
                "activity_ends_at": (now + timedelta(days=2, hours=3)).isoformat(),
                "team_size_min": 4,
                "team_size_max": 8,
            }
            response = await self.clients["dispatch"].post(
                "/drives", json=form, headers=self.organiser
            )
            ensure_ok(response)
            self.drives.append(response.json()["drive_id"])
        # Until the volunteer service has seen the drives (sign-ups check them there).
        await self._until(
            lambda: self.clients["volunteer"].get("/drives", headers=self.volunteers[0]["headers"]),
            lambda body: len(body["drives"]) >= count,
        )

    def sign_up_of(self, people: deque[dict[str, Any]]) -> Callable[[], Any]:
        def next_sign_up() -> tuple[str, Awaitable[httpx.Response]] | None:
            if not people:
                return None
            person = people.popleft()
            drive = self.drives[hash(person["volunteer_id"]) % len(self.drives)]
            headers = person["headers"] | {"Idempotency-Key": str(uuid.uuid4())}
            return "sign_up", self.clients["volunteer"].post(
                f"/drives/{drive}/sign-ups", json={"role_id": "general"}, headers=headers
            )

        return next_sign_up

    async def schedule_activities(self, ends_at: datetime) -> None:
        """Activities of 20 volunteers each, at grids of their own, started three hours ago."""
        starts_at = datetime.now(UTC) - timedelta(hours=3)
        people = list(self.volunteers)
        places = self.random.sample(self.grids, len(people) // VOLUNTEERS_PER_ACTIVITY + 1)
        for n, place in enumerate(places):
            group = people[n * VOLUNTEERS_PER_ACTIVITY : (n + 1) * VOLUNTEERS_PER_ACTIVITY]
            form = {
                "drive_id": self.drives[n % len(self.drives)],
                "title": f"楼道清理 {n + 1}",
                "place_area_id": place,
                "category": "environment",
                "starts_at": starts_at.isoformat(),
                "ends_at": ends_at.isoformat(),
                "capacity": len(group) + 5,
                "assigned_volunteer_ids": [p["volunteer_id"] for p in group],
            }
            response = await self.clients["dispatch"].post(
                "/activities", json=form, headers=self.organiser
            )
            ensure_ok(response)
            activity = Activity(response.json()["activity_id"], place, starts_at, group)
            self.truth.scheduled.add(activity.activity_id)
            self.activities.append(activity)
            self.to_check_in.extend((activity, p) for p in group)
        await self.refresh_codes()

    async def refresh_codes(self) -> None:
        for activity in self.activities:
            response = await self.clients["dispatch"].get(
                f"/activities/{activity.activity_id}/check-in-code", headers=self.organiser
            )
            ensure_ok(response)
            activity.code = response.json()["code"]

    async def keep_codes_fresh(self) -> None:
        while True:
            await asyncio.sleep(20)
            with contextlib.suppress(httpx.HTTPError):
                await self.refresh_codes()

    # --- phase 2: the steady mix ------------------------------------------------------

    def check_in(self) -> tuple[str, Awaitable[httpx.Response]] | None:
        if not self.to_check_in:
            return None
        activity, person = self.to_check_in.popleft()

        async def go() -> httpx.Response:
            response = await self.clients["volunteer"].post(
                f"/activities/{activity.activity_id}/check-in",
                json={"code": activity.code},
                headers=person["headers"],
            )
            if response.status_code == 404:  # the service has not seen the activity yet
                self.to_check_in.append((activity, person))
            elif response.status_code < 300:
                self.checked_in.append((activity, person))
            return response

        return "check_in", go()

    def check_out(self) -> tuple[str, Awaitable[httpx.Response]] | None:
        if not self.checked_in:
            return None
        activity, person = self.checked_in.popleft()

        async def go() -> httpx.Response:
            response = await self.clients["volunteer"].post(
                f"/activities/{activity.activity_id}/check-out", headers=person["headers"]
            )
            if response.status_code < 300:
                self.attended.append((activity, person))
            elif response.status_code >= 500 or response.status_code == 409:
                self.checked_in.append((activity, person))  # still checked in: try again
            return response

        return "check_out", go()

    def report_query(self) -> tuple[str, Awaitable[httpx.Response]]:
        area = self.random.choice(self.report_areas)
        path = self.random.choice(("/reports/service", "/reports/volunteers"))
        return "report", self.clients["reporting"].get(
            path, params={"area_id": area}, headers=self.leader
        )

    def beneficiaries(self) -> tuple[str, Awaitable[httpx.Response]] | None:
        idle = [a for a in self.activities if a.activity_id not in self._busy_activities]
        if not idle:
            return None
        activity = self.random.choice(idle)
        self._busy_activities.add(activity.activity_id)
        counts = {g: self.random.randrange(15) for g in GROUPS}

        async def go() -> httpx.Response:
            try:
                response = await self.clients["dispatch"].post(
                    f"/activities/{activity.activity_id}/beneficiaries",
                    json={"counts": counts, "reason": "补录"},
                    headers=self.organiser,
                )
                if response.status_code < 300:
                    self.truth.beneficiaries[activity.activity_id] = sum(counts.values())
                return response
            finally:
                self._busy_activities.discard(activity.activity_id)

        return "beneficiaries", go()

    def mixed(self) -> tuple[str, Awaitable[httpx.Response]] | None:
        """One arrival of the steady mix (a check-in when the dice say so, and so on)."""
        roll = self.random.random()
        choice: tuple[str, Awaitable[httpx.Response]] | None = None
        if roll < 0.40:
            choice = self.check_in()
        elif roll < 0.70:
            choice = self.check_out()
        elif roll < 0.85:
            choice = self.report_query()
        elif roll < 0.95:
            choice = self.beneficiaries()
        else:
            choice = self.registration()
        return choice or self.report_query()

    async def freshness_probe(self, activities: int = 4, rate: float = 2.0) -> FreshnessProbe:
        """Probes of append→report (the whole pipeline: append, relay, consume, read): each
        of `activities` sits alone at a grid of its own, and a record at one goes out every
        1/`rate` s, each timed until the grid's report shows it (`bench/freshness.py`).

        The probes' activities are held (over and approved, with no attendance) before
        their first record: beneficiaries count for activities held only, and after the
        approval each amendment counts at once."""
        free = [g for g in self.grids if g not in self._places()]
        places = dict.fromkeys(self.random.sample(free, activities), "")
        starts_at = datetime.now(UTC) - timedelta(hours=2)
        for place in places:
            scheduled = await self.clients["dispatch"].post(
                "/activities",
                json={
                    "drive_id": self.drives[0], "title": "freshness probe", "place_area_id": place,
                    "category": "environment", "starts_at": starts_at.isoformat(),
                    "ends_at": (starts_at + timedelta(hours=1)).isoformat(), "capacity": 1,
                },
                headers=self.organiser,
            )  # fmt: skip
            ensure_ok(scheduled)
            activity_id = scheduled.json()["activity_id"]
            self.truth.scheduled.add(activity_id)
            approved = await self.clients["dispatch"].post(
                f"/activities/{activity_id}/approve", headers=self.organiser
            )
            ensure_ok(approved)
            self.truth.approved.add(activity_id)
            places[place] = activity_id
        place_of = {activity: place for place, activity in places.items()}

        async def record(activity_id: str, total: int) -> bool:
            response = await self.clients["dispatch"].post(
                f"/activities/{activity_id}/beneficiaries",
                json={"counts": {"elderly": total}, "reason": "probe"},
                headers=self.organiser,
            )
            if response.status_code >= 300:
                return False
            self.truth.beneficiaries[activity_id] = total
            return True

        async def shown(activity_id: str) -> int:
            response = await self.clients["reporting"].get(
                "/reports/service", params={"area_id": place_of[activity_id]}, headers=self.leader
            )
            ensure_ok(response)
            return int(response.json()["area"]["beneficiaries"])

        self.probe = FreshnessProbe(list(place_of), record, shown, rate=rate)
        return self.probe

    def _places(self) -> set[str]:
        return {a.place for a in self.activities}

    async def watch_topics(self, stop: asyncio.Event) -> None:
        """Time append→publish of every event: the broker's timestamp minus `recorded_at`."""
        consumer = AIOKafkaConsumer(
            *(event_topic(self.topic_prefix, c) for c in ("volunteer", "dispatch")),
            bootstrap_servers=self.bootstrap,
            group_id=None,
            auto_offset_reset="latest",
        )
        await consumer.start()
        try:
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    for record in records:
                        event = orjson.loads(record.value)
                        at = datetime.fromisoformat(event["recorded_at"]).timestamp()
                        self.lags.publish.append(max(0.0, record.timestamp / 1000 - at))
                        self.lags.events += 1
                        if event["type"] == "activity.beneficiaries_recorded":
                            self._probe_published(event, at, record.timestamp / 1000)
        finally:
            await consumer.stop()

    async def wait_for_reporting(self, timeout: float = 300) -> float:
        """Until reporting has applied everything on its topics (its group's lag is 0, and the
        district report shows every registration and activity scheduled so far): seconds
        waited. The
        steady mix then starts from a caught-up consumer, so append→report times the mix,
        not the setup's backlog."""
        started = time.perf_counter()
        lag = ConsumerLag(
            self.bootstrap,
            f"{self.topic_prefix}.reporting",
            [event_topic(self.topic_prefix, c) for c in ("volunteer", "dispatch")],
        )
        try:
            while time.perf_counter() - started < timeout:
                report = await self.reported()
                shown = (report["registered"], report["activities_scheduled"])
                truth = (self.truth.registered, self.truth.activities_scheduled)
                if shown == truth and not any((await lag.measure()).values()):
                    break
                await asyncio.sleep(0.5)
        finally:
            await lag.close()
        return time.perf_counter() - started

    def _probe_published(self, event: dict[str, Any], recorded_at: float, at: float) -> None:
        """Remember when a probe's record was stored and published (its lag's first legs)."""
        activity_id = event["payload"].get("activity_id")
        if self.probe is not None and activity_id in self.probe.totals:
            total = int(event["payload"]["counts"].get("elderly", 0))
            self.lags.probe_published[(activity_id, total)] = (recorded_at, at)

    def probe_legs(self, phase: str) -> dict[str, list[float]]:
        """For the probe records of `phase` seen in a report and on the topic: append→publish
        (stored → on Kafka) and publish→report (on Kafka → shown), in seconds."""
        legs: dict[str, list[float]] = {"append_to_publish": [], "publish_to_report": []}
        if self.probe is None:
            return legs
        for record, lag in self.probe.ledger.seen:
            published = self.lags.probe_published.get((record.activity_id, record.total))
            if record.phase != phase or published is None:
                continue
            recorded_at, at = published
            legs["append_to_publish"].append(max(0.0, at - recorded_at))
            legs["publish_to_report"].append(max(0.0, record.acknowledged_at + lag - at))
        return legs

    # --- phase 3: closing ---------------------------------------------------------------

    async def close_attendances(self) -> None:
        """Everyone still checked in checks out (16 at a time: the day is over)."""

        async def worker() -> None:
            while self.checked_in:
                operation = self.check_out()
                if operation is not None:
                    await operation[1]

        await asyncio.gather(*(worker() for _ in range(16)))

    def corrections(self) -> tuple[Callable[[], Any], Callable[[], bool]]:
        """The paper sign-in sheet: each attendance's served time, known to the generator.

        An organiser corrects one attendance of an activity at a time (its stream takes
        one writer); the second callable says when every correction is done.
        """
        pending = deque(self.attended)
        busy: set[str] = set()

        def next_correction() -> tuple[str, Awaitable[httpx.Response]] | None:
            for _ in range(len(pending)):
                activity, person = pending.popleft()
                if activity.activity_id not in busy:
                    break
                pending.append((activity, person))
            else:
                return None
            busy.add(activity.activity_id)
            midnight = datetime.combine(
                activity.starts_at.astimezone(ZONE).date() + timedelta(days=1),
                datetime.min.time(),
                ZONE,
            )
            room = int((midnight - activity.starts_at).total_seconds() // 60)
            served = min(60 + 15 * self.random.randrange(8), room)

            async def go() -> httpx.Response:
                try:
                    response = await self.clients["dispatch"].post(
                        f"/activities/{activity.activity_id}/attendances/{person['volunteer_id']}/correct",
                        json={
                            "check_in_at": activity.starts_at.isoformat(),
                            "check_out_at": (
                                activity.starts_at + timedelta(minutes=served)
                            ).isoformat(),
                            "reason": "纸质签到表",
                        },
                        headers=self.organiser,
                    )
                finally:
                    busy.discard(activity.activity_id)
                if response.status_code < 300:
                    self.truth.turnouts += 1
                    self.truth.minutes += served // 30 * 30  # rounded down to half hours
                else:
                    pending.append((activity, person))
                return response

            return "correct", go()

        return next_correction, lambda: not pending and not busy

    async def wait_for_dispatch(self, timeout: float = 300) -> None:
        """Until dispatch has seen every check-out (corrections must come after them)."""
        attended: dict[str, int] = {}
        for activity, _ in self.attended:
            attended[activity.activity_id] = attended.get(activity.activity_id, 0) + 1
        for activity_id, count in attended.items():

            def closed(body: Any, count: int = count) -> bool:
                return sum(1 for a in body["attendances"] if a["check_out_at"]) >= count

            def fetch(activity_id: str = activity_id) -> Awaitable[httpx.Response]:
                return self.clients["dispatch"].get(
                    f"/activities/{activity_id}", headers=self.organiser
                )

            await self._until(fetch, closed, timeout=timeout)

    def approvals(self) -> tuple[Callable[[], Any], Callable[[], bool]]:
        pending = deque(self.activities)

        def next_approval() -> tuple[str, Awaitable[httpx.Response]] | None:
            if not pending:
                return None
            activity = pending.popleft()

            async def go() -> httpx.Response:
                response = await self.clients["dispatch"].post(
                    f"/activities/{activity.activity_id}/approve", headers=self.organiser
                )
                if response.status_code < 300:
                    self.truth.approved.add(activity.activity_id)
                return response

            return "approve", go()

        return next_approval, lambda: not pending

    async def reported(self) -> dict[str, float]:
        service = (
            await self.clients["reporting"].get(
                "/reports/service", params={"area_id": DISTRICT}, headers=self.leader
            )
        ).json()["area"]
        volunteers = (
            await self.clients["reporting"].get(
                "/reports/volunteers", params={"area_id": DISTRICT}, headers=self.leader
            )
        ).json()["area"]
        return {
            "registered": volunteers["registered"],
            "activities": service["activities"],
            "activities_scheduled": service["activities_scheduled"],
            "turnouts": service["turnouts"],
            "hours": service["hours"],
            "beneficiaries": service["beneficiaries"],
        }

    async def stop_and_settle(
        self, stop: asyncio.Event, probes: list[asyncio.Task[None]], timeout: float = 300
    ) -> tuple[dict[str, float], dict[str, float], float]:
        """Stop the probes, wait for them (a record in flight is answered and counted in the
        truth), then settle: (the report's last state, the truth, seconds to settle).

        A probe still recording while the report is polled leaves the truth a record ahead
        of the report it was compared with (beneficiaries one short); one cancelled mid-
        request leaves a record dispatch accepted out of the truth."""
        stop.set()
        await asyncio.gather(*probes, return_exceptions=True)
        report, drain = await self.settle(timeout)
        return report, self.truth.expected(), drain

    async def settle(self, timeout: float = 300) -> tuple[dict[str, float], float]:
        """Poll the district report until it equals the truth (or time out); its last state."""
        started = time.perf_counter()
        expected = self.truth.expected()
        report: dict[str, float] = {}
        while time.perf_counter() - started < timeout:
            report = await self.reported()
            if all(abs(report[k] - v) < 1e-9 for k, v in expected.items()):
                break
            await asyncio.sleep(0.2)
        return report, time.perf_counter() - started

    async def _until(
        self,
        request: Callable[[], Awaitable[httpx.Response]],
        done: Callable[[Any], bool],
        timeout: float = 120,
    ) -> None:
        deadline = time.perf_counter() + timeout
        while True:
            response = await request()
            if response.status_code < 300 and done(response.json()):
                return
            if time.perf_counter() > deadline:
                raise TimeoutError(f"gave up waiting: {response.status_code} {response.text[:200]}")
            await asyncio.sleep(0.1)


async def run_phase(
    rate: float, duration: float, operation: Callable[[], Any], progress: Any, label: str
) -> OperationStats:
    task = progress.add_task(label, total=None)
    return await open_loop(rate, duration, operation, on_done=lambda: progress.advance(task))
