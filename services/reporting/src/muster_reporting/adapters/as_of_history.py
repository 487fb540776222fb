"""Figures as they stood at a past instant, to the minute, from calendar buckets.

Every change to a counter cell is also counted in one bucket document per calendar unit of
the UTC instant its event was recorded: the year, month, ten days (1–10, 11–20, 21 to the
end), day, six hours, hour, ten minutes and minute (`<cell>@Y2026`, `@M2026-11`,
`@10d2026-11-21`, `@D2026-11-27`, `@6h2026-11-27T06`, `@H2026-11-27T10`,
`@10m2026-11-27T10:30`, `@1m2026-11-27T10:31`). A bucket document holds the counts of one
cell (`<cell>@<bucket>`, see `bucket_document`): what a figure as of an instant reads is that
cell's buckets and nothing else, and what a batch rewrites is never bigger than the cell
itself, however many periods, days or children the area has seen. A batch costs one write
per (cell, bucket) it changes; the many events of a busy minute share their buckets.
Changes recorded before `HISTORY_SINCE` go to one bucket of their own (`@Ybefore2024`).

Precision is the minute: a figure as of T is the sum of every change recorded before the
start of T's UTC minute (`effective_instant`); T before `HISTORY_SINCE` is not answered.
It is read with point reads by `_id` only, all at once (`bucket_reads`): the earlier-years
bucket, the years since `HISTORY_SINCE` before T's year, then at each finer unit the
buckets before T's within its parent — whole units recorded before T, so a change recorded
after T never shows, not even while a batch is half written. At most years since 2024 +
1 + 11 + 2 + 10 + 3 + 5 + 5 + 9 documents per cell (about 25 on average), whatever the
number of events, each no bigger than the cell.

Buckets are packed counter cells (`PackedCounters`): a bucket's counts are one compressed
value in bytes, so a store reads and rewrites it at once instead of count by count
(nothing queries inside a bucket), and a redelivered event is counted once per bucket.

Writing a batch's buckets costs a write per (cell, bucket): most of what applying a batch
costs. So the consumer does not wait for it: it stores the batch's changes whole in the
history journal (`as_of_pending`, one document per batch part, see `CellHistory.record`)
and goes on; `HistoryWriter` writes the journal into the buckets beside it, many batches
at a time (their busy buckets shared), and removes what it wrote. A figure as of an
instant adds the journal's changes its buckets do not hold yet (`unwritten`), so it never
waits for the writer either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from muster_reporting.application.as_of import (
    HISTORY_SINCE,
    Change,
    answered_instant,
    instant,
)
from muster_reporting.application.ports import History, HistoryWriting
from muster_runtime.adapters.mongodb.bulk_documents import folding
from muster_runtime.adapters.mongodb.counter_cells import PackedCell, PackedCounters
from muster_runtime.adapters.mongodb.packed_json import pack_json, unpack_json
from muster_runtime.metrics import AS_OF_JOURNAL, AS_OF_WRITE_SECONDS
from muster_runtime.mongo import Collection, Database, Document
from muster_runtime.projections import Contribution, add_nested

log = logging.getLogger(__name__)

EARLIER = f"Ybefore{HISTORY_SINCE.year}"
# The history journal: batches' changes not yet written into their buckets.
JOURNAL = "as_of_pending"
# Changes per journal document, at most (an event's are never split): a few hundred bytes
# each, well inside a document's 16 MB.
JOURNAL_CHANGES_PER_DOCUMENT = 2000
# Journal documents the writer takes at once (oldest first).
JOURNAL_DOCUMENTS_PER_WRITE = 200


def _year(y: int) -> str:
    return f"Y{y:04d}"  # zero-padded: `%Y` is not, before year 1000


def _month(y: int, m: int) -> str:
    return f"M{y:04d}-{m:02d}"


def _ten_days(y: int, m: int, first: int) -> str:
    return f"10d{y:04d}-{m:02d}-{first:02d}"


def _day(y: int, m: int, d: int) -> str:
    return f"D{y:04d}-{m:02d}-{d:02d}"


def _six_hours(y: int, m: int, d: int, first: int) -> str:
    return f"6h{y:04d}-{m:02d}-{d:02d}T{first:02d}"


def _hour(y: int, m: int, d: int, h: int) -> str:
    return f"H{y:04d}-{m:02d}-{d:02d}T{h:02d}"


def _ten_minutes(y: int, m: int, d: int, h: int, first: int) -> str:
    return f"10m{y:04d}-{m:02d}-{d:02d}T{h:02d}:{first:02d}"


def _minute(y: int, m: int, d: int, h: int, minute: int) -> str:
    return f"1m{y:04d}-{m:02d}-{d:02d}T{h:02d}:{minute:02d}"


def _first_of_ten_days(d: int) -> int:
    """The first day of a day's part of its month: 1–10, 11–20, 21 to the end."""
    return min(d - (d - 1) % 10, 21)


