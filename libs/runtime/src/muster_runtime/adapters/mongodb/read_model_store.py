"""Counter cells in the document store, with the development store's tuning as options.

On FerretDB (SQLite), cells read only whole are packed into one compressed value and
rewritten guarded by their version (`projections.PackedCounters`): far cheaper there than
`$inc` on many nested counts. `pack=False` keeps every cell as nested counts updated in
place (`projections.CounterCells`: `$inc` guarded by the cell's marks), the plain form
MongoDB serves well.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from muster_runtime.adapters.mongodb.counter_cells import CounterCells as NestedCells
from muster_runtime.adapters.mongodb.counter_cells import PackedCounters
from muster_runtime.mongo import Database
from muster_runtime.ports.counter_cells import CellChange, CounterCells, ReadModelStore


class StoredCounterCells(CounterCells):
    def __init__(self, cells: NestedCells | PackedCounters) -> None:
        self._cells = cells

    async def add(self, changes: Sequence[CellChange]) -> None:
        if changes:
            await self._cells.apply([(event, cell, counts, {}) for event, cell, counts in changes])

    async def read(self, cell_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        if isinstance(self._cells, PackedCounters):
            return {c: cell.nested() for c, cell in (await self._cells.read(cell_ids)).items()}
        found = await self._cells.read(list(cell_ids), {"hwm": 0})
        return {d.pop("_id"): d for d in found}


class DocumentReadModelStore(ReadModelStore):
    """One collection per named set of cells in `db`; `pack`: cells read only whole are
    packed (the development store's setting), else every cell keeps nested counts."""

    def __init__(self, db: Database, *, pack: bool = True) -> None:
        self._db = db
        self._pack = pack
        self._cells: list[NestedCells | PackedCounters] = []
        self._buffering = False

    def counters(self, name: str, *, read_whole: bool = False) -> CounterCells:
        collection = self._db[name]
        cells = PackedCounters(collection) if read_whole and self._pack else NestedCells(collection)
        if self._buffering:
            cells.buffer()
        self._cells.append(cells)
        return StoredCounterCells(cells)

    def buffer(self) -> None:
        self._buffering = True
        for cells in self._cells:
            cells.buffer()

    async def flush(self) -> None:
        self._buffering = False
        for cells in self._cells:
            await cells.flush()
