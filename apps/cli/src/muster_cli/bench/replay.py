"""Figures over a generated log: each service's rebuild (rate, writing time, peak memory)
beside a raw aiokafka read of the same topics and a raw `insert_many` of the same
documents, reporting's rebuilt totals, and report query latency by log size.

The log goes onto topics of its own (`bench-<run>.*`) and each service's read models into
databases of their own, so the benchmark never touches the development data; all are
removed after.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from muster_auth.dev_tokens import issue_token
from muster_cli.bench.baselines import raw_insert_many, raw_read
from muster_cli.bench.eventlog import (
    FIRST_DAY,
    SERVICE_DAYS,
    DistrictLog,
    GroundTruth,
    publish_district,
)
from muster_cli.bench.measure import (
    ChildRun,
    ProcessCpu,
    free_port,
    latency_summary,
    run_child,
    wait_until_ready,
)
from muster_contracts.areas import AreaLevel, load_area_tree
from muster_contracts.envelope import Role
from muster_contracts.topology import event_topic
from muster_runtime.adapters.mongodb.counter_cells import unpack
from muster_runtime.adapters.mongodb.read_model_versions import ReadModelVersions, version_name
from muster_runtime.topics import delete_topics, ensure_topics

DISTRICT = "130203"
# The services whose read models rebuild from the log, in the order the bench runs them.
REBUILT_SERVICES = ("reporting", "dispatch", "volunteer")


@dataclass
class ReplayFigures:
    events: int
    partitions: int
    rebuild_seconds: float
    rebuild_rate: float
    rebuild_cpu_seconds: float
    rebuild_write_seconds: float
    totals_match: bool
    mismatches: list[str] = field(default_factory=list)
    query_latency_ms: dict[str, float] = field(default_factory=dict)
    as_of_latency_ms: dict[str, float] = field(default_factory=dict)
    rebuilds: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class RebuildOutput:
    """What a `rebuild` command prints about itself."""

    events: int
    seconds: float
    write_seconds: float
    fold_seconds: float
    caught_up: int
    set_aside: int
    steps: dict[str, float] = field(default_factory=dict)  # seconds of each step, by name


_REPLAYED = re.compile(
    r"replayed (\d+) events in ([\d.]+) s .*?took ([\d.]+) s of it,"
    r"\s+reading and folding\s+the log ([\d.]+) s\), then caught up (\d+) more",
    re.S,
)
_SET_ASIDE = re.compile(r"set aside (\d+) records")
_STEPS = re.compile(r"^steps: (.*)$", re.M)
_STEP = re.compile(r"(.+?) ([\d.]+) s(?:, |$)")


def parse_rebuild_output(text: str) -> RebuildOutput:
    """The figures of a `python -m muster_<service> rebuild` run from what it printed."""
    found = _REPLAYED.search(text)
    if found is None:
        raise ValueError(f"unexpected rebuild output: {text[-500:]}")
    aside = _SET_ASIDE.search(text)
    steps = _STEPS.search(text)
    return RebuildOutput(
        events=int(found[1]),
        seconds=float(found[2]),
        write_seconds=float(found[3]),
        fold_seconds=float(found[4]),
        caught_up=int(found[5]),
        set_aside=int(aside[1]) if aside else 0,
        steps={m[1]: float(m[2]) for m in _STEP.finditer(steps[1])} if steps else {},
    )


def ratio(numerator: float, denominator: float) -> float | None:
    """numerator ÷ denominator, or None when there is nothing to divide by."""
    return numerator / denominator if denominator > 0 else None


def rebuild_figures(
    output: RebuildOutput, child: ChildRun, read: dict[str, float], insert: dict[str, float]
) -> dict[str, Any]:
    """One service's rebuild beside its two baselines: the rebuild's rate over the raw
    read's, and its writing time over the raw `insert_many`'s."""
    rate = output.events / output.seconds if output.seconds > 0 else 0.0
    return {
        "events": output.events,
        "seconds": output.seconds,
        "rate": rate,
        "write_seconds": output.write_seconds,
        "fold_seconds": output.fold_seconds,
        "caught_up": output.caught_up,
        "set_aside": output.set_aside,
        "steps": output.steps,
        "cpu_seconds": child.cpu_seconds,
        "peak_rss_mb": child.peak_rss_mb,
        "raw_read": read,
        "raw_insert_many": insert,
        "rate_to_raw_read": ratio(rate, read["per_second"]),
        "write_to_raw_insert": ratio(output.write_seconds, insert["seconds"]),
    }


def _subprocess_env(prefix: str, database: str, bootstrap: str, mongo_url: str) -> dict[str, str]:
    return os.environ | {
        "MUSTER_TOPIC_PREFIX": prefix,
        "MUSTER_MONGO_DB": database,
        "MUSTER_KAFKA_BOOTSTRAP": bootstrap,
        "MUSTER_MONGO_URL": mongo_url,
        "MUSTER_LOG_LEVEL": "WARNING",
        # The bench's processes take the bench's development tokens and secrets.
        "MUSTER_DEV_MODE": "1",
    }


def consumed_topics(prefix: str, service: str) -> list[str]:
    """The topics a service's rebuild replays (its `CONSUMES`)."""
    consumes: tuple[str, ...] = importlib.import_module(f"muster_{service}.bootstrap").CONSUMES
    return [event_topic(prefix, context) for context in consumes]


