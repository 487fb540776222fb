"""Rebuild a service's read models while it keeps serving and consuming.

1. Fold the whole log in memory into the next version of the read models and write its
   documents in bulk (`insert_many`), beside the live version; past `fold_documents`
   documents in memory, write what is folded so far and go on (`bulk_documents.Folds`: a
   document met again is merged with what was written), so memory does not grow with
   the log.
2. Catch up from the end of that replay to the live head, through the live path, and
   settle (indexes, deferred writes); again until a pass is short.
3. Switch to the new version: one update of the pointer document, which says the version
   is still being completed. Consumers wait from here; readers still read the old version.
4. Apply what follows the positions of step 2 up to the head after the switch (a live
   batch begun before the switch wrote the old version only, and holds offsets below that
   head), then mark the version complete: consumers go on into it, in each partition's
   order, and readers read it.
5. After a grace period (readers look at the pointer every second), drop the old version.

Killed at any step, the versions readers read are whole: before step 3 the pointer names
the old version; between 3 and 4 readers read the old version, and the next run finishes
step 4, or, past the deadline, a consumer puts the pointer back on the old version (nothing
wrote it since the switch). The next run drops every version that does not serve.
`service_rebuild` runs it as a service's `rebuild` command; `live_read_models` is the
consumers' and readers' side.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from muster_runtime.adapters.mongodb.bulk_documents import DOCUMENTS_WRITTEN, FOLDS, Folds
from muster_runtime.adapters.mongodb.packed_json import unpack_json
from muster_runtime.adapters.mongodb.read_model_versions import Pointer, ReadModelVersions
from muster_runtime.adapters.mongodb.seen_events import RepeatFilter
from muster_runtime.mongo import Database, Document
from muster_runtime.projections import ConsumedEvent, source_of
from muster_runtime.rebuild import (
    DeadLetters,
    group_is_empty,
    partitions_of,
    rebuild_progress,
    replay,
)

log = logging.getLogger(__name__)

# Fields that count a document's writes, which a rebuild makes once: not what it holds.
WRITE_COUNTS = ("v", "n")
# Catching up before a switch stops at a pass (applying what arrived during the last one,
# then settling) shorter than this, or after this many passes (consumers wait for what is
# left after the switch).
SHORT_PASS_SECONDS = 1.0
CATCH_UP_PASSES = 20
# How long readers may keep reading the old version after a switch.
GRACE_SECONDS = 5.0
# How long consumers wait for a switched version to be completed before they go back to the
# previous one (the catch-up after a switch takes seconds).
SWITCH_WITHIN = timedelta(minutes=2)


class ReadModels(Protocol):
    """A service's read models on one version's database."""

    @property
    def event_types(self) -> Collection[str] | None:
        """The event types the read models apply (None: any; others are skipped undecoded)."""

    async def apply(self, events: list[ConsumedEvent]) -> None: ...

    def buffer(self) -> None:
        """Count in memory until `flush` (a version being built from nothing)."""

    async def flush(self) -> None: ...

    async def settle(self) -> None:
        """Make the version ready to serve (indexes, deferred writes)."""


@dataclass(frozen=True)
class CollectionChange:
    """What a rebuild changes in one read model: documents it adds, removes, changes."""

    collection: str
    added: int
    removed: int
    changed: int


@dataclass(frozen=True)
class OnlineRebuildResult:
    version: int
    events: int  # replayed in memory
    caught_up: int  # applied through the live path, before and after the switch
    seconds: float  # until the new version serves whole (the grace before the drop aside)
    write_seconds: float  # of `seconds`: writing what was folded in memory
    set_aside: int = 0
    fold_seconds: float = 0.0  # of `seconds`: reading the log and folding it in memory
    changes: list[CollectionChange] = field(default_factory=list)  # a dry run's
    switched: bool = False
    # Seconds of each step of `seconds`, by name, in the order they ran (`Steps`).
    steps: dict[str, float] = field(default_factory=dict)
    parts: int = 1  # the replay's, written one after the other (`fold_documents`)

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


class Steps:
    """The seconds each step of a rebuild takes, by name, in the order they end."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._since = time.perf_counter()

    def done(self, step: str) -> float:
        """End `step` (timed from the end of the one before); its seconds."""
        now = time.perf_counter()
        spent = now - self._since
        self.seconds[step] = self.seconds.get(step, 0.0) + spent
        self._since = now
        return spent


def comparable(document: Document, ignore: Sequence[str] = WRITE_COUNTS) -> Any:
    """A document as what it holds: packed values unpacked, write counters left out."""
    out: dict[str, Any] = {}
    for key, value in document.items():
        if key in ignore:
            continue
        if isinstance(value, bytes):
            value = unpack_json(value)
        out[key] = value
    return out


async def fingerprints(db: Database, collection: str, ignore: Sequence[str]) -> dict[Any, bytes]:
    """Each document's digest by `_id` (a whole read model is not held in memory)."""
    out: dict[Any, bytes] = {}
    async for document in db[collection].find():
        encoded = orjson.dumps(comparable(document, ignore), option=orjson.OPT_SORT_KEYS)
        out[document["_id"]] = hashlib.blake2b(encoded, digest_size=16).digest()
    return out


