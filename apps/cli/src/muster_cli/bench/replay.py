"""Reporting figures over a generated log: rebuild rate, totals, query latency by log size.

The log goes onto topics of its own (`bench-<run>.*`) and the read models into a database
of their own, so the benchmark never touches the development data; both are removed after.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from muster_cli.bench.eventlog import (
    FIRST_DAY,
    SERVICE_DAYS,
    DistrictLog,
    GroundTruth,
    publish_district,
)
from muster_cli.bench.measure import (
    ProcessCpu,
    children_cpu_seconds,
    free_port,
    latency_summary,
    wait_until_ready,
)
from muster_contracts.areas import AreaLevel, load_area_tree
from muster_contracts.envelope import Role
from muster_contracts.topology import event_topic
from muster_runtime.adapters.mongodb.counter_cells import unpack
from muster_runtime.adapters.mongodb.read_model_versions import ReadModelVersions, version_name
from muster_runtime.dev_tokens import issue_token
from muster_runtime.topics import delete_topics, ensure_topics

DISTRICT = "130203"


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


def _subprocess_env(prefix: str, database: str, bootstrap: str, mongo_url: str) -> dict[str, str]:
    return os.environ | {
        "MUSTER_TOPIC_PREFIX": prefix,
        "MUSTER_MONGO_DB": database,
        "MUSTER_KAFKA_BOOTSTRAP": bootstrap,
        "MUSTER_MONGO_URL": mongo_url,
        "MUSTER_LOG_LEVEL": "WARNING",
    }


async def _rebuild(env: dict[str, str]) -> tuple[float, float, int, float]:
    """Run `python -m muster_reporting rebuild`; its own timing, its CPU seconds, events."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "muster_reporting", "rebuild",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    cpu_before = children_cpu_seconds()
    out, err = await process.communicate()
    cpu = children_cpu_seconds() - cpu_before
    if process.returncode != 0:
        raise RuntimeError(f"rebuild failed: {err.decode()[-2000:]}")
    text = out.decode()
    found = re.search(r"replayed (\d+) events in ([\d.]+) s.*?took ([\d.]+) s", text, re.S)
    if not found:
        raise RuntimeError(f"unexpected rebuild output: {text[-500:]}")
    return float(found.group(2)), cpu, int(found.group(1)), float(found.group(3))


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
    """Generate `events` onto fresh topics, rebuild reporting from them, check, query."""
    run = f"bench-{int(time.time())}-{os.getpid()}"
    prefix, database = run, run.replace("-", "_") + "_reporting"
    topics = [event_topic(prefix, c) for c in ("volunteer", "dispatch")]
    await ensure_topics(bootstrap, topics, partitions)
    log = DistrictLog(load_area_tree())
    await publish_district(bootstrap, prefix, log.events(events), progress=progress)
    env = _subprocess_env(prefix, database, bootstrap, mongo_url)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
    versions = ReadModelVersions(client, database, "reporting")
    try:
        seconds, cpu, replayed, write_seconds = await _rebuild(env)
        live = versions.database((await versions.live()).version)
        mismatches = await check_totals(live, log.truth)
        latency, as_of_latency = await _query_latency(env, queries) if queries else ({}, {})
        return ReplayFigures(
            events=replayed,
            partitions=partitions,
            rebuild_seconds=seconds,
            rebuild_rate=replayed / seconds if seconds else 0.0,
            rebuild_cpu_seconds=cpu,
            rebuild_write_seconds=write_seconds,
            totals_match=not mismatches,
            mismatches=mismatches,
            query_latency_ms=latency,
            as_of_latency_ms=as_of_latency,
        )
    finally:
        if not keep:
            for version in await versions.built():
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