async def rebuild_beside_baselines(
    service: str,
    env: dict[str, str],
    client: AsyncMongoClient[dict[str, Any]],
    *,
    bootstrap: str,
    partitions: int,
) -> dict[str, Any]:
    """A raw aiokafka read of the service's topics, then `python -m muster_<service>
    rebuild` as a process of its own (its CPU and peak memory its own), then a raw
    `insert_many` of the documents it wrote into a scratch database (dropped after)."""
    read = await raw_read(
        bootstrap, consumed_topics(env["MUSTER_TOPIC_PREFIX"], service), partitions
    )
    child = await run_child(
        [sys.executable, "-m", f"muster_{service}", "rebuild", "--no-progress"], env
    )
    if child.returncode != 0:
        raise RuntimeError(f"{service} rebuild failed: {child.stderr[-2000:]}")
    output = parse_rebuild_output(child.stdout)
    versions = ReadModelVersions(client, env["MUSTER_MONGO_DB"], service)
    rebuilt = versions.database((await versions.live()).version)
    scratch = f"{env['MUSTER_MONGO_DB']}_insert"
    try:
        insert = await raw_insert_many(rebuilt, client[scratch])
    finally:
        await client.drop_database(scratch)
    return rebuild_figures(output, child, read, insert)


async def check_totals(db: Any, truth: GroundTruth) -> list[str]:
    """Differences between the district's cells and the generator's ground truth."""
    volunteers = await db["volunteers_by_area"].find_one({"_id": DISTRICT}) or {}
    service_cell = await db["service_by_area"].find_one({"_id": DISTRICT})
    service = unpack(service_cell).nested() if service_cell is not None else {}
    expected: dict[str, tuple[int, int]] = {
        "registered": (truth.registered, int(volunteers.get("registered", 0))),
        "activities": (truth.activities, int(service.get("activities", 0))),
        "activities_scheduled": (
            truth.activities_scheduled,
            int(service.get("activities_scheduled", 0)),
        ),
        "turnouts": (truth.turnouts, int(service.get("turnouts", 0))),
        "minutes": (truth.minutes, int(service.get("minutes", 0))),
        "beneficiaries": (truth.beneficiaries, int(service.get("beneficiaries_total", 0))),
    }
    for category, count in truth.categories.items():
        got = int(volunteers.get("category", {}).get(category, 0))
        expected[f"category.{category}"] = (count, got)
    return [
        f"{k}: expected {want}, got {got}" for k, (want, got) in expected.items() if want != got
    ]


def _as_of(n: int, now: datetime | None = None) -> str:
    """An instant (to the second) somewhere in the month the generated log was recorded in,
    and not after `now` (reporting refuses an as_of ahead of its clock)."""
    start = datetime(FIRST_DAY.year, FIRST_DAY.month, FIRST_DAY.day, tzinfo=UTC)
    span = SERVICE_DAYS * 86_400
    elapsed = int(((now or datetime.now(UTC)) - start).total_seconds())
    span = max(1, min(span, elapsed))
    return (start + timedelta(seconds=(n * 7_919_993) % span)).isoformat()


