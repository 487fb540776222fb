"""Leaderboards kept ranked as figures change, each read with one point read by `_id`.

* Top volunteers per (area, period) cell (`service_volunteer_boards`, `_id` the cell id):
  the best `CAPACITY` volunteers by approved minutes served there, from the (area,
  volunteer) documents of `served_in_area`.
* Star-rated volunteers per home area (`volunteer_star_boards`, `_id` the area): every
  volunteer living there whose cumulative minutes earn a star, from `volunteer_standing`.

A board holds its ranked entries (most minutes first, ties by volunteer id), a `floor`
and a version `n`. The rule (`place`, pure):

* Every volunteer of the cell who is not on the board ranks at or after the floor (no
  floor: every volunteer off the board has nothing to show), and every entry ranks before
  it: so the board's entries are exactly the cell's best, in order.
* A volunteer whose figures change leaves the board and comes back if they now rank
  before the floor. Past `CAPACITY` entries the last ones leave, and the floor becomes the
  best of them. A correction can push a volunteer below the floor (demotion): they leave,
  and nobody else can take their place, because nobody is known to rank next.
* So the board holds `CAPACITY` entries, 50 more than a report shows (`SHOWN`), and loses
  one per demotion. When fewer than `SHOWN` remain under a floor, the board is derived
  again from every volunteer of the cell (`ranked`): the one query that is not by `_id`,
  on the write path, at most once per 50 demotions in one cell.

Exact with redelivery, replays and two consumers in one group writing in either order. A
consumer counts the (area, volunteer) documents first, then reads the figures of the
volunteers it changed, then writes each board conditionally on the version it knows; a
board another consumer wrote meanwhile fails the condition, and it is read again, then the
figures, and the board decided again. So every write decides from figures read after the
last write before it. A change that leaves a volunteer off the board (only increases, and
still ranking after the floor) writes nothing: it checks the board's version instead, and
a re-derivation first bumps the version (`refilling`) and only then reads the figures, so
such a check never misses one. A star board has no floor and no capacity; a volunteer
below the first star whose minutes only rose needs no check at all (see `settle`).
"""

from __future__ import annotations

import asyncio
import heapq
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from muster_contracts.areas import AreaTree
from muster_contracts.events import VolunteerRegistered
from muster_contracts.events.activities import ServiceRecordAdjusted, ServiceRecordIssued
from muster_contracts.stars import star_rating
from muster_reporting.application.served_in_area import Served
from muster_runtime.adapters.mongodb.counter_cells import CounterCells
from muster_runtime.mongo import Database, Document, DuplicateKeyError, insert_absent
from muster_runtime.projections import ConsumedEvent, Contribution, insert_in_chunks

RankKey = tuple[int, str]  # (-minutes, volunteer id): smaller ranks first


def rank_key(served: Served) -> RankKey:
    return (-served.minutes, served.volunteer_id)


@dataclass(frozen=True)
class Board:
    """A cell's best volunteers (ranked) and what every volunteer off it ranks after."""

    entries: tuple[Served, ...] = ()
    floor: RankKey | None = None
    version: int = 0  # 0: never written
    refilling: bool = False

    def holds(self, volunteer_id: str) -> bool:
        return any(e.volunteer_id == volunteer_id for e in self.entries)

    def stays_off(self, served: Served, admit: int) -> bool:
        """Whether these figures leave the volunteer off the board (they are not on it)."""
        return served.minutes < admit or (self.floor is not None and rank_key(served) >= self.floor)

    def complete_for(self, shown: int) -> bool:
        """Whether the first `shown` entries are the cell's first `shown` volunteers."""
        return self.floor is None or len(self.entries) >= shown


def place(board: Board, changed: Iterable[Served], capacity: int | None, admit: int) -> Board:
    """The board after these volunteers' figures changed to `changed` (pure)."""
    entries = {e.volunteer_id: e for e in board.entries}
    for served in changed:
        entries.pop(served.volunteer_id, None)
        if not board.stays_off(served, admit):
            entries[served.volunteer_id] = served
    ordered = sorted(entries.values(), key=rank_key)
    floor = board.floor
    if capacity is not None and len(ordered) > capacity:
        best_left = rank_key(ordered[capacity])
        floor = best_left if floor is None else min(floor, best_left)
        ordered = ordered[:capacity]
    return replace(board, entries=tuple(ordered), floor=floor)


