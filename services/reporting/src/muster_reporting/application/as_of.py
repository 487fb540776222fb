"""Figures as they stood at a past instant: every change of a counter cell, kept by when
its event was recorded.

Each change to a cell also goes to three bucket documents keyed by the UTC month, day and
hour its event was recorded (`<area>@M2026-11`, `@D2026-11-27`, `@H2026-11-27T10`; one
document holds every period of the area), and
to a journal entry per event holding its changes at their instant. A cell as of T is the
sum of every month bucket before T's month, the day buckets of T's month before T's day,
the hour buckets of T's day before T's hour, and the journal entries recorded in T's hour
up to T. So a query reads at most 12 documents per year of history + 31 + 24 per cell,
plus one hour of journal, however many events there are; and it is exact to the
microsecond.

Buckets are counter cells (`CounterCells`): a redelivered event is counted once per bucket.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import BulkWriteError

from muster_runtime.mongo import Database, Document
from muster_runtime.projections import ConsumedEvent, Contribution, CounterCells

# Fields of a cell document that are not counts.
NOT_COUNTS = frozenset({"_id", "hwm", "cell", "bucket"})
DUPLICATE_KEY = 11000


@dataclass(frozen=True)
class Change:
    """Counts an event added to a cell, at the instant the event was recorded."""

    event: ConsumedEvent
    cell: str
    counts: Mapping[str, int]
    recorded_at: datetime


def buckets_of(recorded_at: datetime) -> tuple[str, str, str]:
    """The month, day and hour buckets (UTC) an instant is counted in."""
    at = recorded_at.astimezone(UTC)
    month = f"{at.year:04d}-{at.month:02d}"  # zero-padded: `%Y` is not, before year 1000
    return f"M{month}", f"D{month}-{at.day:02d}", f"H{month}-{at.day:02d}T{at.hour:02d}"


def grouped(cell: str) -> tuple[str, str]:
    """A cell's bucket group, its area, and its part in the group: its period, or `all`.

    One bucket document holds every period of an area, so an event's changes to the
    periods of its day cost one write per area and bucket, not one per cell.
    """
    area, _, period = cell.partition("|")
    return area, period or "all"


def instant(at: datetime) -> str:
    """A UTC instant as fixed-width text: sorts in time order, keeps the microseconds."""
    at = at.astimezone(UTC)
    return f"{at.year:04d}-" + at.strftime("%m-%dT%H:%M:%S.%fZ")


def parse_instant(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def merged(contributions: Iterable[Contribution]) -> list[Contribution]:
    """One contribution per (event, cell): a cell counts each event once, so an event's
    increments to the same cell must travel together."""
    out: dict[tuple[str, int, str], Contribution] = {}
    for event, cell, counts, on_insert in contributions:
        key = (event.source, event.offset, cell)
        if key in out:
            total = dict(out[key][2])
            for name, amount in counts.items():
                total[name] = total.get(name, 0) + amount
            out[key] = (event, cell, total, out[key][3])
        else:
            out[key] = (event, cell, counts, on_insert)
    return list(out.values())


def nest(dotted: Mapping[str, int]) -> dict[str, Any]:
    """`{"children.x.minutes": 5}` → `{"children": {"x": {"minutes": 5}}}`."""
    out: dict[str, Any] = {}
    for key, value in dotted.items():
        *parents, leaf = key.split(".")
        target = out
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = target.get(leaf, 0) + value
    return out


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


class CellHistory:
    """The recorded history of one collection of counter cells."""

    def __init__(self, db: Database, name: str) -> None:
        self.buckets = CounterCells(db[f"{name}_buckets"])
        self.journal = db[f"{name}_journal"]
        self._journal_buffer: dict[str, Document] | None = None

    async def create_indexes(self) -> None:
        await self.buckets.collection.create_index(
            [("cell", ASCENDING), ("bucket", ASCENDING)], name="cell_bucket"
        )
        await self.journal.create_index([("at", ASCENDING)], name="recorded_at")

    def buffer(self) -> None:
        """Count in memory (a rebuild into empty collections) until `flush`."""
        self.buckets.buffer()
        self._journal_buffer = {}

    async def flush(self) -> None:
        await self.buckets.flush()
        if self._journal_buffer is not None:
            docs = list(self._journal_buffer.values())
            self._journal_buffer = None
            for start in range(0, len(docs), 1000):
                await self.journal.insert_many(docs[start : start + 1000], ordered=False)

    async def record(self, changes: Iterable[Change]) -> None:
        """Keep `changes` (all of a batch's at once: a bucket counts an event only once)."""
        by_bucket: dict[tuple[str, int, str], dict[str, int]] = defaultdict(
            lambda: defaultdict(int)
        )
        events: dict[tuple[str, int], ConsumedEvent] = {}
        entries: dict[str, Document] = {}
        for change in changes:
            event = change.event
            events[(event.source, event.offset)] = event
            group, part = grouped(change.cell)
            for bucket in buckets_of(change.recorded_at):
                counts = by_bucket[(event.source, event.offset, f"{group}@{bucket}")]
                for name, amount in change.counts.items():
                    counts[f"{part}.{name}"] += amount
            entry_id = f"{change.event.envelope.event_id}@{change.recorded_at.isoformat()}"
            entry = entries.setdefault(
                entry_id, {"_id": entry_id, "at": instant(change.recorded_at), "changes": []}
            )
            entry["changes"].append({"cell": change.cell, "counts": nest(change.counts)})
        contributions: list[Contribution] = []
        for (source, offset, bucket_id), counts in by_bucket.items():
            cell, bucket = bucket_id.rsplit("@", 1)
            on_insert = {"cell": cell, "bucket": bucket}
            contributions.append((events[(source, offset)], bucket_id, dict(counts), on_insert))
        await self.buckets.apply(contributions)
        if self._journal_buffer is not None:
            self._journal_buffer.update(entries)
        elif entries:
            # Insert only: a redelivered event finds its entries already there.
            try:
                await self.journal.insert_many(list(entries.values()), ordered=False)
            except BulkWriteError as exc:
                if any(e.get("code") != DUPLICATE_KEY for e in exc.details["writeErrors"]):
                    raise

    async def as_of(self, cell_ids: list[str], at: datetime) -> dict[str, Document]:
        """The cells' counts from every change recorded up to and including `at`."""
        month, day, hour = buckets_of(at)
        whole = [
            {"bucket": {"$gte": "M", "$lt": month}},
            {"bucket": {"$gte": f"D{month[1:]}-01", "$lt": day}},
            {"bucket": {"$gte": f"H{day[1:]}T00", "$lt": hour}},
        ]
        totals: dict[str, dict[str, Any]] = {cell: {} for cell in cell_ids}
        parts: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for cell in cell_ids:
            group, part = grouped(cell)
            parts[group].append((cell, part))
        query = {"cell": {"$in": list(parts)}, "$or": whole}
        async for doc in self.buckets.collection.find(query):
            for cell, part in parts[doc["cell"]]:
                add_counts(totals[cell], doc.get(part, {}))
        hour_start = at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        wanted = set(cell_ids)
        recorded = {"at": {"$gte": instant(hour_start), "$lte": instant(at)}}
        async for entry in self.journal.find(recorded, {"changes": 1}):
            for change in entry["changes"]:
                if change["cell"] in wanted:
                    add_counts(totals[change["cell"]], change["counts"])
        return totals