def buckets_of(recorded_at: datetime) -> tuple[str, ...]:
    """The buckets (UTC) a change recorded at an instant is counted in."""
    at = recorded_at.astimezone(UTC)
    if at < HISTORY_SINCE:
        return (EARLIER,)
    y, m, d, h, minute = at.year, at.month, at.day, at.hour, at.minute
    return (
        _year(y),
        _month(y, m),
        _ten_days(y, m, _first_of_ten_days(d)),
        _day(y, m, d),
        _six_hours(y, m, d, h - h % 6),
        _hour(y, m, d, h),
        _ten_minutes(y, m, d, h, minute - minute % 10),
        _minute(y, m, d, h, minute),
    )


def bucket_reads(at: datetime) -> list[str]:
    """The buckets whose sum is every change recorded before `at`'s minute (pure): whole
    units only, each before the instant's own within its parent, so a change recorded
    later never shows, not even while a batch is being written.

    `at` must not be before `HISTORY_SINCE`.
    """
    at = answered_instant(at)
    y, m, d, h, minute = at.year, at.month, at.day, at.hour, at.minute
    tens_of_days = _first_of_ten_days(d)
    return [
        EARLIER,
        *(_year(year) for year in range(HISTORY_SINCE.year, y)),
        *(_month(y, i) for i in range(1, m)),
        *(_ten_days(y, m, first) for first in (1, 11) if first < tens_of_days),
        *(_day(y, m, i) for i in range(tens_of_days, d)),
        *(_six_hours(y, m, d, first) for first in range(0, h - h % 6, 6)),
        *(_hour(y, m, d, i) for i in range(h - h % 6, h)),
        *(_ten_minutes(y, m, d, h, first) for first in range(0, minute - minute % 10, 10)),
        *(_minute(y, m, d, h, i) for i in range(minute - minute % 10, minute)),
    ]


def bucket_document(cell: str, bucket: str) -> str:
    """The id of the document holding a cell's counts in a bucket (packed, see
    `PackedCounters`).

    One document per (cell, bucket), not one per area holding all its periods: a busy
    area's month bucket held every day, week and month of it with their breakdowns (100 KB
    for the district at 10,000 events), rewritten whole on every batch (FerretDB decodes
    and encodes the whole document on each update) and read whole for any one period.
    """
    return f"{cell}@{bucket}"


def add_flat(total: dict[str, int], counts: Mapping[str, int]) -> None:
    """Add counts named by dotted paths into `total` (in place), by the same names."""
    for name, amount in counts.items():
        total[name] = total.get(name, 0) + amount


def minute_of(recorded_at: datetime) -> datetime | None:
    """The UTC minute whose buckets a change recorded at an instant is counted in (None:
    before `HISTORY_SINCE`, the one earlier bucket)."""
    at = recorded_at.astimezone(UTC)
    return None if at < HISTORY_SINCE else at.replace(second=0, microsecond=0)


