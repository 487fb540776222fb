"""Each service's read endpoints and live freshness, idle and while its read models are
rebuilt online, under a steady load of writes (`tools/rebuild_bench.py` runs it).

Reporting, dispatch and volunteer run as processes of their own on a generated district
log (`stack.BenchStack`: fresh topics and databases). A district's activities
(scheduled, check-ins and check-outs, beneficiaries, approvals, records) are appended to
the log at a steady rate the whole time. For each service in turn, for a window idle and
then for a window while `python -m muster_<service> rebuild` runs back to back (at least
as long, whole runs):
- queries: the service's main read endpoints, one after another (closed loop);
- freshness: one event at a time appended to the log (until the broker acknowledges it),
  then its effect polled through the service's API until it shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sys
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx

from muster_auth.dev_tokens import issue_token
from muster_cli.bench.eventlog import DistrictLog, LogProducer, WireEvent
from muster_cli.bench.measure import ChildRun, latency_summary, load_average, run_child
from muster_cli.bench.replay import RebuildOutput, consumed_topics, parse_rebuild_output, ratio
from muster_cli.bench.stack import BenchStack
from muster_cli.sample import SampleVolunteers
from muster_contracts.envelope import Role
from muster_runtime.lag import ConsumerLag

DISTRICT = "130203"
# Between one freshness probe's effect showing and the next append.
PROBE_PAUSE_SECONDS = 0.2
POLL_SECONDS = 0.02


def bearer(subject: str, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(subject, role, DISTRICT)}"}


class Subject(ABC):
    """A service as the bench asks it: its read endpoints, and an event whose effect on
    them a probe waits for."""

    service: ClassVar[str]
    endpoints: ClassVar[str]  # what `query` asks, for the table

    def __init__(self, client: httpx.AsyncClient, log: DistrictLog, producer: LogProducer):
        self.client = client
        self.log = log
        self.producer = producer

    @abstractmethod
    async def prepare(self) -> None:
        """What the queries and probes need, appended or registered before the bench waits
        for the service to catch up."""

    @abstractmethod
    def query(self, n: int) -> tuple[str, dict[str, Any], dict[str, str]]:
        """The `n`-th query: path, parameters, headers."""

    @abstractmethod
    async def probe(self) -> float:
        """Append one event; seconds from the append until the service's API shows it."""

    async def get(self, path: str, params: dict[str, Any], headers: dict[str, str]) -> Any:
        answer = await self.client.get(path, params=params, headers=headers)
        answer.raise_for_status()
        return answer.json()

    async def until_shown(self, event: WireEvent, shown: Any) -> float:
        """Append `event`, then call `shown()` until it is true: the seconds in all."""
        started = time.perf_counter()
        await self.producer.append(event)
        while not await shown():
            await asyncio.sleep(POLL_SECONDS)
        return time.perf_counter() - started


class Reporting(Subject):
    service = "reporting"
    endpoints = "GET /reports/volunteers, /reports/service (district)"
    LEADER = bearer("bench-leader", Role.LEADER)

    def query(self, n: int) -> tuple[str, dict[str, Any], dict[str, str]]:
        path = "/reports/service" if n % 2 else "/reports/volunteers"
        return path, {"area_id": DISTRICT}, self.LEADER

    async def prepare(self) -> None:
        """Nothing: the district's reports are there."""

    async def registered(self) -> int:
        report = await self.get("/reports/volunteers", {"area_id": DISTRICT}, self.LEADER)
        return int(report["area"]["registered"])

    async def probe(self) -> float:
        """A registration, until the district counts it (the steady load registers none)."""
        before = await self.registered()

        async def counted() -> bool:
            return await self.registered() > before

        return await self.until_shown(self.log.registration(datetime.now(UTC)), counted)


def volunteer_of(registration: WireEvent) -> str:
    return registration.key.decode().removeprefix("volunteer-")


class Dispatch(Subject):
    service = "dispatch"
    endpoints = "GET /activities (district), GET /pool/volunteers/{id}"
    ORGANISER = bearer("bench-organiser", Role.ORGANISER)

    def __init__(self, client: httpx.AsyncClient, log: DistrictLog, producer: LogProducer):
        super().__init__(client, log, producer)
        self.pooled: list[str] = []

    async def prepare(self) -> None:
        for _ in range(20):
            registration = self.log.registration(datetime.now(UTC))
            await self.producer.append(registration)
            self.pooled.append(volunteer_of(registration))

    def query(self, n: int) -> tuple[str, dict[str, Any], dict[str, str]]:
        if n % 2:
            return f"/pool/volunteers/{self.pooled[n % len(self.pooled)]}", {}, self.ORGANISER
        return "/activities", {"area_id": DISTRICT}, self.ORGANISER

    async def probe(self) -> float:
        """A registration, until dispatch's pool has the volunteer."""
        registration = self.log.registration(datetime.now(UTC))
        path = f"/pool/volunteers/{volunteer_of(registration)}"

        async def pooled() -> bool:
            answer = await self.client.get(path, headers=self.ORGANISER)
            return answer.status_code == 200

        return await self.until_shown(registration, pooled)


