"""What Muster is compared with, in the same run on the same machine.

1. Kafka's own `ProducerPerformance` with records of an envelope's size: the broker ceiling.
2. A raw aiokafka producer loop with the same records and the relay's producer settings:
   the Python messaging ceiling.
3. A plain CRUD check-in endpoint (`crud_checkin`) on the same store, driven by the same
   closed-loop clients as Muster's check-ins: what a user would build instead.
4. For a rebuild: a raw aiokafka loop reading the same topics (`raw_read`), and a raw
   `insert_many` of the same documents the rebuild wrote (`raw_insert_many`).
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pymongo import AsyncMongoClient

from muster_auth.dev_tokens import issue_token
from muster_cli.bench.loadgen import OperationStats, closed_loop
from muster_cli.bench.measure import free_port, wait_until_ready
from muster_contracts.envelope import Role
from muster_runtime.mongo import Database
from muster_runtime.topics import ensure_topics

ROOT = Path(__file__).resolve().parents[5]
STACK = ROOT / "deploy" / "local" / "stack.sh"


async def kafka_producer_perf(
    bootstrap: str, topic: str, records: int, record_size: int
) -> dict[str, Any]:
    """`ProducerPerformance` with acks=all and an idempotent producer, like the relay's."""
    await ensure_topics(bootstrap, [topic], 6)
    process = await asyncio.create_subprocess_exec(
        "bash", str(STACK), "kafka-tool", "producer-perf",
        "--topic", topic, "--num-records", str(records), "--record-size", str(record_size),
        "--throughput", "-1", "--producer-props", f"bootstrap.servers={bootstrap}", "acks=all",
        "enable.idempotence=true", "linger.ms=2",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    text = out.decode()
    found = re.search(
        r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency.*?"
        r"(\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th",
        text,
        re.S,
    )
    if process.returncode != 0 or not found:
        return {"error": (err.decode() or text)[-500:]}
    return {
        "records": int(found[1]),
        "per_second": float(found[2]),
        "mb_per_second": float(found[3]),
        "avg_latency_ms": float(found[4]),
        "p50_ms": float(found[5]),
        "p95_ms": float(found[6]),
        "p99_ms": float(found[7]),
    }


async def aiokafka_loop(bootstrap: str, topic: str, records: int, value: bytes) -> dict[str, Any]:
    """Send `records` copies of `value` as fast as one asyncio loop can, relay settings."""
    await ensure_topics(bootstrap, [topic], 6)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=2
    )
    await producer.start()
    try:
        started = time.perf_counter()
        pending = []
        for n in range(records):
            key = f"stream-{n % 5000}".encode()
            pending.append(await producer.send(topic, value, key=key))
            if len(pending) >= 10_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        seconds = time.perf_counter() - started
    finally:
        await producer.stop()
    return {"records": records, "per_second": records / seconds, "seconds": seconds}


