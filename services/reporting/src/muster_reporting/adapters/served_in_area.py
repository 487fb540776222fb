"""Who served where in the document store: one document per (area, volunteer), its periods
as sub-fields, updated guarded like a counter cell (see `application/served_in_area.py` for
the rules)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from muster_reporting.application.as_of import instant, parse_instant
from muster_reporting.application.ports import ServedInArea
from muster_reporting.application.served_in_area import (
    ALL_TIME,
    MEASURES,
    Firsts,
    Membership,
    Served,
    Service,
    decide_first,
    member_id,
    period_of,
)
from muster_reporting.domain.periods import cell_id
from muster_runtime.adapters.mongodb.bulk_documents import BulkFolded
from muster_runtime.mongo import ASCENDING, Database, Document, DuplicateKeyError, insert_absent


@dataclass
class ServedState:
    """One (area, volunteer) document as a consumer knows it."""

    area: str
    volunteer_id: str
    hwm: dict[str, int] = field(default_factory=dict)
    held: dict[str, Membership] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # by period key

    def remembered(self) -> ServedState:
        """What a consumer remembers of it: marks and memberships, never counts."""
        return ServedState(self.area, self.volunteer_id, self.hwm, self.held)

    def document(self, doc_id: str) -> Document:
        doc: Document = {
            "_id": doc_id,
            "area": self.area,
            "volunteer_id": self.volunteer_id,
            "hwm": dict(self.hwm),
        }
        for key in self.counts.keys() | self.held.keys():
            part: dict[str, Any] = dict(self.counts.get(key, {}))
            if key in self.held:
                part |= _membership_fields(self.held[key])
            doc[key] = part
        return doc


@dataclass
class _Decided:
    """A batch's changes to one document, decided against what was known of it."""

    state: ServedState
    increments: dict[str, int] = field(default_factory=dict)  # dotted
    marks: dict[str, tuple[int | None, int]] = field(default_factory=dict)  # source: old, new
    taken: dict[str, Membership | None] = field(default_factory=dict)  # period: old holder
    firsts: dict[int, Firsts] = field(default_factory=dict)  # by the service's index

    def update(self, doc_id: str) -> tuple[Document, Document] | None:
        """The guarded update that writes these changes, or None when there are none."""
        if not self.increments and not self.marks and not self.taken:
            return None
        guard: Document = {"_id": doc_id}
        sets: Document = {}
        for source, (old, new) in self.marks.items():
            guard[f"hwm.{source}"] = old if old is not None else {"$exists": False}
            sets[f"hwm.{source}"] = new
        for key, old_holder in self.taken.items():
            guard[f"{key}.by"] = old_holder.by if old_holder else {"$exists": False}
            sets |= {f"{key}.{k}": v for k, v in _membership_fields(self.state.held[key]).items()}
        update: Document = {"$set": sets}
        if self.increments:
            update["$inc"] = dict(self.increments)
        return guard, update


def decide(state: ServedState, services: list[tuple[int, Service]]) -> _Decided:
    """Apply `services` (in order) to a copy of `state`, as if one after the other (pure)."""
    state = ServedState(
        state.area,
        state.volunteer_id,
        dict(state.hwm),
        dict(state.held),
        {k: dict(v) for k, v in state.counts.items()},
    )
    decided = _Decided(state)
    for index, service in services:
        event = service.event
        source = event.source
        old = state.hwm.get(source)
        if old is None or event.offset > old:
            for key in service.periods:
                counts = state.counts.setdefault(key, {})
                for name, amount in zip(MEASURES, (service.minutes, service.turnouts), strict=True):
                    counts[name] = counts.get(name, 0) + amount
                    dotted = f"{key}.{name}"
                    decided.increments[dotted] = decided.increments.get(dotted, 0) + amount
            first_old = decided.marks[source][0] if source in decided.marks else old
            decided.marks[source] = (first_old, event.offset)
            state.hwm[source] = event.offset
        if not service.new_record:
            continue
        event_id = str(event.envelope.event_id)
        candidate = Membership(event.envelope.recorded_at, event_id)
        firsts: Firsts = []
        for key in service.periods:
            held = state.held.get(key)
            after = decide_first(held, candidate)
            if after is None:
                continue
            if after is not held:
                decided.taken.setdefault(key, held)
                state.held[key] = after
            firsts.append((key, after))
        decided.firsts[index] = firsts
    return decided


def by_document(services: list[Service]) -> dict[str, list[tuple[int, Service]]]:
    """The services (with their index) of each (area, volunteer) document, in order."""
    by_doc: dict[str, list[tuple[int, Service]]] = defaultdict(list)
    for index, service in enumerate(services):
        by_doc[service.doc_id].append((index, service))
    return by_doc


