"""How fast reporting rebuilds its read models, beside what the broker and the store do raw
with the same data: a raw aiokafka loop reading the same topics, and a raw `insert_many`
of the same documents the rebuild writes; with the rebuild's peak memory. A generated
district log on fresh topics and databases, removed after.

    python -m tools.rebuild_bench [EVENTS]   # 10,000 by default (`make bench-rebuild`)
    make bench-rebuild EVENTS=1000000        # the issue's scale

The rebuild runs as an operator runs it (`python -m muster_reporting rebuild`, a process of
its own, so its peak resident memory is its own), first with reporting stopped, then again
while a reporting process serves and consumes: report query latency and freshness (from
publishing a registration to seeing it counted) idle, then while the rebuild runs.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from muster_cli.bench.baselines import raw_insert_many, raw_read
from muster_cli.bench.eventlog import DistrictLog, publish_district
from muster_cli.bench.measure import (
    ChildRun,
    free_port,
    latency_summary,
    run_child,
    wait_until_ready,
)
from muster_cli.bench.replay import RebuildOutput, parse_rebuild_output, rebuild_figures
from muster_contracts.areas import load_area_tree
from muster_contracts.envelope import Role
from muster_contracts.topology import event_topic
from muster_reporting.bootstrap import CONSUMES
from muster_runtime.adapters.mongodb.read_model_versions import ReadModelVersions, version_name
from muster_runtime.dev_tokens import issue_token
from muster_runtime.mongo import connect
from muster_runtime.topics import delete_topics, ensure_topics

PARTITIONS = 6
DISTRICT = "130203"


class LiveReporting:
    """A reporting process on the bench's topics and database, asked as a leader would."""

    def __init__(self, env: dict[str, str], log: DistrictLog, bootstrap: str, prefix: str):
        self._env = env
        self._log = log
        self._bootstrap = bootstrap
        self._prefix = prefix
        self._port = free_port()
        self._headers = {
            "Authorization": f"Bearer {issue_token('bench-leader', Role.LEADER, DISTRICT)}"
        }
        self.client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self._port}", timeout=30)
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "muster_reporting",
            env=self._env | {"MUSTER_HTTP_PORT": str(self._port)},
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await wait_until_ready(self.client)

    async def stop(self) -> None:
        await self.client.aclose()
        if self._process is not None:
            self._process.terminate()
            await self._process.wait()

    async def registered(self) -> int:
        answer = await self.client.get(
            "/reports/volunteers", params={"area_id": DISTRICT}, headers=self._headers
        )
        answer.raise_for_status()
        return int(answer.json()["area"]["registered"])

    async def caught_up(self) -> None:
        while await self.registered() < self._log.truth.registered:
            await asyncio.sleep(0.5)

    async def queries(self, until: asyncio.Event) -> list[float]:
        """Report queries one after another until `until`: each one's seconds."""
        samples: list[float] = []
        n = 0
        while not until.is_set():
            path = "/reports/service" if n % 2 else "/reports/volunteers"
            started = time.perf_counter()
            answer = await self.client.get(
                path, params={"area_id": DISTRICT}, headers=self._headers
            )
            answer.raise_for_status()
            samples.append(time.perf_counter() - started)
            n += 1
        return samples

    async def freshness(self, until: asyncio.Event) -> list[float]:
        """Registrations published one at a time until `until`: seconds until each counts."""
        samples: list[float] = []
        while not until.is_set():
            before = await self.registered()
            event = self._log.registration(datetime.now(UTC))
            started = time.perf_counter()
            await publish_district(self._bootstrap, self._prefix, iter([event]))
            while await self.registered() <= before:
                await asyncio.sleep(0.02)
            samples.append(time.perf_counter() - started)
            await asyncio.sleep(0.2)
        return samples

    async def measure(self, seconds: float | None, during: asyncio.Task[Any] | None = None) -> str:
        """p50/p99 of queries and freshness for `seconds`, or while `during` runs."""
        until = asyncio.Event()
        loads = [
            asyncio.create_task(self.queries(until)),
            asyncio.create_task(self.freshness(until)),
        ]
        if during is not None:
            await during
        else:
            await asyncio.sleep(seconds or 0)
        until.set()
        queries, fresh = await asyncio.gather(*loads)
        q, f = latency_summary(queries), latency_summary(fresh)
        return (
            f"queries p50 {q['p50']:.1f} ms, p99 {q['p99']:.1f} ms ({len(queries)});"
            f" freshness p50 {f['p50']:.0f} ms, max {f['max']:.0f} ms ({len(fresh)})"
        )


