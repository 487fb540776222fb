"""Replaying the event log into read models: a range of each partition applied in order,
what cannot be applied set aside as the live consumer does (`online_rebuild` runs it)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupCoordinatorNotAvailableError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_fixed

from muster_runtime.adapters.mongodb.seen_events import RepeatFilter
from muster_runtime.consumer import (
    EventHandler,
    PoisonMessage,
    apply_or_set_aside,
    decode_records,
)
from muster_runtime.dead_letters import list_dead_letters
from muster_runtime.topics import DEAD_LETTER_SUFFIX, ensure_topics

log = logging.getLogger(__name__)


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
        waiting = AsyncRetrying(
            retry=retry_if_exception_type(GroupCoordinatorNotAvailableError),
            stop=stop_after_delay(coordinator_wait_seconds),
            wait=wait_fixed(COORDINATOR_RETRY_SECONDS),
            reraise=True,
        )
        async for attempt in waiting:
            with attempt:
                described = await admin.describe_consumer_groups([group_id])
        for response in described:
            for group in getattr(response, "groups", []):
                members = group[5] if len(group) > 5 else []
                if members:
                    return False
        return True
    finally:
        await admin.close()


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
    after_batch: Callable[[], Awaitable[object]] | None = None,
) -> int:
    """Apply the records of each assigned partition from `start` up to, not including,
    `end`; returns how many records were read. Other events than `event_types` are skipped
    undecoded; what cannot be decoded or applied goes to `set_aside`, once. `after_batch`
    runs once each batch is applied whole (its events one by one too, if it failed)."""
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
        if after_batch is not None:
            await after_batch()
        # Not remembered as seen: a set-aside event is applied once re-driven.
        await repeats.remember(window.without(refused))
        read += len(records)
        if progress is not None:
            progress(len(records))
        done = [tp for tp in reading if await consumer.position(tp) >= end[tp]]
        consumer.pause(*done)
        reading = [tp for tp in reading if tp not in done]
    return read