class CellHistory(History):
    """The recorded history of one collection of counter cells.

    While buffering (a rebuild), changes are summed per (cell, UTC minute) and spread over
    that minute's buckets only at `flush` (or `spill`, a rebuild written in parts: a
    bucket an earlier part wrote gets the later part's counts added): the same documents,
    without spreading each event eight times. A rebuild applies each source's offsets in rising order and each
    event in one `record`, so every change counts and a bucket's mark per source is the
    highest offset counted in it, as live recording leaves them.
    """

    def __init__(self, db: Database, name: str) -> None:
        self.name = name
        self.buckets = PackedCounters(db[f"{name}_buckets"])
        self.journal: Collection = db[JOURNAL]
        # Told when `record` journalled a batch (the writer wakes).
        self.on_record: Callable[[], None] | None = None
        # While buffering: (cell, minute) -> (summed counts, highest offset per source).
        self._minutes: dict[tuple[str, datetime | None], tuple[dict[str, int], dict[str, int]]]
        self._minutes = {}
        self._buffering = False
        self._spilled = False  # an earlier part of a rebuild wrote buckets

    def buffer(self) -> None:
        """Count in memory (a rebuild into empty collections) until `flush`."""
        self._buffering = True
        self._minutes = {}
        self._spilled = False
        folding(self)

    def held(self) -> int:
        return len(self._minutes)

    async def spill(self) -> None:
        """Write the buckets of what was counted so far (added to those an earlier part
        wrote) and free it, counting on in memory."""
        if self._buffering and self._minutes:
            minutes, self._minutes = self._minutes, {}
            await self._write(minutes)
            self._spilled = True

    async def flush(self) -> None:
        if not self._buffering:
            return
        self._buffering = False
        minutes, self._minutes = self._minutes, {}
        await self._write(minutes)

    async def _write(
        self, minutes: dict[tuple[str, datetime | None], tuple[dict[str, int], dict[str, int]]]
    ) -> None:
        await self.buckets.write_folded(self._bucket_cells(minutes), merge=self._spilled)

    @staticmethod
    def _bucket_cells(
        minutes: dict[tuple[str, datetime | None], tuple[dict[str, int], dict[str, int]]],
    ) -> Iterator[tuple[str, PackedCell]]:
        """The bucket cells of the sums per (cell, minute), a cell at a time (a bucket
        document holds one cell), each cell's sums dropped once its are built."""
        by_cell: dict[str, list[tuple[str, datetime | None]]] = defaultdict(list)
        for key in minutes:
            by_cell[key[0]].append(key)
        buckets: dict[datetime | None, tuple[str, ...]] = {}
        for cell, keys in by_cell.items():
            documents: dict[str, tuple[dict[str, int], dict[str, int]]] = {}
            for key in keys:
                minute = key[1]
                counts, marks = minutes.pop(key)
                if minute not in buckets:
                    buckets[minute] = buckets_of(minute) if minute is not None else (EARLIER,)
                for bucket in buckets[minute]:
                    summed, hwm = documents.setdefault(bucket_document(cell, bucket), ({}, {}))
                    for source, offset in marks.items():
                        if offset > hwm.get(source, -1):
                            hwm[source] = offset
                    add_flat(summed, counts)
            for document_id, (summed, hwm) in documents.items():
                yield document_id, PackedCell(summed, hwm, None)

    def _count_in_memory(self, changes: Iterable[Change]) -> None:
        """Sum the changes per (cell, minute); an event counted there by an earlier call (a
        batch applied again one event at a time) is not counted twice."""
        minutes = self._minutes
        raised: dict[tuple[str, datetime | None], dict[str, int]] = {}
        at: datetime | None = None
        minute: datetime | None = None
        for change in changes:
            if change.recorded_at is not at:  # an event's changes share their instant
                at = change.recorded_at
                minute = minute_of(at)
            key = (change.cell, minute)
            tally = minutes.get(key)
            if tally is None:
                tally = minutes[key] = ({}, {})
            counts, marks = tally
            event = change.event
            source, offset = event.source, event.offset
            if offset <= marks.get(source, -1):
                continue
            for name, amount in change.counts.items():
                counts[name] = counts.get(name, 0) + amount
            marks_after = raised.setdefault(key, {})
            if offset > marks_after.get(source, -1):
                marks_after[source] = offset
        for key, marks_after in raised.items():
            minutes[key][1].update(marks_after)

    async def record(self, changes: Iterable[Change]) -> None:
        """Keep `changes` (all of a batch's at once: a bucket counts an event only once):
        stored in the journal, whole, for `HistoryWriter` to write into the buckets."""
        if self._buffering:
            self._count_in_memory(changes)
            return
        documents = journal_documents(self.name, changes)
        if documents:
            await self.journal.insert_many(documents)
            if self.on_record is not None:
                self.on_record()

    async def as_of(self, cell_ids: list[str], at: datetime) -> dict[str, Document]:
        """The cells' counts from every change recorded before the start of `at`'s minute:
        the buckets, and the journal's changes not yet written into them.

        The journal is read first: a change the writer takes meanwhile is then in its
        bucket (whose mark says so), and one it has not taken is still in what was read.
        """
        reads = bucket_reads(at)
        pending = [
            document
            async for document in self.journal.find({"history": self.name}).sort([("_id", 1)])
        ]
        wanted = {bucket_document(cell, bucket): cell for bucket in reads for cell in cell_ids}
        sums: dict[str, dict[str, int]] = {cell: {} for cell in cell_ids}
        marks: dict[str, dict[str, int]] = {}
        for document_id, bucket in (await self.buckets.read(list(wanted))).items():
            add_flat(sums[wanted[document_id]], bucket.counts)
            marks[document_id] = bucket.hwm
        # A journal behind its writer holds thousands of changes per document: one document
        # per turn of the event loop, so the others (and /healthz) are never held for long.
        seen: set[tuple[str, str, int]] = set()
        read_buckets = frozenset(reads)
        for index, document in enumerate(pending):
            if index:
                await asyncio.sleep(0)
            for cell, counts in unwritten([document], read_buckets, marks, cell_ids, seen):
                add_flat(sums[cell], counts)
        totals: dict[str, dict[str, Any]] = {cell: {} for cell in cell_ids}
        for cell, summed in sums.items():
            add_nested(totals[cell], summed)
        return totals