async def _query_latency(
    env: dict[str, str], queries: int
) -> tuple[dict[str, float], dict[str, float]]:
    """p50/p95/p99 of report queries against a reporting process serving the rebuilt models:
    the current figures, then the same queries as of instants spread over the log's month."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "muster_reporting",
        env=env | {"MUSTER_HTTP_PORT": str(port)},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    areas = load_area_tree()
    targets = [DISTRICT] + [a.id for a in areas.at_level(AreaLevel.STREET)]
    targets += [a.id for a in areas.at_level(AreaLevel.COMMUNITY)][:40]
    headers = {"Authorization": f"Bearer {issue_token('bench-leader', Role.LEADER, DISTRICT)}"}
    samples: dict[bool, list[float]] = {False: [], True: []}
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            await wait_until_ready(client)
            for as_of in (False, True):
                for n in range(queries + 50):
                    area = targets[n % len(targets)]
                    path = "/reports/service" if n % 2 else "/reports/volunteers"
                    params = {"area_id": area} | ({"period": "2026-11"} if n % 4 == 1 else {})
                    if as_of:
                        params["as_of"] = _as_of(n)
                    started = time.perf_counter()
                    response = await client.get(path, params=params, headers=headers)
                    elapsed = time.perf_counter() - started
                    response.raise_for_status()
                    if n >= 50:  # the first requests warm the connection pool and caches
                        samples[as_of].append(elapsed)
    finally:
        if process.returncode is None:  # one that exited early keeps its error visible
            process.terminate()
        await process.wait()
    return latency_summary(samples[False]), latency_summary(samples[True])


async def run_replay_bench(
    events: int,
    *,
    bootstrap: str,
    mongo_url: str,
    partitions: int = 6,
    queries: int = 1000,
    keep: bool = False,
    progress: Any = None,
) -> ReplayFigures:
    """Generate `events` onto fresh topics, rebuild each service from them beside its
    baselines, check reporting's totals, query reporting."""
    run = f"bench-{int(time.time())}-{os.getpid()}"
    prefix, base = run, run.replace("-", "_")
    topics = [event_topic(prefix, c) for c in ("volunteer", "dispatch", "notify")]
    await ensure_topics(bootstrap, topics, partitions)
    log = DistrictLog(load_area_tree())
    await publish_district(bootstrap, prefix, log.events(events), progress=progress)
    envs = {
        service: _subprocess_env(prefix, f"{base}_{service}", bootstrap, mongo_url)
        | {"MUSTER_TOPIC_PARTITIONS": str(partitions)}
        for service in REBUILT_SERVICES
    }
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
    try:
        rebuilds = {
            service: await rebuild_beside_baselines(
                service, env, client, bootstrap=bootstrap, partitions=partitions
            )
            for service, env in envs.items()
        }
        reporting = rebuilds["reporting"]
        versions = ReadModelVersions(client, envs["reporting"]["MUSTER_MONGO_DB"], "reporting")
        live = versions.database((await versions.live()).version)
        mismatches = await check_totals(live, log.truth)
        latency, as_of_latency = (
            await _query_latency(envs["reporting"], queries) if queries else ({}, {})
        )
        return ReplayFigures(
            events=reporting["events"],
            partitions=partitions,
            rebuild_seconds=reporting["seconds"],
            rebuild_rate=reporting["rate"],
            rebuild_cpu_seconds=reporting["cpu_seconds"],
            rebuild_write_seconds=reporting["write_seconds"],
            totals_match=not mismatches,
            mismatches=mismatches,
            query_latency_ms=latency,
            as_of_latency_ms=as_of_latency,
            rebuilds=rebuilds,
        )
    finally:
        if not keep:
            for service, env in envs.items():
                database = env["MUSTER_MONGO_DB"]
                for version in await ReadModelVersions(client, database, service).built():
                    await client.drop_database(version_name(database, version))
                await client.drop_database(database)
            await delete_topics(bootstrap, prefix)
        await client.close()


async def run_scale_out(
    events: int, *, bootstrap: str, mongo_url: str, partitions: int = 6, replicas: int = 2
) -> dict[str, Any]:
    """Live consumption of the same log by one reporting process, then by `replicas` in one
    consumer group: the time until the reports equal the log's ground truth."""
    figures: dict[str, Any] = {"events": 0, "partitions": partitions, "runs": {}}
    for processes in (1, replicas):
        run = f"bench-scale{processes}-{int(time.time())}-{os.getpid()}"
        prefix, database = run, run.replace("-", "_") + "_reporting"
        await ensure_topics(
            bootstrap, [event_topic(prefix, c) for c in ("volunteer", "dispatch")], partitions
        )
        log = DistrictLog(load_area_tree(), seed=21)  # the same log for every run
        figures["events"] = await publish_district(bootstrap, prefix, log.events(events))
        env = _subprocess_env(prefix, database, bootstrap, mongo_url)
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
        started = time.perf_counter()
        workers = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "muster_reporting",
                env=env | {"MUSTER_HTTP_PORT": str(free_port())},
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            for _ in range(processes)
        ]
        cpu = ProcessCpu({f"reporting-{n}": w.pid for n, w in enumerate(workers)})
        cpu.start()
        try:
            deadline = started + 900
            while await check_totals(client[database], log.truth):
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"{processes} reporting process(es) did not catch up")
                await asyncio.sleep(0.25)
            seconds = time.perf_counter() - started
            figures["runs"][str(processes)] = {
                "seconds_to_catch_up": seconds,
                "events_per_second": figures["events"] / seconds,
                "cpu_seconds": cpu.stop(),
            }
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                await worker.wait()
            await client.drop_database(database)
            await delete_topics(bootstrap, prefix)
            await client.close()
    return figures