def ranked(everyone: Iterable[Served], capacity: int | None, admit: int) -> Board:
    """The board derived from every volunteer of the cell (pure)."""
    admitted = (s for s in everyone if s.minutes >= admit)
    if capacity is None:
        return Board(tuple(sorted(admitted, key=rank_key)))
    ordered = heapq.nsmallest(capacity + 1, admitted, key=rank_key)
    if len(ordered) <= capacity:
        return Board(tuple(ordered))
    return Board(tuple(ordered[:capacity]), rank_key(ordered[capacity]))


def _document(cell: str, board: Board) -> Document:
    return {
        "_id": cell,
        "n": board.version,
        # Short names: a board is rewritten whole, up to `CAPACITY` entries at a time.
        "entries": [{"v": e.volunteer_id, "m": e.minutes, "t": e.turnouts} for e in board.entries],
        "floor": [-board.floor[0], board.floor[1]] if board.floor else None,
        "refilling": board.refilling,
    }


def _board_of(doc: Document | None) -> Board:
    if doc is None:
        return Board()
    floor = doc.get("floor")
    return Board(
        tuple(Served(e["v"], int(e["m"]), int(e["t"])) for e in doc.get("entries", [])),
        (-int(floor[0]), str(floor[1])) if floor else None,
        int(doc["n"]),
        bool(doc.get("refilling", False)),
    )


# Cell → volunteer → whether their figures only rose in this batch (or stayed).
Touched = dict[str, dict[str, bool]]
FiguresReader = Callable[[dict[str, set[str]]], Awaitable[dict[str, dict[str, Served]]]]