async def differences(
    live: Database, rebuilt: Database, collections: Sequence[str]
) -> list[CollectionChange]:
    """What replacing `live` by `rebuilt` changes, read model by read model (marks of
    what was counted left out: the live version may be ahead or behind)."""
    changes: list[CollectionChange] = []
    ignore = (*WRITE_COUNTS, "hwm")
    for name in collections:
        before = await fingerprints(live, name, ignore)
        after = await fingerprints(rebuilt, name, ignore)
        changed = sum(1 for key, digest in after.items() if key in before and before[key] != digest)
        change = CollectionChange(
            name, len(after.keys() - before.keys()), len(before.keys() - after.keys()), changed
        )
        if change.added or change.removed or change.changed:
            changes.append(change)
    return changes


class _Reader:
    """The rebuild's own reader of the service's topics (no consumer group membership)."""

    def __init__(self, bootstrap: str, topics: Sequence[str], batch_size: int) -> None:
        self._bootstrap = bootstrap
        self._topics = topics
        self.batch_size = batch_size
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            # Large fetches: a replay reads whole partitions; each fetch is a round trip.
            max_partition_fetch_bytes=8 * 1024 * 1024,
        )
        self.partitions: list[TopicPartition] = []

    async def start(self) -> None:
        await self.consumer.start()
        self.partitions = await partitions_of(self._bootstrap, self._topics)
        self.consumer.assign(self.partitions)

    async def head(self) -> dict[TopicPartition, int]:
        return dict(await self.consumer.end_offsets(self.partitions))

    async def beginning(self) -> dict[TopicPartition, int]:
        return dict(await self.consumer.beginning_offsets(self.partitions))


def _by_source(positions: Mapping[TopicPartition, int]) -> dict[str, int]:
    return {source_of(tp.topic, tp.partition): offset for tp, offset in positions.items()}


def _from_sources(
    partitions: Sequence[TopicPartition], marks: Mapping[str, int], default: int = 0
) -> dict[TopicPartition, int]:
    return {tp: int(marks.get(source_of(tp.topic, tp.partition), default)) for tp in partitions}