def _new_state(items: list[tuple[int, Service]]) -> ServedState:
    """A new document's state: its first service's area and volunteer."""
    first = items[0][1]
    return ServedState(first.area, first.volunteer_id)


def decide_in_memory(states: dict[str, ServedState], services: list[Service]) -> dict[int, Firsts]:
    """Count `services` into `states` (by document id, in place), as if one after the
    other; returns the memberships each service's event holds (by index in `services`)."""
    firsts: dict[int, Firsts] = {}
    for doc_id, items in by_document(services).items():
        decided = decide(states.get(doc_id) or _new_state(items), items)
        states[doc_id] = decided.state
        firsts |= decided.firsts
    return firsts


def _membership_fields(held: Membership) -> Document:
    # Instants as text: BSON dates would drop the microseconds the order depends on.
    moved_from = instant(held.moved_from) if held.moved_from else None
    return {"first": instant(held.first), "by": held.by, "moved_from": moved_from}


def _state_of(doc: Document) -> ServedState:
    held: dict[str, Membership] = {}
    for key, part in doc.items():
        if isinstance(part, dict) and "by" in part:
            moved_from = part.get("moved_from")
            held[key] = Membership(
                parse_instant(part["first"]),
                part["by"],
                parse_instant(moved_from) if moved_from else None,
            )
    return ServedState(doc["area"], doc["volunteer_id"], dict(doc.get("hwm", {})), held)