class Leaderboards:
    """Ranked boards, one document per cell, kept exact as figures change (module doc)."""

    MAX_ATTEMPTS = 20
    # Boards remembered (a busy cell's holds 150 entries); past it the memory starts again.
    MAX_REMEMBERED = 20_000

    def __init__(
        self,
        collection: Any,
        figures: FiguresReader,
        *,
        capacity: int | None,
        admit: int,
        shown: int,
        everyone: Callable[[str], Awaitable[list[Served]]] | None = None,
    ) -> None:
        self.collection = collection
        self.capacity = capacity
        self.admit = admit
        self.shown = shown
        self._figures = figures
        self._everyone = everyone
        self._boards: dict[str, Board] = {}  # as this consumer last wrote or read them
        self._buffering = False

    def buffer(self) -> None:
        """A rebuild: boards are derived once at the end (`flush`), not kept as it goes."""
        self._buffering = True

    async def flush(self, cells: Iterable[tuple[str, Iterable[Served]]]) -> None:
        """Write every cell's board derived from all its volunteers' final figures (built
        as they are written)."""
        self._buffering = False

        def documents() -> Iterator[Document]:
            for cell, everyone in cells:
                board = ranked(everyone, self.capacity, self.admit)
                if board.entries:
                    yield _document(cell, replace(board, version=1))

        await insert_in_chunks(self.collection, documents())

    async def board(self, cell: str) -> Board:
        """The cell's board, read now (one point read)."""
        return _board_of(await self.collection.find_one({"_id": cell}))

    async def prepare(self, cells: Iterable[str]) -> set[str]:
        """Know the cells' boards before any figure is read for them (see the module doc);
        returns the cells whose board was read now."""
        if self._buffering:
            return set()
        if len(self._boards) > self.MAX_REMEMBERED:
            self._boards.clear()
        unknown = [c for c in dict.fromkeys(cells) if c not in self._boards]
        docs = await asyncio.gather(*(self.collection.find_one({"_id": c}) for c in unknown))
        for cell, doc in zip(unknown, docs, strict=True):
            self._boards[cell] = _board_of(doc)
        return set(unknown)

    async def settle(
        self, touched: Touched, known: Mapping[str, Mapping[str, Served]] | None = None
    ) -> None:
        """Place the touched volunteers on their cells' boards.

        `known`: figures observed after `prepare` (e.g. of documents just created), which
        need no read; every other figure is read here.
        """
        if self._buffering or not touched:
            return
        pending = touched
        for _ in range(self.MAX_ATTEMPTS):
            read_now = await self.prepare(pending)
            if known and read_now:  # figures observed before a board was read are stale
                known = {c: f for c, f in known.items() if c not in read_now}
            wanted = {
                cell: {v for v in changed if v not in (known or {}).get(cell, {})}
                for cell, changed in pending.items()
            }
            figures = await self._figures({c: w for c, w in wanted.items() if w})
            missed: Touched = {}
            new: dict[str, Board] = {}  # boards to create, in one bulk insert
            for cell, changed in pending.items():
                found = {**(known or {}).get(cell, {}), **figures.get(cell, {})}
                served = [found.get(v, Served(v, 0)) for v in changed]
                if self._boards[cell].version == 0:
                    first = place(Board(), served, self.capacity, self.admit)
                    if first.entries and first.complete_for(self.shown):
                        new[cell] = replace(first, version=1)
                        continue
                if not await self._settle_cell(cell, changed, served):
                    self._boards.pop(cell, None)  # read again, then the figures
                    missed[cell] = changed
            if new:
                cells = list(new)
                taken = await insert_absent(self.collection, [_document(c, new[c]) for c in cells])
                for i, cell in enumerate(cells):
                    if i in taken:  # another consumer created it meanwhile
                        self._boards.pop(cell, None)
                        missed[cell] = pending[cell]
                    else:
                        self._boards[cell] = new[cell]
            pending, known = missed, None
            if not pending:
                return
        raise RuntimeError(f"{self.collection.name}: boards kept changing under the consumer")

    async def _settle_cell(self, cell: str, changed: dict[str, bool], served: list[Served]) -> bool:
        board = self._boards[cell]
        risen = [s for s in served if changed[s.volunteer_id]]
        if len(risen) == len(served):
            if self.capacity is None and all(s.minutes < self.admit for s in served):
                # No floor, no capacity: figures that only rose and still earn nothing
                # leave the volunteer off whatever the board holds.
                return True
            if not board.refilling and all(
                not board.holds(s.volunteer_id) and board.stays_off(s, self.admit) for s in served
            ):
                # Off the board before and after: nothing to write, if the board is still
                # the one these figures were weighed against.
                doc = await self.collection.find_one({"_id": cell}, {"n": 1})
                return (int(doc["n"]) if doc else 0) == board.version
        after = place(board, served, self.capacity, self.admit)
        if not after.complete_for(self.shown):
            return await self._refill(cell, board)
        return await self._write(cell, board, replace(after, refilling=False))

    async def _refill(self, cell: str, board: Board) -> bool:
        """Derive the board again from every volunteer of the cell: first mark it (a new
        version, so a skipped change can never miss this), then read, then write."""
        if self._everyone is None:
            raise RuntimeError("this board cannot be derived again")
        if not await self._write(cell, board, replace(board, refilling=True)):
            return False
        derived = ranked(await self._everyone(cell), self.capacity, self.admit)
        return await self._write(cell, self._boards[cell], derived)

    async def _write(self, cell: str, board: Board, after: Board) -> bool:
        after = replace(after, version=board.version + 1)
        doc = _document(cell, after)
        if board.version == 0:
            try:
                await self.collection.insert_one(doc)
            except DuplicateKeyError:
                return False
        else:
            del doc["_id"]
            result = await self.collection.update_one(
                {"_id": cell, "n": board.version}, {"$set": doc}
            )
            if result.matched_count == 0:
                return False
        self._boards[cell] = after
        return True


