"""Counter cells in memory: for unit tests of counting rules without a store, held to the
same contract as the store's (`libs/runtime/tests/contract/test_counter_cells_contract.py`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from muster_runtime.ports.counter_cells import CellChange, CounterCells, ReadModelStore
from muster_runtime.projections import add_nested, count_above_marks


@dataclass
class _Cell:
    counts: dict[str, int] = field(default_factory=dict)
    hwm: dict[str, int] = field(default_factory=dict)


class InMemoryCounterCells(CounterCells):
    def __init__(self) -> None:
        self.cells: dict[str, _Cell] = {}

    async def add(self, changes: Sequence[CellChange]) -> None:
        for _, cell_id, _ in changes:
            self.cells.setdefault(cell_id, _Cell())
        count_above_marks([(e, c, counts, {}) for e, c, counts in changes], self.cells)

    async def read(self, cell_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for cell_id in cell_ids:
            if cell_id in self.cells:
                add_nested(out.setdefault(cell_id, {}), self.cells[cell_id].counts)
        return out


class InMemoryReadModelStore(ReadModelStore):
    def __init__(self) -> None:
        self.cells: dict[str, InMemoryCounterCells] = {}

    def counters(self, name: str, *, read_whole: bool = False) -> CounterCells:
        return self.cells.setdefault(name, InMemoryCounterCells())

    def buffer(self) -> None:
        """Memory is a buffer already."""

    async def flush(self) -> None:
        """Nothing to write."""
