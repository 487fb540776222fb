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

Buckets are counter cells (`CounterCells`): a redelivered event is counted once per bucket.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from muster_runtime.mongo import Database, Document
from muster_runtime.projections import (
    ConsumedEvent,
    CounterCells,
    insert_in_chunks,
)

# History is kept by year from here; whatever was recorded before is in one bucket.
HISTORY_SINCE = datetime(2024, 1, 1, tzinfo=UTC)
EARLIER = f"Ybefore{HISTORY_SINCE.year}"
# Fields of a bucket document that are not counts.
NOT_COUNTS = frozenset({"_id", "hwm"})


class Change(NamedTuple):
    """Counts an event added to a cell, at the instant the event was recorded (a tuple: a
    rebuild makes millions)."""

    event: ConsumedEvent
    cell: str
    counts: Mapping[str, int]
    recorded_at: datetime


def effective_instant(at: datetime) -> datetime:
    """What a figure as of `at` answers for: the start of its UTC minute (changes recorded
    before it count)."""
    return at.astimezone(UTC).replace(second=0, microsecond=0)


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
    at = effective_instant(at)
    if at < HISTORY_SINCE:
        raise ValueError(f"history is kept from {HISTORY_SINCE.isoformat()}")
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
    """The id of the document holding a cell's counts in a bucket (its counts at the top,
    beside `_id` and `hwm`).

    One document per (cell, bucket), not one per area holding all its periods: a busy
    area's month bucket held every day, week and month of it with their breakdowns (100 KB
    for the district at 10,000 events), rewritten whole on every batch (FerretDB decodes
    and encodes the whole document on each update) and read whole for any one period.
    """
    return f"{cell}@{bucket}"


def instant(at: datetime) -> str:
    """A UTC instant as fixed-width text: sorts in time order, keeps the microseconds."""
    at = at.astimezone(UTC)
    return f"{at.year:04d}-" + at.strftime("%m-%dT%H:%M:%S.%fZ")


def parse_instant(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def add_dotted(total: dict[str, Any], counts: Mapping[str, int]) -> None:
    """Add counts named by dotted paths (`children.a.minutes`) into nested `total`."""
    for dotted, amount in counts.items():
        *parents, leaf = dotted.split(".")
        target = total
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = target.get(leaf, 0) + amount


def add_counts(total: dict[str, Any], counts: Mapping[str, Any]) -> dict[str, Any]:
    """Add nested counts into `total` (in place), skipping the bookkeeping fields."""
    for key, value in counts.items():
        if key in NOT_COUNTS:
            continue
        if isinstance(value, Mapping):
            add_counts(total.setdefault(key, {}), value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            total[key] = total.get(key, 0) + value
    return total


def minute_of(recorded_at: datetime) -> datetime | None:
    """The UTC minute whose buckets a change recorded at an instant is counted in (None:
    before `HISTORY_SINCE`, the one earlier bucket)."""
    at = recorded_at.astimezone(UTC)
    return None if at < HISTORY_SINCE else at.replace(second=0, microsecond=0)


class CellHistory:
    """The recorded history of one collection of counter cells.

    While buffering (a rebuild), changes are summed per (cell, UTC minute) and spread over
    that minute's buckets only at `flush`: the same documents, without spreading each
    event eight times. A rebuild applies each source's offsets in rising order and each
    event in one `record`, so every change counts and a bucket's mark per source is the
    highest offset counted in it, as live recording leaves them.
    """

    def __init__(self, db: Database, name: str) -> None:
        self.buckets = CounterCells(db[f"{name}_buckets"])
        # While buffering: (cell, minute) -> (summed counts, highest offset per source).
        self._minutes: dict[tuple[str, datetime | None], tuple[dict[str, int], dict[str, int]]]
        self._minutes = {}
        self._buffering = False

    def buffer(self) -> None:
        """Count in memory (a rebuild into empty collections) until `flush`."""
        self._buffering = True
        self._minutes = {}

    async def flush(self) -> None:
        if not self._buffering:
            return
        self._buffering = False
        minutes, self._minutes = self._minutes, {}
        await insert_in_chunks(self.buckets.collection, self._bucket_documents(minutes))

    @staticmethod
    def _bucket_documents(
        minutes: dict[tuple[str, datetime | None], tuple[dict[str, int], dict[str, int]]],
    ) -> Iterator[Document]:
        """The bucket documents of the sums per (cell, minute), a cell at a time (a bucket
        document holds one cell), each cell's sums dropped once its are built."""
        by_cell: dict[str, list[tuple[str, datetime | None]]] = defaultdict(list)
        for key in minutes:
            by_cell[key[0]].append(key)
        buckets: dict[datetime | None, tuple[str, ...]] = {}
        for cell, keys in by_cell.items():
            documents: dict[str, Document] = {}
            for key in keys:
                minute = key[1]
                counts, marks = minutes.pop(key)
                if minute not in buckets:
                    buckets[minute] = buckets_of(minute) if minute is not None else (EARLIER,)
                for bucket in buckets[minute]:
                    document_id = bucket_document(cell, bucket)
                    document = documents.get(document_id)
                    if document is None:
                        document = documents[document_id] = {"_id": document_id, "hwm": {}}
                    hwm = document["hwm"]
                    for source, offset in marks.items():
                        if offset > hwm.get(source, -1):
                            hwm[source] = offset
                    add_dotted(document, counts)
            yield from documents.values()

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
        """Keep `changes` (all of a batch's at once: a bucket counts an event only once)."""
        if self._buffering:
            self._count_in_memory(changes)
            return
        by_bucket: dict[tuple[str, int, str], dict[str, int]] = defaultdict(
            lambda: defaultdict(int)
        )
        events: dict[tuple[str, int], ConsumedEvent] = {}
        for change in changes:
            event = change.event
            events[(event.source, event.offset)] = event
            for bucket in buckets_of(change.recorded_at):
                counts = by_bucket[
                    (event.source, event.offset, bucket_document(change.cell, bucket))
                ]
                for name, amount in change.counts.items():
                    counts[name] += amount
        await self.buckets.apply(
            [
                (events[(source, offset)], bucket_id, dict(counts), {})
                for (source, offset, bucket_id), counts in by_bucket.items()
            ]
        )

    async def as_of(self, cell_ids: list[str], at: datetime) -> dict[str, Document]:
        """The cells' counts from every change recorded before the start of `at`'s minute."""
        wanted = {
            bucket_document(cell, bucket): cell for bucket in bucket_reads(at) for cell in cell_ids
        }
        totals: dict[str, dict[str, Any]] = {cell: {} for cell in cell_ids}
        for doc in await self.buckets.read(list(wanted), {"hwm": 0}):
            add_counts(totals[wanted[doc["_id"]]], doc)
        return totals
