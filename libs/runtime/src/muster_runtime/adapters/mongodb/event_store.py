"""The event store port on the document store: one commit document per command.

A commit holds every event a command produced, so an append is atomic without
transactions. Its `_id` is `<stream>@<first version>`: of two writers appending after
the same version exactly one can insert it (optimistic concurrency), and a stream is
read by walking its commits by `_id` — the one lookup every document store serves from
its primary index, MongoDB and FerretDB alike.

The outbox is a small collection of markers, one per commit, written just before the
commit and deleted once the relay has published it; a marker whose commit never
appeared (the append died in between) is swept after `ORPHAN_MARKER_AGE`.

A stream's head document records its version for appends that were not preceded by a
read of the stream (`append`): a hint, never the truth — it may lag (a writer died after
its commit, or the stream was appended to with `append_after`, which leaves it alone) and
`append` walks the commits forward from it. Reads walk the commits and never consult it.

Positions order the commits for the relay, replays and the audit trail. They are handed
out from blocks of `POSITION_BLOCK` per process (one counter write per block, not one per
append: the counter is a single document every append would otherwise queue on), so
across processes they follow allocation, not time. Within a stream they always rise: an
append takes a position above its stream's last commit's (known from the read, or, for a
blind `append`, above every position handed out so far), which is the order the relay and
replays need (Kafka orders per stream only).

With the `ferretdb` profile (`profile.py`), concurrent appends write together (group
commit): the markers of appends that arrive
while a batch of markers is being written go in the next batch, one `insert_many`, and
so do their commits; each append still learns its own outcome (a duplicate `_id` refuses
that append alone). The relay takes the commits this process appended from memory
rather than reading them back, and holds back the markers of this process's appends still
in flight without looking for their commits. A commit never changes once stored, so the
ones this process wrote recently are also read from memory (`recent_commits`): a
check-out right after its check-in reads nothing. The `mongodb` profile writes each marker
and commit with an insert of its own and reads streams from the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from cachetools import FIFOCache
from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from muster_contracts.envelope import EventEnvelope
from muster_contracts.events import DomainEvent
from muster_runtime.adapters.mongodb.group_inserts import GroupInserts
from muster_runtime.adapters.mongodb.profile import DocumentStoreOptions
from muster_runtime.metrics import APPEND_CONFLICTS, EVENTS_APPENDED
from muster_runtime.mongo import Database, Document
from muster_runtime.ports.event_store import (
    CommandContext,
    ConcurrencyError,
    EventStore,
    Outbox,
    StoredCommit,
    Stream,
    commit_envelopes,
    commit_id,
    new_commit,
)
from muster_runtime.tracing import stored_context, tracer

log = logging.getLogger(__name__)

# An append writes its marker, then its commit, within half of this.
ORPHAN_MARKER_AGE = 60.0
# Positions a process takes from the counter at a time.
POSITION_BLOCK = 100
# Commits appended here and not yet published, kept for the relay, at most.
LOCAL_COMMITS_LIMIT = 10_000


class MongoEventStore(EventStore, Outbox):
    """Appends and reads event streams in the document store; wakes the relay after every
    append."""

    def __init__(
        self,
        db: Database,
        collection: str = "events",
        options: DocumentStoreOptions | None = None,
    ) -> None:
        options = options or DocumentStoreOptions.of("ferretdb")
        self._commits = db[collection]
        self._heads = db[f"{collection}_heads"]
        self._outbox = db[f"{collection}_outbox"]
        self._insert_marker = _inserter(self._outbox, grouped=options.group_commit)
        self._insert_commit = _inserter(self._commits, grouped=options.group_commit)
        # Commits appended here kept for reads of their streams (the oldest forgotten first).
        self._recent_limit = options.recent_commits
        # Commits appended by this process, by id, until published: the relay's copy.
        self._local_commits: dict[str, Document] = {}
        # The last commits this process stored, by id, for reads (commits never change).
        self._recent_commits: FIFOCache[str, Document] = FIFOCache(max(self._recent_limit, 1))
        # Markers of this process's appends in flight (their commit not yet stored), by id:
        # the first event's id, which tells this append's marker from another writer's.
        self._in_flight: dict[str, str] = {}
        self._counters = db["counters"]
        self._counter_id = f"{collection}.position"
        # The block of positions this process hands out: [_next_free, _block_end).
        self._next_free = 0
        self._block_end = 0
        self.appended = asyncio.Event()

    @property
    def commits(self) -> AsyncCollection[Document]:
        """The commit documents, for read-only queries (the audit trail)."""
        return self._commits

    async def create_indexes(self) -> None:
        # Replays read in position order; MongoDB serves it from this index.
        await self._commits.create_index([("position", ASCENDING)], name="position")
        # Created up front: concurrent first upserts of a missing counter can collide.
        with contextlib.suppress(DuplicateKeyError):
            await self._counters.insert_one({"_id": self._counter_id, "value": 0})

    async def stream_version(self, stream_id: str) -> int:
        """The stream's version as its head document records it (0 for a new stream).

        A hint that may lag (see the module doc): `append` checks it, then walks on."""
        head = await self._heads.find_one({"_id": stream_id})
        return int(head["version"]) if head else 0

    async def _repair_head(self, stream_id: str, version: int) -> int:
        """Walk forward from `version`: the head lags if a writer died after its commit."""
        while True:
            commit = await self._commits.find_one(
                {"_id": commit_id(stream_id, version + 1)}, {"last_version": 1}
            )
            if commit is None:
                break
            version = int(commit["last_version"])
        await self._advance_head(stream_id, version, new=True)
        return version

    async def _advance_head(self, stream_id: str, version: int, *, new: bool = False) -> None:
        if version == 0:
            return
        if new:
            # Insert first: an update or upsert that matches nothing costs a scan on some stores.
            try:
                await self._heads.insert_one({"_id": stream_id, "version": version})
                return
            except DuplicateKeyError:
                pass
        await self._heads.update_one({"_id": stream_id}, {"$max": {"version": version}})

    async def append(
        self,
        stream_id: str,
        stream_type: str,
        expected_version: int,
        events: Sequence[DomainEvent],
        context: CommandContext,
        *,
        occurred_at: datetime | None = None,
    ) -> list[EventEnvelope]:
        """Append all `events` or none, after version `expected_version` of the stream.

        Traced as `append <stream type>`; its trace context is stored with the commit so
        the relay's publish, later, continues the same trace.

        Raises:
            ConcurrencyError: the stream is not at `expected_version`.
        """
        return await self._append(
            stream_id, stream_type, expected_version, events, context, occurred_at, None
        )

    async def append_after(
        self,
        read: Stream,
        stream_type: str,
        events: Sequence[DomainEvent],
        context: CommandContext,
        *,
        occurred_at: datetime | None = None,
    ) -> list[EventEnvelope]:
        """Append all `events` or none right after `read`, the caller's read of the stream
        (or of a prefix of it).

        Cheaper than `append`: the head is neither read nor advanced. Whoever wrote to the
        stream since `read` took the commit id `<stream>@<read.version + 1>`, so the
        insert of that id is the whole optimistic-concurrency check.

        Raises:
            ConcurrencyError: the stream moved on since `read`.
        """
        return await self._append(
            read.stream_id, stream_type, read.version, events, context, occurred_at, read
        )

    async def _append(
        self,
        stream_id: str,
        stream_type: str,
        expected_version: int,
        events: Sequence[DomainEvent],
        context: CommandContext,
        occurred_at: datetime | None,
        read: Stream | None,
    ) -> list[EventEnvelope]:
        """Append all `events` or none, after version `expected_version` of the stream
        (which `read`, if given, is: then the head is left alone).

        Every step is a point write or a point read of a document that exists, which
        any store serves from its primary index (no query that may come back empty).

        Raises:
            ConcurrencyError: the stream is not at `expected_version`.
        """
        with tracer().start_as_current_span(
            f"append {stream_type}",
            attributes={
                "muster.stream_id": stream_id,
                "muster.expected_version": expected_version,
                "muster.event_types": [e.event_type for e in events],
                "muster.correlation_id": str(context.correlation_id),
            },
        ):
            if not events:
                return []
            if read is None and expected_version > 0:
                actual = await self.stream_version(stream_id)
                if actual < expected_version:
                    actual = await self._repair_head(stream_id, actual)
                if actual != expected_version:
                    raise ConcurrencyError(stream_id, expected_version, actual)
            position = await self._next_position(
                read.last_position if read is not None else (-1 if expected_version == 0 else None)
            )
            now = datetime.now(UTC)
            commit, envelopes = new_commit(
                stream_id,
                stream_type,
                expected_version,
                position,
                events,
                context,
                now,
                occurred_at,
            )
            last_version = expected_version + len(events)
            trace_context = stored_context()
            if trace_context:
                commit["trace"] = trace_context
            # Names its own append: a commit of that id by another writer is not its.
            marker = {
                "_id": commit["_id"],
                "position": position,
                "written_at": now,
                "event_id": str(envelopes[0].event_id),
            }
            # Before the marker is stored: the relay may read it the moment it is.
            self._in_flight[marker["_id"]] = marker["event_id"]
            try:
                await self._store_marker_and_commit(marker, commit, now)
            except DuplicateKeyError:
                APPEND_CONFLICTS.inc()
                if read is not None:
                    raise ConcurrencyError(stream_id, expected_version) from None
                actual = await self._repair_head(stream_id, expected_version)
                raise ConcurrencyError(stream_id, expected_version, actual) from None
            finally:
                if self._in_flight.get(marker["_id"]) == marker["event_id"]:
                    del self._in_flight[marker["_id"]]
            self.appended.set()
            EVENTS_APPENDED.labels(stream_type).inc(len(events))
            if read is None:
                await self._advance_head(stream_id, last_version, new=expected_version == 0)
            log.info(
                "events appended",
                extra={
                    "stream_id": stream_id,
                    "event_types": [e.type for e in envelopes],
                    "version": last_version,
                },
            )
            return envelopes

    async def _store_marker_and_commit(
        self, marker: Document, commit: Document, started: datetime
    ) -> None:
        """The outbox marker, then the commit (each written with concurrent appends').

        Raises:
            DuplicateKeyError: another writer took the commit's id (its marker's or the
                commit's own); nothing of this append is left in the store.
        """
        # A duplicate marker: another writer is appending after the same version right now.
        await self._insert_marker(marker)
        if (datetime.now(UTC) - started).total_seconds() > ORPHAN_MARKER_AGE / 2:
            # Too slow: the relay may already treat the marker as an orphan.
            await self._outbox.delete_one(_own_marker(marker))
            raise TimeoutError("the event store is too slow to append safely")
        try:
            await self._insert_commit(commit)
        except DuplicateKeyError:
            await self._outbox.delete_one(_own_marker(marker))
            raise
        if len(self._local_commits) >= LOCAL_COMMITS_LIMIT:
            self._local_commits.clear()  # another replica relays: theirs to publish
        self._local_commits[commit["_id"]] = commit
        if self._recent_limit:  # the oldest forgotten past the limit
            self._recent_commits[commit["_id"]] = commit

    async def read_stream(
        self, stream_id: str, up_to: int | None = None, *, after: int = 0
    ) -> Stream:
        """Every event of the stream, in order: its commits, walked by `_id` from the first
        until one is missing (the head is not consulted: it may lag, see the module doc).

        With `up_to`, only the commits that start at or below that version: a prefix of
        the stream, for a command that expects no more (`append_after` it is refused if
        there is more). With `after`, a version a commit of the stream ended at, only the
        events after it (a reader catching up on what it has not seen yet)."""
        events: list[EventEnvelope] = []
        version = after
        while up_to is None or version < up_to:
            wanted = commit_id(stream_id, version + 1)
            commit = self._recent_commits.get(wanted) or await self._commits.find_one(
                {"_id": wanted}
            )
            if commit is None:
                break
            events.extend(commit_envelopes(commit))
            version = int(commit["last_version"])
        return Stream(stream_id, version, events)

    async def read_all(
        self, after_position: int = -1, batch: int = 1000
    ) -> AsyncIterator[EventEnvelope]:
        """Every event in commit order, for replays and rebuilds."""
        cursor = self._commits.find({"position": {"$gt": after_position}}, sort=[("position", 1)])
        async for commit in cursor.batch_size(batch):
            for envelope in commit_envelopes(commit):
                yield envelope

    async def unpublished(self, limit: int) -> list[StoredCommit]:
        """The oldest commits not yet published, in position order.

        A marker whose commit is missing — or is another writer's, published already:
        the marker's append lost the race and is taking it back — belongs to an append
        still in flight (its stream is then held back, keeping per-stream order) or,
        once old, to one that died before storing anything: that marker is removed.
        """
        markers = sorted(
            [m async for m in self._outbox.find({})], key=lambda m: int(m["position"])
        )[:limit]
        commits = await asyncio.gather(*(self._commit(m) for m in markers))
        ready: list[StoredCommit] = []
        held: set[str] = set()
        now = datetime.now(UTC)
        for marker, commit in zip(markers, commits, strict=True):
            stream = str(marker["_id"]).rsplit("@", 1)[0]
            if commit is None and self._is_in_flight(marker):
                held.add(stream)  # this process is storing its commit right now
            elif commit is None or marker.get("event_id") not in (None, _first_event_id(commit)):
                if (now - marker["written_at"]).total_seconds() > ORPHAN_MARKER_AGE:
                    await self._outbox.delete_one(_own_marker(marker))
                else:
                    held.add(stream)
            elif stream not in held:
                ready.append(commit)
        return ready

    async def hold_relay_lease(self, owner: str, seconds: float) -> bool:
        """Whether `owner` may relay now: one relay per store, the lease renewed each round.

        Several replicas of a service each run a relay; only the lease holder publishes,
        so the others do not send everything twice.
        """
        now = datetime.now(UTC)
        until = now + timedelta(seconds=seconds)
        lease_id = f"{self._counter_id}.relay"
        result = await self._counters.update_one(
            {"_id": lease_id, "$or": [{"owner": owner}, {"until": {"$lt": now}}]},
            {"$set": {"owner": owner, "until": until}},
        )
        if result.matched_count:
            return True
        try:
            await self._counters.insert_one({"_id": lease_id, "owner": owner, "until": until})
        except DuplicateKeyError:
            return False  # held by a live relay elsewhere
        return True

    async def _commit(self, marker: Document) -> Document | None:
        """The commit a marker names (None if not stored yet); no read for this process's
        own: stored ones are in memory and those in flight are not stored yet."""
        local = self._local_commits.get(marker["_id"])
        if local is not None:
            return local
        if self._is_in_flight(marker):
            return None
        return await self._commits.find_one({"_id": marker["_id"]})

    def _is_in_flight(self, marker: Document) -> bool:
        """Whether the marker is of an append of this process still storing its commit."""
        appending = self._in_flight.get(marker["_id"])
        return appending is not None and appending == marker.get("event_id")

    async def mark_published(self, commit_ids: list[Any]) -> None:
        await self._outbox.delete_many({"_id": {"$in": commit_ids}})
        for published in commit_ids:
            self._local_commits.pop(published, None)

    async def count_unpublished(self) -> int:
        return await self._outbox.count_documents({})

    async def oldest_unpublished_age(self) -> float:
        """Seconds since the oldest commit still in the outbox was written (0 if none)."""
        oldest = await self._outbox.find_one({}, sort=[("position", ASCENDING)])
        if oldest is None:
            return 0.0
        return max(0.0, float((datetime.now(UTC) - oldest["written_at"]).total_seconds()))

    async def _next_position(self, above: int | None) -> int:
        """A position above `above` (the stream's last commit's), or, when that is unknown
        (None), above every position handed out so far, by any process: a new block."""
        if above is None or not above < self._next_free < self._block_end:
            top = await self._allocate_positions(POSITION_BLOCK)
            # Any block another task took meanwhile is dropped: gaps are harmless.
            self._next_free, self._block_end = top - POSITION_BLOCK + 1, top + 1
        position = self._next_free
        self._next_free += 1
        return position

    async def _allocate_positions(self, count: int) -> int:
        """Takes `count` positions from the store's counter; returns the highest."""
        for _ in range(3):
            try:
                counter = await self._counters.find_one_and_update(
                    {"_id": self._counter_id},
                    {"$inc": {"value": count}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:
                continue  # lost the race to create the counter: it exists now
            assert counter is not None  # upsert with AFTER always returns the document
            return int(counter["value"])
        raise RuntimeError("could not allocate an event position")


def _inserter(
    collection: AsyncCollection[Document], *, grouped: bool
) -> Callable[[Document], Awaitable[object]]:
    """One insert per document, or inserts written together with concurrent ones'."""
    return GroupInserts(collection).insert if grouped else collection.insert_one


def _first_event_id(commit: Document) -> str:
    return str(commit["events"][0]["event_id"])


def _own_marker(marker: Document) -> Document:
    """The filter that removes this marker only, not another append's of the same id."""
    if "event_id" in marker:
        return {"_id": marker["_id"], "event_id": marker["event_id"]}
    return {"_id": marker["_id"]}