class ServedInAreaDocuments(BulkFolded[ServedState], ServedInArea):
    MAX_ATTEMPTS = 20
    # Documents remembered; past it the memory starts again (the store answers).
    MAX_REMEMBERED = 100_000

    def __init__(self, db: Database) -> None:
        self.collection = db["service_volunteers"]
        self._buffer: dict[str, ServedState] | None = None
        # Marks and memberships as this consumer last wrote or read them (never counts).
        self._known: dict[str, ServedState] = {}

    async def create_indexes(self) -> None:
        # Only a leaderboard's re-derivation asks by area (see `Leaderboards`).
        await self.collection.create_index([("area", ASCENDING)], name="area")

    def buffered(self) -> Iterator[tuple[str, list[Served]]]:
        """While buffering: each cell's volunteers and their figures (for leaderboards),
        a cell at a time (an area's documents grouped first, its periods' lists built one by
        one)."""
        by_area: dict[str, list[ServedState]] = defaultdict(list)
        for state in (self._buffer or {}).values():
            by_area[state.area].append(state)
        for area, states in by_area.items():
            keys = {key for state in states for key in state.counts}
            for key in keys:
                yield (
                    _cell_id(area, key),
                    [
                        Served.of(state.volunteer_id, counts)
                        for state in states
                        if (counts := state.counts.get(key)) is not None
                    ],
                )

    def _document(self, doc_id: str, folded: ServedState) -> Document:
        return folded.document(doc_id)

    def _folded(self, document: Document) -> ServedState:
        """A document as folded, counts and all (read back by a rebuild written in parts)."""
        state = _state_of(document)
        for key, part in document.items():
            if isinstance(part, dict) and key != "hwm":
                counts = {name: int(part[name]) for name in MEASURES if name in part}
                if counts:
                    state.counts[key] = counts
        return state

    async def stored(self) -> AsyncIterator[tuple[str, Served]]:
        """Every (cell, volunteer's figures) the store holds, one document at a time."""
        async for document in self.collection.find({}, {"hwm": 0}):
            area, volunteer_id = document["area"], document["volunteer_id"]
            for key, part in document.items():
                if isinstance(part, dict) and any(name in part for name in MEASURES):
                    yield _cell_id(area, key), Served.of(volunteer_id, part)

    async def apply(
        self, services: list[Service]
    ) -> tuple[dict[int, Firsts], dict[str, dict[str, Served]]]:
        """Count `services` and settle their memberships, as if one after the other.

        Returns the memberships each service's event holds (by index in `services`), and
        the figures of the documents this call created, as they were created: cell →
        volunteer → figures (others must be read).
        """
        if self._buffer is not None:
            await self._read_back(service.doc_id for service in services)
            return decide_in_memory(self._buffer, services), {}
        by_doc = by_document(services)
        firsts: dict[int, Firsts] = {}
        created: dict[str, dict[str, Served]] = defaultdict(dict)
        if len(self._known) > self.MAX_REMEMBERED:
            self._known.clear()
        pending = await self._insert_new(by_doc, firsts, created)
        for _ in range(self.MAX_ATTEMPTS):
            if not pending:
                return firsts, created
            await self._read([d for d in pending if d not in self._known])
            missed: dict[str, list[tuple[int, Service]]] = {}
            for doc_id, items in pending.items():
                if not await self._write(doc_id, items, firsts):
                    missed[doc_id] = items
            pending = missed
        raise RuntimeError("service_volunteers: documents kept changing under the consumer")

    async def _insert_new(
        self,
        by_doc: dict[str, list[tuple[int, Service]]],
        firsts: dict[int, Firsts],
        created: dict[str, dict[str, Served]],
    ) -> dict[str, list[tuple[int, Service]]]:
        """Insert whole the documents not known to exist; returns the rest to update."""
        new = {
            doc_id: decide(_new_state(items), items)
            for doc_id, items in by_doc.items()
            if doc_id not in self._known
        }
        if not new:
            return by_doc
        ids = list(new)
        taken = {ids[i] for i in await insert_absent(
            self.collection, [new[d].state.document(d) for d in ids]
        )}  # fmt: skip
        for doc_id in ids:
            if doc_id in taken:
                continue
            state = new[doc_id].state
            firsts |= new[doc_id].firsts
            for key, counts in state.counts.items():
                created[_cell_id(state.area, key)][state.volunteer_id] = Served.of(
                    state.volunteer_id, counts
                )
            self._known[doc_id] = state.remembered()
        return {d: items for d, items in by_doc.items() if d not in new or d in taken}

    async def _read(self, doc_ids: list[str]) -> None:
        # Memberships sit beside the counts in each period: the whole document is read.
        docs = await asyncio.gather(*(self.collection.find_one({"_id": d}) for d in doc_ids))
        for doc_id, doc in zip(doc_ids, docs, strict=True):
            if doc is not None:
                self._known[doc_id] = _state_of(doc)

    async def _write(
        self, doc_id: str, items: list[tuple[int, Service]], firsts: dict[int, Firsts]
    ) -> bool:
        known = self._known.get(doc_id)
        if known is None:  # not in the store after all (dropped meanwhile): insert it
            decided = decide(_new_state(items), items)
            try:
                await self.collection.insert_one(decided.state.document(doc_id))
            except DuplicateKeyError:
                return False
        else:
            decided = decide(known, items)
            update = decided.update(doc_id)
            if update is not None:
                result = await self.collection.update_one(*update)
                if result.matched_count == 0:
                    self._known.pop(doc_id, None)  # another consumer wrote it: read again
                    return False
        state = decided.state
        self._known[doc_id] = state.remembered()
        firsts |= decided.firsts
        return True

    async def figures(self, wanted: dict[str, set[str]]) -> dict[str, dict[str, Served]]:
        """Cell → volunteer → figures, read now (one point read per (area, volunteer))."""
        periods: dict[str, set[str]] = defaultdict(set)  # document: period keys
        for cell, volunteers in wanted.items():
            area, key = area_and_key(cell)
            for volunteer_id in volunteers:
                periods[member_id(area, volunteer_id)].add(key)
        ids = list(periods)
        docs = await asyncio.gather(
            *(self.collection.find_one({"_id": d}, {k: 1 for k in periods[d]}) for d in ids)
        )
        out: dict[str, dict[str, Served]] = defaultdict(dict)
        for cell, volunteers in wanted.items():
            area, key = area_and_key(cell)
            for volunteer_id in volunteers:
                out[cell][volunteer_id] = Served(volunteer_id, 0)
        for doc_id, doc in zip(ids, docs, strict=True):
            if doc is None:
                continue
            area, _, volunteer_id = doc_id.partition("#")
            for key in periods[doc_id]:
                counts = doc.get(key, {})
                out[_cell_id(area, key)][volunteer_id] = Served.of(volunteer_id, counts)
        return out

    async def everyone(self, cell: str) -> list[Served]:
        """Every volunteer with minutes in the cell: a query by area (index-served on
        MongoDB, a scan on FerretDB), for a leaderboard's rare re-derivation only."""
        area, key = area_and_key(cell)
        query = self.collection.find(
            {"area": area, f"{key}.minutes": {"$gt": 0}}, {"volunteer_id": 1, key: 1}
        )
        return [Served.of(doc["volunteer_id"], doc[key]) async for doc in query]


def _cell_id(area: str, key: str) -> str:
    return cell_id(area, period_of(key))


def area_and_key(cell: str) -> tuple[str, str]:
    area, _, period = cell.partition("|")
    return area, period or ALL_TIME
