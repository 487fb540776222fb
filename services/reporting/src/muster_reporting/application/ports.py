"""What reporting's projections need from storage, and nothing of how a store keeps it.

A projection says "add these counts to these cells, once per event" and "read these cells";
whether a store packs a cell into one compressed value, guards it by its version or counts
a rebuild in memory until it writes every document at once is the adapter's business
(`adapters/counter_store.py` for the document store, `adapters/memory_counters.py` in
memory).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from muster_runtime.projections import Position

# (where the event was read, cell id, counts to add by dotted name)
CellChange = tuple[Position, str, Mapping[str, int]]


class CounterCells(ABC):
    """Counts in shared cells (an area, an area's period), each event counted at most
    once per cell however often it is applied (redelivery, replays, several writers)."""

    @abstractmethod
    async def add(self, changes: Sequence[CellChange]) -> None:
        """Add each change's counts to its cell, unless the cell counted its event before."""

    @abstractmethod
    async def read(self, cell_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The cells among `cell_ids` that exist, each its counts as nested documents
        (`children.<id>.minutes` as `{"children": {id: {"minutes": …}}}`)."""


class ReadModelStore(ABC):
    """Where the read models keep their cells.

    `read_whole`: the cells are only ever read whole, by id (never queried inside), which
    lets a store keep them in whatever form is cheapest for it.
    """

    @abstractmethod
    def counters(self, name: str, *, read_whole: bool = False) -> CounterCells: ...

    @abstractmethod
    def buffer(self) -> None:
        """Count in memory from now on (a version built from nothing) until `flush`."""

    @abstractmethod
    async def flush(self) -> None:
        """Write what was counted in memory, each document once."""
