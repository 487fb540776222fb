"""Benchmark: how fast the reporting service answers `/healthz` while 8 of the heaviest
report queries it allows run at once (the longest daily series, the deepest as-of, the
largest spreadsheet exports), against a quiet baseline; and whether its Kafka consumer
kept its group session meanwhile.

    python -m tools.healthz_under_load [--seconds 30] [--volunteers 400]   # or make bench-healthz

It starts volunteer, dispatch and reporting on fresh databases and topics (the running
Kafka and store), registers volunteers so the reports have rows, and prints figures. It
asserts nothing: on a loaded 2-core machine the figures move, and a liveness probe's
budget (50 ms) is judged by reading them. A query refused as busy (503 `reports_busy`)
is asked again after its `Retry-After`, as a client should; the statuses are counted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx

from muster_auth.dev_tokens import development_jwt_secret, issue_token
from muster_cli.bench.measure import latency_line, latency_summary
from muster_cli.bench.stack import bench_stack
from muster_contracts.envelope import Role
from muster_reporting.application.as_of import HISTORY_SINCE
from muster_reporting.entrypoints.series import MAX_POINTS

DISTRICT = "130203"
WORKERS = 8
PROBE_EVERY = 0.02  # seconds between two /healthz probes
# What a consumer that lost its group session logs (aiokafka, the broker's coordinator).
SESSION_LOST = ("Heartbeat session expired", "Heartbeat failed", "rebalance", "Rebalance")


def heavy_queries(today: datetime) -> list[tuple[str, dict[str, str]]]:
    """The heaviest queries the API allows, as (path, query)."""
    # Both ends given: the service's "today" is in its own time zone.
    last_day = today.date() - timedelta(days=1)
    days = {"granularity": "day", "to": last_day.isoformat()}
    days["from"] = (last_day - timedelta(days=MAX_POINTS - 1)).isoformat()
    deepest = (HISTORY_SINCE + timedelta(minutes=1)).isoformat()
    area = {"area_id": DISTRICT}
    return [
        ("/reports/service/series", area | days),
        ("/reports/service", area | {"as_of": deepest}),
        ("/reports/volunteers", area | {"format": "xlsx"}),
        ("/reports/top-volunteers", area | {"limit": "100", "format": "xlsx"}),
        ("/reports/service/series", area | days | {"format": "xlsx"}),
        ("/reports/stars", area | {"format": "xlsx"}),
    ]  # fmt: skip


async def probe(client: httpx.AsyncClient, until: float) -> list[float]:
    latencies = []
    while time.monotonic() < until:
        started = time.perf_counter()
        answer = await client.get("/healthz")
        latencies.append(time.perf_counter() - started)
        answer.raise_for_status()
        await asyncio.sleep(PROBE_EVERY)
    return latencies


Answered = dict[str, list[tuple[int, float]]]  # query -> (status, seconds) of each answer


async def query_load(
    client: httpx.AsyncClient, token: str, worker: int, until: float, answered: Answered
) -> None:
    queries = heavy_queries(datetime.now(UTC))
    turn = worker
    while time.monotonic() < until:
        path, params = queries[turn % len(queries)]
        turn += 1
        started = time.perf_counter()
        answer = await client.get(
            path, params=params, headers={"Authorization": f"Bearer {token}"}, timeout=120
        )
        label = f"{path}?{'&'.join(f'{k}={v}' for k, v in params.items() if k != 'area_id')}"
        answered.setdefault(label, []).append((answer.status_code, time.perf_counter() - started))
        if answer.status_code == 503:  # busy: wait as told, as a client should
            await asyncio.sleep(float(answer.headers.get("Retry-After", "1")))


async def run(seconds: float, volunteers: int) -> None:
    os.environ["MUSTER_JWT_SECRET"] = development_jwt_secret()
    bootstrap = os.environ.get("MUSTER_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    mongo_url = os.environ.get("MUSTER_MONGO_URL", "mongodb://127.0.0.1:27017/")
    async with bench_stack(bootstrap, mongo_url) as stack:
        os.environ["MUSTER_VOLUNTEER_URL"] = stack.urls["volunteer"]
        from muster_cli.demo import register_batch

        await register_batch(volunteers, concurrency=8)
        token = issue_token("bench-leader", Role.LEADER, DISTRICT)
        async with httpx.AsyncClient(base_url=stack.urls["reporting"], timeout=30) as client:
            quiet = await probe(client, time.monotonic() + min(seconds, 10))
            until = time.monotonic() + seconds
            probing = asyncio.create_task(probe(client, until))
            answered: Answered = {}
            await asyncio.gather(
                *(query_load(client, token, w, until, answered) for w in range(WORKERS))
            )
            loaded = await probing
        log = (stack.logs / "reporting.log").read_text(errors="replace")
    print(f"reporting /healthz, quiet:                   {latency_line(quiet)}")
    print(
        f"reporting /healthz, {WORKERS} heavy queries at once: {latency_line(loaded)} "
        f"({latency_summary(loaded)['n']:.0f} probes in {seconds:.0f} s)"
    )
    print("heavy queries (answers, their statuses, latency):")
    for label, answers in sorted(answered.items()):
        counted = Counter(status for status, _ in answers)
        statuses = ", ".join(f"{status}: {n}" for status, n in sorted(counted.items()))
        print(f"  {label}: {len(answers)} ({statuses}), {latency_line([s for _, s in answers])}")
    lost = [line for line in log.splitlines() if any(s in line for s in SESSION_LOST)]
    print(f"consumer group session lost or rebalanced: {len(lost)} log lines")
    for line in lost[:5]:
        print(f"  {line[:200]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds of heavy queries")
    parser.add_argument("--volunteers", type=int, default=400, help="registered first")
    options = parser.parse_args()
    asyncio.run(run(options.seconds, options.volunteers))


if __name__ == "__main__":
    main()
