"""Rebuild read models from the event log: drop them, replay every topic from the start.

Run with the service's consumers stopped (the command refuses while its consumer group
has members). When done, the group's offsets point at the end of what was replayed, so
the service resumes exactly where the rebuild stopped.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from muster_runtime.consumer import decode_records
from muster_runtime.dedupe import RepeatFilter
from muster_runtime.mongo import Database
from muster_runtime.service import EventHandler


class ConsumersStillRunningError(RuntimeError):
    """The service's consumer group has live members: stop the service first."""


@dataclass(frozen=True)
class RebuildResult:
    events: int
    seconds: float
    write_seconds: float = 0.0  # of `seconds`: writing what was counted in memory

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


async def _partitions(bootstrap: str, topics: Sequence[str]) -> list[TopicPartition]:
    """Every partition of the topics that exist (a context may not have published yet)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        described = await admin.describe_topics([t for t in topics if t in existing])
    finally:
        await admin.close()
    return [
        TopicPartition(topic["topic"], partition["partition"])
        for topic in described
        for partition in topic["partitions"]
    ]


async def group_is_empty(bootstrap: str, group_id: str) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_consumer_groups([group_id])
        for response in described:
            for group in getattr(response, "groups", []):
                members = group[5] if len(group) > 5 else []
                if members:
                    return False
        return True
    finally:
        await admin.close()


async def rebuild(
    db: Database,
    collections: Sequence[str],
    bootstrap: str,
    topics: Sequence[str],
    group_id: str,
    apply: EventHandler,
    *,
    finish: Callable[[], Awaitable[None]] | None = None,
    event_types: Collection[str] | None = None,
    batch_size: int = 5000,
    show_progress: bool = True,
) -> RebuildResult:
    """Replay `topics` into `apply`; with `event_types`, other events are skipped undecoded."""
    if not await group_is_empty(bootstrap, group_id):
        raise ConsumersStillRunningError(
            f"consumer group {group_id} is active: stop the service first"
        )
    for name in collections:
        await db.drop_collection(name)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        # Large fetches: a replay reads whole partitions, and each fetch costs a round trip.
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await consumer.start()
    started = time.perf_counter()
    applied = 0
    # A replay meets the log's repeats too; it alone reads every partition, so the windows
    # stay in memory until the end.
    repeats = RepeatFilter(db, group_id, deferred=True)
    await repeats.forget()
    try:
        partitions = await _partitions(bootstrap, topics)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        start = await consumer.beginning_offsets(partitions)
        end = await consumer.end_offsets(partitions)
        total = sum(end[tp] - start[tp] for tp in partitions)
        with Progress(
            "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            disable=not show_progress,
        ) as progress:  # fmt: skip
            task = progress.add_task("replaying events", total=total)
            while await _behind(consumer, partitions, end):
                batch = await consumer.getmany(timeout_ms=500, max_records=batch_size)
                records = tuple(r for tp, rs in batch.items() for r in rs if r.offset < end[tp])
                events, _ = decode_records(records, event_types)
                events, window = await repeats.fresh(events)
                await apply(events)
                await repeats.remember(window)
                applied += len(records)
                progress.update(task, completed=applied)
        writing = time.perf_counter()
        if finish is not None:
            await finish()  # e.g. write what was counted in memory
        await repeats.save()
        write_seconds = time.perf_counter() - writing
        await consumer.commit({tp: end[tp] for tp in partitions})
    finally:
        await consumer.stop()
    return RebuildResult(applied, time.perf_counter() - started, write_seconds)


async def _behind(
    consumer: AIOKafkaConsumer, partitions: list[TopicPartition], end: dict[TopicPartition, int]
) -> bool:
    for tp in partitions:
        if await consumer.position(tp) < end[tp]:
            return True
    return False