async def rebuild(env: dict[str, str]) -> tuple[RebuildOutput, ChildRun]:
    """A reporting rebuild as a process of its own: what it printed, and its usage."""
    child = await run_child(
        [sys.executable, "-m", "muster_reporting", "rebuild", "--no-progress"], env
    )
    if child.returncode != 0:
        raise RuntimeError(f"rebuild failed: {child.stderr[-2000:]}")
    return parse_rebuild_output(child.stdout), child


async def run(events: int) -> None:
    bootstrap = os.environ.get("MUSTER_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    mongo_url = os.environ.get("MUSTER_MONGO_URL", "mongodb://127.0.0.1:27017/")
    run_id = f"rebuild-bench-{uuid.uuid4().hex[:8]}"
    database = run_id.replace("-", "_")
    topics = [event_topic(run_id, c) for c in CONSUMES]
    client = connect(mongo_url)
    versions = ReadModelVersions(client, database, "reporting")
    try:
        await ensure_topics(bootstrap, topics, PARTITIONS)
        log = DistrictLog(load_area_tree(), seed=21)
        published = await publish_district(bootstrap, run_id, log.events(events))
        env = os.environ | {
            "MUSTER_TOPIC_PREFIX": run_id,
            "MUSTER_MONGO_DB": database,
            "MUSTER_KAFKA_BOOTSTRAP": bootstrap,
            "MUSTER_MONGO_URL": mongo_url,
            "MUSTER_TOPIC_PARTITIONS": str(PARTITIONS),
            "MUSTER_LOG_LEVEL": "WARNING",
            # The bench's reporting process takes the bench's development tokens.
            "MUSTER_DEV_MODE": os.environ.get("MUSTER_DEV_MODE", "1"),
        }
        read = await raw_read(bootstrap, topics, PARTITIONS)
        output, child = await rebuild(env)
        rebuilt = versions.database((await versions.live()).version)
        insert = await raw_insert_many(rebuilt, client[f"{database}_insert"])
        figures = rebuild_figures(output, child, read, insert)
        fold_seconds, write_seconds = output.fold_seconds, output.write_seconds
        print(f"rebuild bench: {published:,} events on {PARTITIONS} partitions per topic")
        print(
            f"  raw aiokafka read loop    {read['per_second']:>10,.0f} records/s"
            f" ({read['seconds']:.2f} s)"
        )
        print(
            f"  rebuild, whole            {figures['rate']:>10,.0f} events/s  ({output.seconds:.2f} s)"
        )
        print(
            f"    rate / raw read         {figures['rate_to_raw_read']:>10.2f}x   (target: >= 0.4x)"
        )
        print(f"    reading and folding     {fold_seconds:>10.2f} s")
        print(
            f"    catching up, switching  {output.seconds - fold_seconds - write_seconds:>10.2f} s"
        )
        print(f"  writing {insert['documents']:,} documents")
        print(f"    by the rebuild          {write_seconds:>10.2f} s")
        print(f"    raw insert_many         {insert['seconds']:>10.2f} s")
        print(
            f"    rebuild / raw           {figures['write_to_raw_insert']:>10.2f}x   (target: <= 1.5x)"
        )
        print(
            f"  rebuild peak memory       {child.peak_rss_mb:>10,.0f} MB    (target: <= 1,536 MB)"
        )
        parts = re.search(r"wrote the replay in (\d+) parts", child.stdout)
        print(f"    replay written in       {int(parts[1]) if parts else 1:>10} parts")
        live = LiveReporting(env, log, bootstrap, run_id)
        try:
            await live.start()
            await live.caught_up()
            print(f"  reporting idle:           {await live.measure(10.0)}")
            online = asyncio.create_task(rebuild(env))
            during = await live.measure(None, online)
            online_output = online.result()[0]
            events_online, seconds_online = online_output.events, online_output.seconds
            print(f"  during an online rebuild: {during}")
            print(
                f"  online rebuild            {events_online / seconds_online:>10,.0f} events/s"
                f"  ({seconds_online:.2f} s)"
            )
        finally:
            await live.stop()
    finally:
        for version in await versions.built():
            await client.drop_database(version_name(database, version))
        await client.drop_database(f"{database}_insert")
        await client.drop_database(database)
        await client.close()
        await delete_topics(bootstrap, run_id)


if __name__ == "__main__":
    asyncio.run(run(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000))