@dataclass
class Registered:
    volunteer_id: str
    headers: dict[str, str]


class Volunteer(Subject):
    service = "volunteer"
    endpoints = "GET /me/activities, GET /me/service-record"
    # Volunteers the queries read for, each assigned to this many activities to come.
    READERS, ACTIVITIES_EACH, PROBERS = 8, 5, 4

    def __init__(self, client: httpx.AsyncClient, log: DistrictLog, producer: LogProducer):
        super().__init__(client, log, producer)
        self.readers: list[Registered] = []
        self.probers: list[Registered] = []
        self._sample = SampleVolunteers(seed=23)
        self._probes = itertools.count()

    async def register(self, n: int) -> Registered:
        headers = bearer(f"bench-volunteer-{n}", Role.VOLUNTEER)
        answer = await self.client.post(
            "/volunteers",
            json=self._sample.draw(),
            headers=headers | {"Idempotency-Key": str(uuid.uuid4())},
        )
        answer.raise_for_status()
        return Registered(answer.json()["volunteer_id"], headers)

    def scheduled(self, volunteer_id: str, starts: datetime) -> tuple[str, WireEvent]:
        activity_id = f"act-bench-{uuid.uuid4().hex[:16]}"
        event = self.log.scheduled(activity_id, None, starts, [volunteer_id], datetime.now(UTC))
        return activity_id, event

    async def prepare(self) -> None:
        self.readers = [await self.register(n) for n in range(self.READERS)]
        self.probers = [await self.register(self.READERS + n) for n in range(self.PROBERS)]
        tomorrow = datetime.now(UTC) + timedelta(days=1)
        for reader in self.readers:
            for n in range(self.ACTIVITIES_EACH):
                await self.producer.append(
                    self.scheduled(reader.volunteer_id, tomorrow + timedelta(hours=n))[1]
                )

    def query(self, n: int) -> tuple[str, dict[str, Any], dict[str, str]]:
        reader = self.readers[(n // 2) % len(self.readers)]
        path = "/me/service-record" if n % 2 else "/me/activities"
        return path, {}, reader.headers

    async def probe(self) -> float:
        """An activity assigned to a volunteer, until it leads the volunteer's upcoming
        activities (each probe's starts a minute sooner than the one before)."""
        n = next(self._probes)
        prober = self.probers[n % len(self.probers)]
        starts = datetime.now(UTC) + timedelta(days=2) - timedelta(minutes=n)
        activity_id, event = self.scheduled(prober.volunteer_id, starts)

        async def listed() -> bool:
            mine = await self.get("/me/activities", {"limit": 1}, prober.headers)
            return bool(mine["upcoming"]) and mine["upcoming"][0]["activity_id"] == activity_id

        return await self.until_shown(event, listed)


SUBJECTS: dict[str, type[Subject]] = {s.service: s for s in (Reporting, Dispatch, Volunteer)}


@dataclass
class Window:
    """What one measuring window gathered: each query's and each probe's seconds."""

    queries: list[float] = field(default_factory=list)
    freshness: list[float] = field(default_factory=list)


async def _queries(subject: Subject, stop: asyncio.Event, into: list[float]) -> None:
    for n in itertools.count():
        if stop.is_set():
            return
        path, params, headers = subject.query(n)
        started = time.perf_counter()
        await subject.get(path, params, headers)
        into.append(time.perf_counter() - started)


async def _probes(subject: Subject, stop: asyncio.Event, into: list[float]) -> None:
    while not stop.is_set():
        into.append(await subject.probe())
        await asyncio.sleep(PROBE_PAUSE_SECONDS)


async def measured(subject: Subject, until: asyncio.Future[Any]) -> Window:
    """Queries and probes until `until` is done."""
    window, stop = Window(), asyncio.Event()
    loads = [
        asyncio.create_task(_queries(subject, stop, window.queries)),
        asyncio.create_task(_probes(subject, stop, window.freshness)),
    ]
    try:
        await until
    finally:
        stop.set()
        await asyncio.gather(*loads)
    return window


def rebuild_command(service: str) -> list[str]:
    return [sys.executable, "-m", f"muster_{service}", "rebuild", "--no-progress"]


async def rebuild(service: str, env: dict[str, str]) -> tuple[RebuildOutput, ChildRun]:
    """One `rebuild` of the service as a process of its own: what it printed, its usage."""
    child = await run_child(rebuild_command(service), env)
    if child.returncode != 0:
        raise RuntimeError(f"{service} rebuild failed: {child.stderr[-2000:]}")
    return parse_rebuild_output(child.stdout), child


async def rebuilds_for(service: str, env: dict[str, str], seconds: float) -> list[RebuildOutput]:
    """Whole rebuilds of the service one after another, until `seconds` have passed."""
    started, runs = time.perf_counter(), list[RebuildOutput]()
    while not runs or time.perf_counter() - started < seconds:
        runs.append((await rebuild(service, env))[0])
    return runs


def endless_activities(log: DistrictLog) -> Iterator[WireEvent]:
    for _ in itertools.count():
        yield from log.activity()


async def steady_writes(producer: LogProducer, log: DistrictLog, rate: float) -> None:
    """Append a district's activities at `rate` events/s until cancelled."""
    started = time.perf_counter()
    for n, event in enumerate(endless_activities(log)):
        await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
        await producer.send(event)


async def caught_up(stack: BenchStack, service: str, timeout: float = 900) -> None:
    """Until the service's consumer group has committed every record of its topics."""
    prefix = stack.topic_prefix
    lag = ConsumerLag(stack.bootstrap, f"{prefix}.{service}", consumed_topics(prefix, service))
    deadline = time.perf_counter() + timeout
    try:
        while any((await lag.measure()).values()):
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{service} did not catch up in {timeout:.0f} s")
            await asyncio.sleep(0.5)
    finally:
        await lag.close()


@dataclass(frozen=True)
class ServiceFigures:
    """One service idle and during its online rebuilds."""

    service: str
    endpoints: str
    idle: Window
    during: Window
    rebuilds: list[RebuildOutput]
    load_idle: str
    load_during: str

    def row(self) -> list[str]:
        q0, q1 = latency_summary(self.idle.queries), latency_summary(self.during.queries)
        f0, f1 = latency_summary(self.idle.freshness), latency_summary(self.during.freshness)
        seconds = ", ".join(f"{r.seconds:.1f}" for r in self.rebuilds)
        return [
            self.service,
            self.endpoints,
            f"{q0['p99']:.0f} ms ({q0['n']:.0f})",
            f"{q1['p99']:.0f} ms ({q1['n']:.0f})",
            _times(ratio(q1["p99"], q0["p99"])),
            f"{f0['p50']:.0f} / {f0['p99']:.0f} ms ({f0['n']:.0f})",
            f"{f1['p50']:.0f} / {f1['p99']:.0f} ms ({f1['n']:.0f})",
            f"{_times(ratio(f1['p50'], f0['p50']))} / {_times(ratio(f1['p99'], f0['p99']))}",
            f"{len(self.rebuilds)} ({seconds} s)",
            f"{self.load_idle} → {self.load_during}",
        ]


COLUMNS = [
    "service",
    "queries",
    "query p99 idle (n)",
    "query p99 during rebuilds (n)",
    "×",
    "freshness p50 / p99 idle (n)",
    "freshness during rebuilds (n)",
    "× p50 / p99",
    "rebuilds (each s)",
    "load average idle → during",
]


def _times(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def table(rows: list[list[str]]) -> str:
    """The rows under `COLUMNS`, as a Markdown table."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


async def under_load(
    stack: BenchStack,
    log: DistrictLog,
    services: list[str],
    *,
    rate: float,
    seconds: float,
    report: Any = print,
) -> list[ServiceFigures]:
    """Start the services on the stack's log, then measure each in turn idle and during
    its online rebuilds while activities are appended at `rate` events/s."""
    async with LogProducer(stack.bootstrap, stack.topic_prefix, linger_ms=0) as producer:
        subjects: list[Subject] = []
        clients: list[httpx.AsyncClient] = []
        try:
            for service in services:
                url = await stack.start(service)
                clients.append(httpx.AsyncClient(base_url=url, timeout=60))
                subjects.append(SUBJECTS[service](clients[-1], log, producer))
            for subject in subjects:
                await subject.prepare()
            for service in services:
                await caught_up(stack, service)
            writes = asyncio.create_task(steady_writes(producer, log, rate))
            try:
                figures = []
                for subject in subjects:
                    idle = await measured(subject, asyncio.ensure_future(asyncio.sleep(seconds)))
                    load_idle = load_average()
                    env = stack.env(subject.service, 0)
                    runs = asyncio.ensure_future(rebuilds_for(subject.service, env, seconds))
                    during = await measured(subject, runs)
                    load_during = load_average()
                    figures.append(
                        ServiceFigures(
                            subject.service,
                            subject.endpoints,
                            idle,
                            during,
                            runs.result(),
                            load_idle,
                            load_during,
                        )
                    )
                    report(f"  {subject.service}: {' | '.join(figures[-1].row()[2:])}")
                return figures
            finally:
                writes.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writes
        finally:
            for client in clients:
                await client.aclose()