async def raw_read(bootstrap: str, topics: list[str], partitions: int) -> dict[str, float]:
    """One aiokafka loop reading the `partitions` of each of `topics` from start to end,
    doing nothing with the records: records, seconds and records/s."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await consumer.start()
    try:
        assigned = [TopicPartition(topic, p) for topic in topics for p in range(partitions)]
        consumer.assign(assigned)
        started = time.perf_counter()
        await consumer.seek_to_beginning(*assigned)
        end = await consumer.end_offsets(assigned)
        read, total = 0, sum(end.values())
        while read < total:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            read += sum(len(records) for records in batch.values())
        seconds = time.perf_counter() - started
    finally:
        await consumer.stop()
    return {"records": read, "seconds": seconds, "per_second": read / seconds if seconds else 0.0}


async def raw_insert_many(
    source: Database, scratch: Database, chunk: int = 1000
) -> dict[str, float]:
    """Every document of every collection of `source`, inserted into `scratch` with
    `insert_many` in chunks of `chunk`: documents and the seconds the inserts took (reading
    `source` not counted)."""
    documents, seconds = 0, 0.0
    for name in sorted(await source.list_collection_names()):
        found = [document async for document in source[name].find()]
        documents += len(found)
        started = time.perf_counter()
        for start in range(0, len(found), chunk):
            await scratch[name].insert_many(found[start : start + chunk], ordered=False)
        seconds += time.perf_counter() - started
    return {"documents": documents, "seconds": seconds}


class CrudBaseline:
    """The CRUD check-in app as a process of its own, on a database of its own."""

    def __init__(self, mongo_url: str, run_id: str) -> None:
        self.mongo_url = mongo_url
        self.database = f"bench_{run_id}_crud"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.pid = 0
        self._process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> CrudBaseline:
        env = os.environ | {
            "MUSTER_HTTP_PORT": str(self.port),
            "MUSTER_MONGO_URL": self.mongo_url,
            "MUSTER_MONGO_DB": self.database,
            "MUSTER_LOG_LEVEL": "WARNING",
        }
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "muster_cli.bench.crud_checkin", env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        self.pid = self._process.pid
        async with httpx.AsyncClient(base_url=self.url) as client:
            deadline = time.perf_counter() + 60
            while True:
                try:
                    await client.get("/openapi.json")
                    break
                except httpx.TransportError:
                    if time.perf_counter() > deadline:
                        raise
                    await asyncio.sleep(0.2)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._process is not None:
            self._process.terminate()
            await self._process.wait()
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(self.mongo_url)
        try:
            await client.drop_database(self.database)
        finally:
            await client.close()


def check_in_pairs(
    client: httpx.AsyncClient,
    pairs: list[list[tuple[str, dict[str, str], dict[str, Any]]]],
) -> Callable[[int], Awaitable[str | None]]:
    """Work for closed-loop clients: each worker checks its (activity, volunteer) pairs in
    and out in turn. A pair is (activity id, the volunteer's headers, the check-in body)."""
    position = [0] * len(pairs)
    open_pair: list[tuple[str, dict[str, str], dict[str, Any]] | None] = [None] * len(pairs)

    async def work(worker: int) -> str | None:
        pending = open_pair[worker]
        if pending is not None:
            activity_id, headers, _ = pending
            response = await client.post(f"/activities/{activity_id}/check-out", headers=headers)
            response.raise_for_status()
            open_pair[worker] = None
            return "check_out"
        if position[worker] >= len(pairs[worker]):
            return None
        pair = pairs[worker][position[worker]]
        position[worker] += 1
        activity_id, headers, body = pair
        response = await client.post(
            f"/activities/{activity_id}/check-in", json=body, headers=headers
        )
        response.raise_for_status()
        open_pair[worker] = pair
        return "check_in"

    return work


async def crud_capacity(
    baseline: CrudBaseline, workers: int, duration: float, volunteers: int
) -> OperationStats:
    """Closed-loop check-ins and check-outs against the CRUD endpoint."""
    people = [
        {"Authorization": f"Bearer {issue_token(f'crud-{n}', Role.VOLUNTEER, '130203')}"}
        for n in range(volunteers)
    ]
    activities = [uuid.uuid4().hex[:12] for _ in range(200)]
    pairs: list[list[tuple[str, dict[str, str], dict[str, Any]]]] = [[] for _ in range(workers)]
    for n, headers in enumerate(people):
        pairs[n % workers].extend((a, headers, {}) for a in activities)
    limits = httpx.Limits(max_connections=workers * 2)
    async with httpx.AsyncClient(base_url=baseline.url, timeout=60, limits=limits) as client:
        return await closed_loop(workers, duration, check_in_pairs(client, pairs))


async def muster_capacity(
    volunteer_url: str,
    activities: list[tuple[str, str]],
    people: list[dict[str, Any]],
    workers: int,
    duration: float,
) -> OperationStats:
    """Closed-loop check-ins and check-outs through Muster (activities: id and code)."""
    pairs: list[list[tuple[str, dict[str, str], dict[str, Any]]]] = [[] for _ in range(workers)]
    for n, person in enumerate(people):
        pairs[n % workers].extend((a, person["headers"], {"code": c}) for a, c in activities)
    limits = httpx.Limits(max_connections=workers * 2)
    async with httpx.AsyncClient(base_url=volunteer_url, timeout=60, limits=limits) as client:
        await wait_until_ready(client)
        return await closed_loop(workers, duration, check_in_pairs(client, pairs))
