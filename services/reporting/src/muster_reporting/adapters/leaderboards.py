"""Ranked boards in the document store, one document per cell, kept exact as figures change
(see `application/leaderboards.py` for the rule)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Any

from muster_contracts.areas import AreaTree
from muster_reporting.application.leaderboards import (
    Board,
    FiguresReader,
    Touched,
    place,
    ranked,
)
from muster_reporting.application.ports import Boards, Standing
from muster_reporting.application.served_in_area import Served
from muster_reporting.domain.standing import STANDING_EVENT_TYPES, standing_change
from muster_runtime.adapters.mongodb.bulk_documents import insert_in_chunks
from muster_runtime.adapters.mongodb.counter_cells import CounterCells
from muster_runtime.mongo import Database, Document, DuplicateKeyError, insert_absent
from muster_runtime.projections import ConsumedEvent, Contribution


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


class Leaderboards(Boards):
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


# Volunteers' standings per read when a rebuild derives the star boards (one `$in` query).
READ_CHUNK = 500


class VolunteerStanding(Standing):
    """Each volunteer's cumulative approved minutes and home-area lineage, and the star
    boards of the areas they live in.

    Registrations and service records arrive on different topics, in either order: the
    lineage is set whenever the registration comes, the minutes are counted as they come,
    and whichever comes last puts the volunteer on the boards of their areas.
    """

    event_types = STANDING_EVENT_TYPES

    def __init__(self, db: Database, areas: AreaTree, thresholds_hours: tuple[int, ...]) -> None:
        self.cells = CounterCells(db["volunteer_standing"])
        self.thresholds_hours = thresholds_hours
        self._areas = areas
        self.boards = Leaderboards(
            db["volunteer_star_boards"],
            self._figures,
            capacity=None,
            admit=self.first_star_minutes,
            shown=0,
        )
        self._buffered: set[str] | None = None  # volunteers seen while buffering

    def buffer(self) -> None:
        self.cells.buffer()
        self.boards.buffer()
        self._buffered = set()

    async def flush(self) -> None:
        if self._buffered is not None:
            volunteers, self._buffered = list(self._buffered), None
            if self.cells.spilled:  # not all in memory: the cells written whole, then read
                await self.cells.flush()
            by_area: dict[str, list[Served]] = defaultdict(list)
            for start in range(0, len(volunteers), READ_CHUNK):
                part = volunteers[start : start + READ_CHUNK]
                for doc in await self.cells.read(part, {"areas": 1, "minutes": 1}):
                    for area in doc.get("areas", []):
                        by_area[area].append(Served(doc["_id"], int(doc.get("minutes", 0))))
            await self.boards.flush(by_area.items())
        await self.cells.flush()

    async def apply(self, events: list[ConsumedEvent]) -> None:
        minutes: list[Contribution] = []
        lineages: dict[str, dict[str, Any]] = {}
        risen: dict[str, bool] = {}  # volunteer: only rose (or registered) in this batch
        for consumed in events:
            envelope = consumed.envelope
            change = standing_change(envelope.type, envelope.payload)
            if change is None:
                continue
            volunteer_id = change.volunteer_id
            if change.home_area_id is not None:
                lineage = list(self._areas.prefix_lineage_ids(change.home_area_id))
                lineages[volunteer_id] = {"areas": lineage}
                risen.setdefault(volunteer_id, True)
            elif change.minutes is not None:
                minutes.append((consumed, volunteer_id, {"minutes": change.minutes}, {}))
                risen[volunteer_id] = risen.get(volunteer_id, True) and change.rises
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

    async def star_board(self, area_id: str) -> Board:
        """The area's star board (one point read)."""
        return await self.boards.board(area_id)