async def rebuild_online(
    versions: ReadModelVersions,
    collections: Sequence[str],
    build: Callable[[Database], ReadModels],
    bootstrap: str,
    topics: Sequence[str],
    group_id: str,
    *,
    dead_letters: DeadLetters,
    dry_run: bool = False,
    batch_size: int = 5000,
    show_progress: bool = True,
    grace_seconds: float = GRACE_SECONDS,
    before_switch: Callable[[], Any] | None = None,
    fold_documents: int | None = None,
) -> OnlineRebuildResult:
    """Build the next version of the read models from the log and switch to it (see the
    module); with `dry_run`, build it, say what would change, and drop it.

    `fold_documents`: the most documents the replay holds in memory before it writes them
    out (None: no limit, each document written once).

    `before_switch` runs (and is awaited if it returns an awaitable) once the new version
    has caught up, just before the switch.
    """
    started = time.perf_counter()
    steps = Steps()
    reader = _Reader(bootstrap, topics, batch_size)
    await reader.start()
    try:
        live = await _finish_last_switch(versions, build, reader, dead_letters, group_id)
        steps.done("starting (a last switch finished)")
        built = await versions.built()
        version = max([live.version, *built]) + 1  # never a number used before
        for stale in [v for v in built if v != live.version]:
            await versions.drop(stale, collections)  # left by a run stopped before its switch
        if live.version != 0:
            await versions.drop(0, collections)  # left by a run stopped after its switch
        await versions.building(version)
        target = versions.database(version)
        models = build(target)
        folds = Folds(fold_documents)
        gathering = FOLDS.set(folds)  # the read models' folds join it as they buffer
        try:
            models.buffer()
        finally:
            FOLDS.reset(gathering)
        repeats = RepeatFilter(target, f"{group_id}.rebuild", deferred=True)
        start, end = await reader.beginning(), await reader.head()
        steps.done("dropping stale versions")
        with rebuild_progress(show_progress) as progress:
            task = progress.add_task(
                "replaying events", total=sum(end[tp] - start[tp] for tp in reader.partitions)
            )
            written = progress.add_task("writing read models", total=None)
            token = DOCUMENTS_WRITTEN.set(lambda n: progress.advance(written, n))
            try:
                events = await replay(
                    reader.consumer, start, end, models.apply,
                    event_types=models.event_types, repeats=repeats, set_aside=dead_letters,
                    batch_size=batch_size, progress=lambda n: progress.advance(task, n),
                    after_batch=folds.spill_if_full,
                )  # fmt: skip
                fold_seconds = steps.done("reading and folding") - folds.seconds
                await models.flush()
            finally:
                DOCUMENTS_WRITTEN.reset(token)
            # Parts written while folding are writing, not folding.
            write_seconds = steps.done("writing") + folds.seconds
            steps.seconds["reading and folding"] = fold_seconds
            steps.seconds["writing"] = write_seconds
        await repeats.save()  # the catch-up's filter goes on from the replay's windows
        steps.done("saving the replay's windows")
        # From here the live path writes the new version (each document read and updated).
        models = build(target)
        caught_up = 0
        position = end
        # Consumers wait from the switch until the version is completed: what arrives
        # before then is applied and settled here first, pass after pass, until a pass
        # is short, so what is left for the switch is about one short pass's worth.
        for _ in range(CATCH_UP_PASSES):
            passing = time.perf_counter()
            head = await reader.head()
            behind = sum(head[tp] - position[tp] for tp in reader.partitions)
            caught_up += await _catch_up(
                reader, models, position, head, dead_letters, target, group_id,
                "catching up", show_progress,
            )  # fmt: skip
            position = head
            steps.done("catching up")
            await models.settle()
            steps.done("settling (indexes)")
            if behind == 0 or time.perf_counter() - passing < SHORT_PASS_SECONDS:
                break
        if dry_run:
            changes = await differences(versions.database(live.version), target, collections)
            await versions.drop(version, collections)
            steps.done("comparing")
            return OnlineRebuildResult(
                version, events, caught_up, time.perf_counter() - started, write_seconds,
                dead_letters.count, fold_seconds, changes, steps=steps.seconds,
                parts=folds.spills + 1,
            )  # fmt: skip
        if before_switch is not None:
            waited = before_switch()
            if asyncio.iscoroutine(waited):
                await waited
            steps.done("held before the switch")
        if not await versions.switch(live.version, version, _by_source(position), SWITCH_WITHIN):
            raise RuntimeError("another rebuild switched the read models meanwhile")
        # Consumers wait now; a batch begun before the switch holds offsets below this head.
        head = await reader.head()
        caught_up += await _catch_up(
            reader, models, position, head, dead_letters, target, group_id,
            "catching up after the switch", show_progress,
        )  # fmt: skip
        steps.done("switching and catching up after it")
        await models.settle()
        if not await versions.completed(version):
            await versions.drop(version, collections)
            raise RuntimeError("the consumers stopped waiting for the switch; nothing changed")
        steps.done("completing the switch")
        seconds = time.perf_counter() - started  # the new version serves whole from here
        await asyncio.sleep(grace_seconds)
        await versions.drop(live.version, collections)
        if await group_is_empty(bootstrap, group_id):
            # The service is stopped: it starts from where the new version is whole, not
            # from its own offsets (what it would find counted already costs time, not
            # figures).
            await _commit(bootstrap, group_id, head)
        return OnlineRebuildResult(
            version,
            events,
            caught_up,
            seconds,
            write_seconds,
            dead_letters.count,
            fold_seconds,
            switched=True,
            steps=steps.seconds,
            parts=folds.spills + 1,
        )
    finally:
        await reader.consumer.stop()
        await dead_letters.close()


async def _finish_last_switch(
    versions: ReadModelVersions,
    build: Callable[[Database], ReadModels],
    reader: _Reader,
    dead_letters: DeadLetters,
    group_id: str,
) -> Pointer:
    """The pointer, complete: an earlier run stopped between its switch and the end of its
    catch-up is finished now (consumers are waiting for it), or past its deadline undone."""
    live = await versions.live()
    if live.catch_up_from is None:
        return live
    if live.deadline is not None and live.deadline > datetime.now(UTC):
        target = versions.database(live.version)
        models = build(target)
        start = _from_sources(reader.partitions, live.catch_up_from)
        await _catch_up(reader, models, start, await reader.head(), dead_letters, target,
                        group_id, "finishing the last switch", False)  # fmt: skip
        await models.settle()
        await versions.completed(live.version)
    else:
        await versions.revert(live)
    return await versions.live()


async def _catch_up(
    reader: _Reader,
    models: ReadModels,
    start: Mapping[TopicPartition, int],
    end: Mapping[TopicPartition, int],
    dead_letters: DeadLetters,
    target: Database,
    group_id: str,
    description: str,
    show_progress: bool,
) -> int:
    """Apply the records between `start` and `end` through the live path (idempotent)."""
    repeats = RepeatFilter(target, f"{group_id}.rebuild")
    with rebuild_progress(show_progress) as progress:
        total = sum(max(0, end[tp] - start[tp]) for tp in reader.partitions)
        task = progress.add_task(description, total=total)
        return await replay(
            reader.consumer, start, end, models.apply,
            event_types=models.event_types, repeats=repeats, set_aside=dead_letters,
            batch_size=reader.batch_size, progress=lambda n: progress.advance(task, n),
        )  # fmt: skip


async def _commit(bootstrap: str, group_id: str, positions: Mapping[TopicPartition, int]) -> None:
    """Hand a stopped service's consumer group the positions (a member that joined
    meanwhile makes the commit fail: it then goes on from its own offsets, as correct)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(list(positions))
        await consumer.commit(dict(positions))
    except KafkaError:
        log.warning("the consumer group %s has a member again; offsets not handed", group_id)
    finally:
        await consumer.stop()