class JournalPosition(NamedTuple):
    """Where a journalled change's event was read (`Position`)."""

    source: str
    offset: int


def _minute_text(recorded_at: datetime) -> str | None:
    minute = minute_of(recorded_at)
    return None if minute is None else instant(minute)[:16]


class _MinuteBuckets(dict[str | None, tuple[str, ...]]):
    """The buckets of a journalled minute (`_minute_text`), worked out once each."""

    def __missing__(self, minute: str | None) -> tuple[str, ...]:
        at = None if minute is None else datetime.fromisoformat(minute).replace(tzinfo=UTC)
        buckets = self[minute] = (EARLIER,) if at is None else buckets_of(at)
        return buckets


class _JournalKeys:
    """Journal document ids in the order they were made: nanoseconds since the epoch,
    never repeated nor going back within a process, then the process."""

    def __init__(self) -> None:
        self._last = 0
        self._process = f"{os.getpid()}-{os.urandom(4).hex()}"

    def next(self) -> str:
        self._last = max(time.time_ns(), self._last + 1)
        return f"{self._last:020d}-{self._process}"


_KEYS = _JournalKeys()


def journal_documents(name: str, changes: Iterable[Change]) -> list[Document]:
    """A batch's changes as journal documents (pure but for their ids): each change as
    `{c: cell, m: UTC minute, s: source, o: offset, k: [count names], v: [amounts]}`, an
    event's all in one journal document, the document's changes as one JSON value in
    bytes, compressed (`pack_json`; `journal_changes` reads them).

    Bytes, not a list of documents: the journal is read whole by the writer and by every
    figure as of an instant, and a store decodes a value of bytes at once where it decodes
    a list of changes field by field (FerretDB: 20 journal documents of 60 changes, 61 ms
    to count); nothing looks inside the changes but this module."""
    by_event: dict[tuple[str, int], list[Document]] = defaultdict(list)
    for change in changes:
        source, offset = change.event.source, change.event.offset
        minute = _minute_text(change.recorded_at)
        by_event[(source, offset)].append(
            {
                "c": change.cell,
                "m": minute,
                "s": source,
                "o": offset,
                "k": list(change.counts),
                "v": list(change.counts.values()),
            }
        )
    documents: list[Document] = []
    part: list[Document] = []
    for event_changes in by_event.values():
        if part and len(part) + len(event_changes) > JOURNAL_CHANGES_PER_DOCUMENT:
            documents.append(_journal_document(name, part))
            part = []
        part += event_changes
    if part:
        documents.append(_journal_document(name, part))
    return documents


def _journal_document(name: str, changes: list[Document]) -> Document:
    return {"_id": _KEYS.next(), "history": name, "changes": pack_json(changes)}


def journal_changes(document: Document) -> list[Document]:
    """A journal document's changes (a list of documents in journals written before they
    were stored as bytes)."""
    changes = document["changes"]
    return changes if isinstance(changes, list) else unpack_json(changes)


def counts_of(change: Document) -> dict[str, int]:
    """A journalled change's counts by name."""
    return dict(zip(change["k"], change["v"], strict=True))


def first_recorded(
    documents: Iterable[Document], seen: set[tuple[str, str, int]] | None = None
) -> Iterator[tuple[str, Document]]:
    """(history, change) of journal documents in their order, each event's changes as
    first recorded: a batch redelivered before the writer took it is journalled again, and
    may then be computed otherwise (a later projection of it stored facts the first time),
    so the first stands. `seen` holds the events of the documents before (updated in place:
    a journal read in parts)."""
    seen = set() if seen is None else seen
    for document in documents:
        name = document["history"]
        here: set[tuple[str, str, int]] = set()
        for change in journal_changes(document):
            key = (name, change["s"], change["o"])
            if key not in seen:
                here.add(key)
                yield name, change
        seen |= here


