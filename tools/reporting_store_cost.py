"""What reporting's projections cost the store: operations and documents written per 1,000
events, live (batches of 500, as the consumer applies them) and rebuilt (counted in memory,
written once), and how long the leaderboard queries take, on the bench's generated
district. Runs in-process against a store of your choosing (a database of its own,
dropped after); no Kafka.

    python -m tools.reporting_store_cost mongodb://127.0.0.1:27617/ 10000 [POOL]

The generator gives every service record a volunteer of its own; with POOL, the records'
volunteers are drawn from that many instead (by a hash of the generated id), so that
volunteers serve again, as they do in a district.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable

from pymongo import AsyncMongoClient, monitoring

from muster_cli.bench.eventlog import DistrictLog
from muster_contracts.areas import load_area_tree
from muster_contracts.envelope import EventEnvelope
from muster_reporting.adapters.read_models import DocumentReportingStore
from muster_reporting.application.insights import Insights
from muster_reporting.domain.periods import cell_id
from muster_runtime.mongo import Database, Document
from muster_runtime.projections import ConsumedEvent

DISTRICT = "130203"
PARTITIONS = 3


class Counting(monitoring.CommandListener):
    """Commands sent while `on`, by name and collection, and the documents they write."""

    def __init__(self) -> None:
        self.on = False
        self.ops: Counter[str] = Counter()
        self.written: Counter[str] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if not self.on:
            return
        name = event.command_name
        target = event.command.get(name)
        self.ops[f"{name} {target}" if isinstance(target, str) else name] += 1
        if name == "insert":
            self.written["inserted"] += len(event.command.get("documents", []))
        elif name == "update":
            self.written["updated"] += len(event.command.get("updates", []))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def generated(total: int, pool: int) -> list[ConsumedEvent]:
    """About `total` events of a district, as consumed from 3 partitions per topic."""
    offsets: Counter[tuple[str, int]] = Counter()
    events = []
    for wire in DistrictLog(load_area_tree(), seed=11).events(total):
        topic = f"bench.{wire.topic_context}.events"
        partition = zlib.crc32(wire.key) % PARTITIONS
        envelope = EventEnvelope.model_validate_json(wire.value)
        payload = envelope.payload
        if pool and envelope.type.startswith("service.") and "volunteer_id" in payload:
            payload["volunteer_id"] = f"v{zlib.crc32(payload['volunteer_id'].encode()) % pool}"
        events.append(ConsumedEvent(envelope, topic, partition, offsets[(topic, partition)]))
        offsets[(topic, partition)] += 1
    return events


async def latency(label: str, query: Callable[[], Awaitable[object]], times: int = 20) -> None:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        await query()
        samples.append((time.perf_counter() - started) * 1000)
    print(f"  {label}: p50 {statistics.median(samples):.1f} ms, max {max(samples):.1f} ms")


async def measure(db: Database, events: list[ConsumedEvent], counting: Counting, mode: str) -> None:
    areas = load_area_tree()
    insights = Insights(
        areas,
        "Asia/Shanghai",
        (100, 300, 600),
        DocumentReportingStore(db),
    )
    await insights.create_indexes()
    counting.ops.clear()
    counting.written.clear()
    counting.on = True
    started = time.perf_counter()
    if mode == "rebuild":
        insights.store.buffer()
        for i in range(0, len(events), 2000):
            await insights.apply(events[i : i + 2000])
        await insights.store.flush()
    else:
        for i in range(0, len(events), 500):
            await insights.apply(events[i : i + 500])
    elapsed = time.perf_counter() - started
    counting.on = False
    per = 1000 / len(events)
    written = counting.written["inserted"] + counting.written["updated"]
    print(f"{mode}: {elapsed:.1f} s, {len(events) / elapsed:.0f} events/s")
    print(f"  store operations per 1,000 events: {counting.ops.total() * per:,.0f}")
    print("    " + ", ".join(f"{k} {v * per:,.0f}" for k, v in counting.ops.most_common()))
    print(
        f"  documents written per 1,000 events: {written * per:,.0f} "
        f"(inserted {counting.written['inserted'] * per:,.0f}, "
        f"updated {counting.written['updated'] * per:,.0f})"
    )
    for name in sorted(await db.list_collection_names()):
        print(f"  {name}: {await db[name].estimated_document_count():,} documents")
    boards = insights.service.leaderboards
    for period in (None, "2026-11"):
        cell = cell_id(DISTRICT, period)

        async def top(cell: str = cell) -> object:
            return await boards.board(cell)

        await latency(f"top volunteers {cell}", top)
    await latency(f"stars {DISTRICT}", lambda: insights.standing.star_rated(DISTRICT, 50))


async def main(url: str, total: int, pool: int) -> None:
    events = generated(total, pool)
    print(f"{len(events):,} events")
    counting = Counting()
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        url, event_listeners=[counting], tz_aware=True, maxPoolSize=32
    )
    try:
        for mode in ("live", "rebuild"):
            db = client[f"store_cost_{mode}_{uuid.uuid4().hex[:8]}"]
            try:
                await measure(db, events, counting, mode)
            finally:
                await client.drop_database(db.name)
    finally:
        await client.close()


if __name__ == "__main__":
    total = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    asyncio.run(main(sys.argv[1], total, int(sys.argv[3]) if len(sys.argv) > 3 else 0))
