"""The counter-cell port: "add these counts to these cells, once per event", and read them.

Read models that count (reporting's rollups, funnels, standings) say what an event adds to
which cells; whether a store packs a cell into one compressed value, guards it by its
version, or counts a rebuild in memory until it writes every document at once is the
adapter's business (`adapters.mongodb.read_model_store`, `adapters.memory.counter_cells`).

Invariants every adapter keeps (the contract suite checks them on each):
- an event counts at most once per cell, however often it is added (redelivery, replays,
  several writers): cells keep a high-water mark per source, and an event at or below it
  adds nothing;
- an event's several changes to one cell in one `add` all count;
- a cell reads back as nested documents (`children.a.minutes` as `{"children": {"a":
  {"minutes": …}}}`), and a cell nothing was added to does not exist;
- between `ReadModelStore.buffer` and `flush` the counting happens in memory, and after
  `flush` the cells read exactly as counting them one `add` at a time would have left them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, Protocol


class Position(Protocol):
    """Where a counted event was read: all a counter cell needs to count it once."""

    @property
    def source(self) -> str: ...

    @property
    def offset(self) -> int: ...


# (where the event was read, cell id, counts to add by dotted name)
CellChange = tuple[Position, str, Mapping[str, int]]


class CounterCells(ABC):
    """Counts in shared cells (an area, an area's period, a drive), each event counted at
    most once per cell however often it is applied."""

    @abstractmethod
    async def add(self, changes: Sequence[CellChange]) -> None:
        """Add each change's counts to its cell, unless the cell counted its event before."""

    @abstractmethod
    async def read(self, cell_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The cells among `cell_ids` that exist, each its counts as nested documents."""


class ReadModelStore(ABC):
    """Where read models keep their counter cells, and how they are written: one `add` at a
    time (live), or counted in memory and written once (`buffer` … `flush`, a rebuild).

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