def unwritten(
    pending: Sequence[Document],
    reads: frozenset[str],
    marks: Mapping[str, Mapping[str, int]],
    cells: Iterable[str],
    seen: set[tuple[str, str, int]] | None = None,
) -> Iterator[tuple[str, Mapping[str, int]]]:
    """(cell, counts) of the journal's changes to `cells` that belong to one of the bucket
    `reads` and that bucket has not counted yet (its mark for the change's source is below
    the change's offset: a bucket counts each source's offsets in order); `seen` as for
    `first_recorded`."""
    wanted = frozenset(cells)
    buckets = _MinuteBuckets()
    for _, change in first_recorded(pending, seen):
        cell = change["c"]
        if cell not in wanted:
            continue
        for bucket in buckets[change["m"]]:
            if bucket in reads:
                mark = marks.get(bucket_document(cell, bucket), {}).get(change["s"], -1)
                if change["o"] > mark:
                    yield cell, counts_of(change)
                break


class HistoryWriter(HistoryWriting):
    """Writes the history journal into the histories' buckets, oldest first, many batches
    at a time, and removes what it wrote: off the consumer's path.

    Safe beside other writers (other reporting processes): buckets count each event once,
    whoever writes it, and a document is removed only once its changes are counted. A
    bucket counts a source's offsets in order, so the journal is taken oldest first: a
    partition's later batches are journalled after its earlier ones (a partition moves to
    another process only after its batches are done, and so journalled; journal ids sort
    by wall-clock time, so reporting hosts' clocks must agree to well within the seconds a
    rebalance takes).
    """

    def __init__(self, histories: Sequence[CellHistory], concurrency: int = 2) -> None:
        self._histories = {history.name: history for history in histories}
        self._journal: Collection = histories[0].journal
        self._woken = asyncio.Event()
        for history in histories:
            history.on_record = self._woken.set
            # Fewer bucket updates in flight than the consumer's: it writes current figures.
            history.buckets.concurrency = concurrency

    async def measure_backlog(self) -> None:
        """Set how many journal documents are not yet written, on `/metrics`."""
        AS_OF_JOURNAL.set(await self._journal.count_documents({}))

    async def write(self) -> int:
        """Write the oldest journal documents into their buckets and remove them; returns
        how many it took."""
        cursor = self._journal.find({"history": {"$in": list(self._histories)}})
        cursor = cursor.sort([("_id", 1)]).limit(JOURNAL_DOCUMENTS_PER_WRITE)
        documents = [document async for document in cursor]
        if not documents:
            return 0
        started = time.perf_counter()
        by_bucket: dict[str, dict[tuple[str, int, str], dict[str, int]]] = defaultdict(
            lambda: defaultdict(lambda: defaultdict(int))
        )
        buckets = _MinuteBuckets()
        seen: set[tuple[str, str, int]] = set()
        for index, document in enumerate(documents):
            if index:  # one journal document per turn of the event loop, as `as_of` reads
                await asyncio.sleep(0)
            for name, change in first_recorded([document], seen):
                event = (change["s"], change["o"])
                counts = counts_of(change)  # the same in each of the change's buckets
                for bucket in buckets[change["m"]]:
                    summed = by_bucket[name][(*event, bucket_document(change["c"], bucket))]
                    for field, amount in counts.items():
                        summed[field] += amount
        for name, sums in by_bucket.items():
            contributions: list[Contribution] = [
                (JournalPosition(source, offset), bucket_id, dict(counts), {})
                for (source, offset, bucket_id), counts in sums.items()
            ]
            await self._histories[name].buckets.apply(contributions)
        await self._journal.delete_many({"_id": {"$in": [d["_id"] for d in documents]}})
        AS_OF_WRITE_SECONDS.observe(time.perf_counter() - started)
        return len(documents)

    async def drain(self) -> None:
        """Write until the journal is empty."""
        while await self.write():
            pass

    async def run(self, every_seconds: float = 1.0) -> None:
        """Write the journal as it fills, until cancelled: at most once every
        `every_seconds` (the batches of that time share their busy buckets, and figures as
        of an instant never wait for it), woken by this process's batches, polling for what
        other processes (or an earlier run) left."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), 5 * every_seconds)
            self._woken.clear()
            try:
                await self.drain()
            except Exception:
                log.exception("writing the as-of history failed; trying again")
            await asyncio.sleep(every_seconds)
