"""Rebuild read models from the event log: drop them, replay every topic from the start.

Run with the service's consumers stopped (the command refuses while its consumer group
has members). When done, the group's offsets point at the end of what was replayed, so
the service resumes exactly where the rebuild stopped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupCoordinatorNotAvailableError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from muster_runtime.consumer import (
    EventHandler,
    PoisonMessage,
    apply_or_set_aside,
    decode_records,
)
from muster_runtime.dead_letters import list_dead_letters
from muster_runtime.dedupe import RepeatFilter
from muster_runtime.mongo import Database
from muster_runtime.projections import DOCUMENTS_WRITTEN
from muster_runtime.topics import DEAD_LETTER_SUFFIX, ensure_topics

log = logging.getLogger(__name__)


class ConsumersStillRunningError(RuntimeError):
    """The service's consumer group has live members: stop the service first."""


@dataclass(frozen=True)
class RebuildResult:
    events: int
    seconds: float
    write_seconds: float = 0.0  # of `seconds`: writing what was counted in memory
    set_aside: int = 0  # records sent to the dead-letter topic (or found there already)

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


class DeadLetters:
    """Where a rebuild sets aside what it cannot apply, as the live consumer does: the
    service's dead-letter topic. A record the live consumer (or an earlier rebuild) set
    aside already is not sent again, so a re-drive sends it back once."""

    def __init__(self, bootstrap: str, topic: str, partitions: int, replication: int = 1) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._shape = (partitions, replication)
        self._producer: AIOKafkaProducer | None = None
        self._letters: set[tuple[str, int, int]] | None = None
        self.count = 0

    async def __call__(self, bad: PoisonMessage) -> None:
        self.count += 1
        log.error("setting aside a record the rebuild cannot apply", extra=bad.headers())
        if self._letters is None:  # read once, at the first letter: rebuilds rarely meet one
            prefix, _, service = self._topic.removesuffix(DEAD_LETTER_SUFFIX).rpartition(".")
            await ensure_topics(self._bootstrap, [self._topic], *self._shape)
            self._letters = {
                (letter.source_topic, letter.source_partition, letter.source_offset)
                for letter in await list_dead_letters(self._bootstrap, prefix, service)
            }
        record = bad.record
        if (record.topic, record.partition, record.offset) in self._letters:
            return
        if self._producer is None:
            self._producer = AIOKafkaProducer(
                bootstrap_servers=self._bootstrap, enable_idempotence=True, acks="all"
            )
            await self._producer.start()
        headers = [(name, value.encode()) for name, value in bad.headers().items()]
        await self._producer.send_and_wait(
            self._topic, record.value, key=record.key, headers=headers
        )
        self._letters.add((record.topic, record.partition, record.offset))

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()


async def partitions_of(bootstrap: str, topics: Sequence[str]) -> list[TopicPartition]:
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


# How long to wait between asking a broker that has no group coordinator yet.
COORDINATOR_RETRY_SECONDS = 0.5


async def group_is_empty(
    bootstrap: str, group_id: str, coordinator_wait_seconds: float = 30.0
) -> bool:
    """Whether no consumer is a member of the group. A broker that has never had a group
    answers that there is no coordinator until it has made its offsets topic, for some
    seconds after its first group request: that is waited out, up to the limit."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        deadline = asyncio.get_running_loop().time() + coordinator_wait_seconds
        while True:
            try:
                described = await admin.describe_consumer_groups([group_id])
                break
            except GroupCoordinatorNotAvailableError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(COORDINATOR_RETRY_SECONDS)
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
    dead_letters: DeadLetters,
    finish: Callable[[], Awaitable[None]] | None = None,
    event_types: Collection[str] | None = None,
    batch_size: int = 5000,
    show_progress: bool = True,
) -> RebuildResult:
    """Replay `topics` into `apply`; with `event_types`, other events are skipped undecoded.

    Records that are not events, or that `apply` cannot apply, go to the `dead_letters`
    topic as the live consumer sends them; the rest of the log is applied.
    """
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
    # A replay meets the log's repeats too; it alone reads every partition, so the windows
    # stay in memory until the end.
    repeats = RepeatFilter(db, group_id, deferred=True)
    await repeats.forget()
    set_aside = dead_letters
    try:
        partitions = await partitions_of(bootstrap, topics)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        start = await consumer.beginning_offsets(partitions)
        end = await consumer.end_offsets(partitions)
        total = sum(end[tp] - start[tp] for tp in partitions)
        with rebuild_progress(show_progress) as progress:
            task = progress.add_task("replaying events", total=total)
            applied = await replay(
                consumer, dict(start), end, apply,
                event_types=event_types, repeats=repeats, set_aside=set_aside,
                batch_size=batch_size, progress=lambda n: progress.advance(task, n),
            )  # fmt: skip
            writing = time.perf_counter()
            if finish is not None:  # e.g. write what was counted in memory
                written = progress.add_task("writing read models", total=None)
                token = DOCUMENTS_WRITTEN.set(lambda n: progress.advance(written, n))
                try:
                    await finish()
                finally:
                    DOCUMENTS_WRITTEN.reset(token)
        await repeats.save()
        write_seconds = time.perf_counter() - writing
        await consumer.commit({tp: end[tp] for tp in partitions})
    finally:
        await consumer.stop()
        await set_aside.close()
    return RebuildResult(
        applied, time.perf_counter() - started, write_seconds, set_aside=set_aside.count
    )


def rebuild_progress(show: bool = True) -> Progress:
    """The progress bars of a rebuild's phases (none with `show` False)."""
    return Progress(
        "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        disable=not show,
    )  # fmt: skip


async def replay(
    consumer: AIOKafkaConsumer,
    start: Mapping[TopicPartition, int],
    end: Mapping[TopicPartition, int],
    apply: EventHandler,
    *,
    event_types: Collection[str] | None,
    repeats: RepeatFilter,
    set_aside: Callable[[PoisonMessage], Awaitable[None]],
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Apply the records of each assigned partition from `start` up to, not including,
    `end`; returns how many records were read. Other events than `event_types` are skipped
    undecoded; what cannot be decoded or applied goes to `set_aside`, once."""
    reading = [tp for tp in end if start[tp] < end[tp]]
    for tp in reading:
        consumer.seek(tp, start[tp])
    consumer.pause(*(tp for tp in end if tp not in reading))
    consumer.resume(*reading)
    read = 0
    while reading:
        batch = await consumer.getmany(*reading, timeout_ms=500, max_records=batch_size)
        records = tuple(r for tp, rs in batch.items() for r in rs if r.offset < end[tp])
        events, poison = decode_records(records, event_types)
        for bad in poison:
            await set_aside(bad)
        events, window = await repeats.fresh(events)
        refused = await apply_or_set_aside(apply, events, records, set_aside)
        # Not remembered as seen: a set-aside event is applied once re-driven.
        await repeats.remember(window.without(refused))
        read += len(records)
        if progress is not None:
            progress(len(records))
        done = [tp for tp in reading if await consumer.position(tp) >= end[tp]]
        consumer.pause(*done)
        reading = [tp for tp in reading if tp not in done]
    return read