class VolunteerStanding:
    """Each volunteer's cumulative approved minutes and home-area lineage, and the star
    boards of the areas they live in.

    Registrations and service records arrive on different topics, in either order: the
    lineage is set whenever the registration comes, the minutes are counted as they come,
    and whichever comes last puts the volunteer on the boards of their areas.
    """

    event_types = frozenset(
        {
            VolunteerRegistered.event_type,
            ServiceRecordIssued.event_type,
            ServiceRecordAdjusted.event_type,
        }
    )

    def __init__(self, db: Database, areas: AreaTree, thresholds_hours: tuple[int, ...]) -> None:
        self.cells = CounterCells(db["volunteer_standing"])
        self.thresholds_hours = thresholds_hours
        self._areas = areas
        self.boards = Leaderboards(
            db["volunteer_star_boards"],
            self._figures,
            capacity=None,
            admit=thresholds_hours[0] * 60,
            shown=0,
        )
        self._buffered: set[str] | None = None  # volunteers seen while buffering

    def buffer(self) -> None:
        self.cells.buffer()
        self.boards.buffer()
        self._buffered = set()

    async def flush(self) -> None:
        if self._buffered is not None:
            docs = await self.cells.read(list(self._buffered))
            by_area: dict[str, list[Served]] = defaultdict(list)
            for doc in docs:
                for area in doc.get("areas", []):
                    by_area[area].append(Served(doc["_id"], int(doc.get("minutes", 0))))
            self._buffered = None
            await self.boards.flush(by_area.items())
        await self.cells.flush()

    async def apply(self, events: list[ConsumedEvent]) -> None:
        minutes: list[Contribution] = []
        lineages: dict[str, dict[str, Any]] = {}
        risen: dict[str, bool] = {}  # volunteer: only rose (or registered) in this batch
        for consumed in events:
            envelope = consumed.envelope
            payload = envelope.payload
            if envelope.type not in self.event_types:
                continue
            volunteer_id: str = payload["volunteer_id"]
            if envelope.type == VolunteerRegistered.event_type:
                lineage = list(self._areas.prefix_lineage_ids(payload["home_area_id"]))
                lineages[volunteer_id] = {"areas": lineage}
                risen.setdefault(volunteer_id, True)
            elif envelope.type == ServiceRecordIssued.event_type:
                minutes.append((consumed, volunteer_id, {"minutes": payload["minutes"]}, {}))
                risen[volunteer_id] = risen.get(volunteer_id, True) and payload["minutes"] >= 0
            elif envelope.type == ServiceRecordAdjusted.event_type:
                delta = payload["delta_minutes"]
                minutes.append((consumed, volunteer_id, {"minutes": delta}, {}))
                risen[volunteer_id] = risen.get(volunteer_id, True) and delta >= 0
        registered = await self.cells.set_fields(lineages)
        created = await self.cells.apply(minutes)
        if self._buffered is not None:
            self._buffered.update(risen)
            return
        if risen:
            await self._place(risen, registered, created, minutes)

    async def _place(
        self,
        risen: dict[str, bool],
        registered: set[str],
        created: dict[str, Document],
        minutes: list[Contribution],
    ) -> None:
        """Touch the boards of the volunteers' areas, unless their minutes only rose and
        still earn no star, as read after the counting above (see `Leaderboards`). A
        standing this batch created needs no read: a registration's holds no minutes; one
        counted first holds this batch's and no home yet."""
        counted = {volunteer_id for _, volunteer_id, _, _ in minutes}
        unknown = [v for v in risen if v not in created and (v not in registered or v in counted)]
        docs = list(created.values()) + await self.cells.read(unknown, {"areas": 1, "minutes": 1})
        touched: Touched = defaultdict(dict)
        for doc in docs:
            volunteer_id = doc["_id"]
            if risen[volunteer_id] and int(doc.get("minutes", 0)) < self.boards.admit:
                continue
            for area in doc.get("areas", []):
                touched[area][volunteer_id] = risen[volunteer_id]
        await self.boards.settle(touched)

    async def _figures(self, wanted: dict[str, set[str]]) -> dict[str, dict[str, Served]]:
        ids = list({v for volunteers in wanted.values() for v in volunteers})
        docs = {d["_id"]: d for d in await self.cells.read(ids, {"minutes": 1})}
        return {
            area: {v: Served(v, int(docs.get(v, {}).get("minutes", 0))) for v in volunteers}
            for area, volunteers in wanted.items()
        }

    async def star_rated(self, area_id: str, limit: int) -> tuple[dict[int, int], list[Served]]:
        """How many volunteers living in the area hold each star count, and the top ones
        (one point read)."""
        board = await self.boards.board(area_id)
        by_stars = dict.fromkeys(range(1, len(self.thresholds_hours) + 1), 0)
        for entry in board.entries:
            by_stars[self.stars(entry.minutes)] += 1
        return by_stars, list(board.entries[:limit])

    def stars(self, minutes: int) -> int:
        return star_rating(minutes, self.thresholds_hours)
