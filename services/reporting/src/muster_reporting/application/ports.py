"""What reporting's read models need from storage beyond counter cells, and nothing of how a
store keeps it.

The store (`ReportingStore`, or `CountingStore` for the read models that only count) makes every piece of storage the read models use, so it alone
decides how they are written: one batch at a time while live, or counted in memory and
written once at the end while a rebuild builds a version from nothing (`buffer`, `flush`).
`muster_reporting.adapters.read_models` is the document store's.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from muster_contracts.areas import AreaTree
from muster_contracts.stars import star_rating
from muster_reporting.application.as_of import Change
from muster_reporting.application.leaderboards import Board, Touched
from muster_reporting.application.pending_activities import PendingActivity, PendingChange
from muster_reporting.application.served_in_area import Firsts, Served, Service
from muster_runtime.ports.counter_cells import ReadModelStore
from muster_runtime.ports.versioned_documents import VersionedDocuments
from muster_runtime.projections import ConsumedEvent


class History(ABC):
    """The recorded history of one set of counter cells: figures as of a past minute."""

    @abstractmethod
    async def record(self, changes: Iterable[Change]) -> None:
        """Keep a batch's changes (all at once: an event counts once per cell's history)."""

    @abstractmethod
    async def as_of(self, cell_ids: list[str], at: datetime) -> dict[str, dict[str, Any]]:
        """The cells' counts from every change recorded before the start of `at`'s minute."""


class HistoryWriting(ABC):
    """What writes recorded history where `as_of` reads it, off the consumer's path."""

    @abstractmethod
    async def measure_backlog(self) -> None:
        """Publish how much recorded history is not written yet (`/metrics`)."""

    @abstractmethod
    async def write(self) -> int:
        """Write some of what was recorded; returns how much (0: nothing was left)."""

    @abstractmethod
    async def drain(self) -> None:
        """Write until nothing recorded is left."""

    @abstractmethod
    async def run(self, every_seconds: float = 1.0) -> None:
        """Write as history is recorded, until cancelled."""


class FunnelFacts(ABC):
    """Small documents by key (what a volunteer holds in a drive, an activity's drive).

    Between `begin` and `commit`, writes are held (and read back from there), so a batch's
    facts are stored only after its counts and their history: a redelivered batch then
    finds the facts as they were and recomputes the same changes.
    """

    @abstractmethod
    def begin(self) -> None: ...

    @abstractmethod
    async def commit(self) -> None: ...

    @abstractmethod
    async def get(self, key: str) -> dict[str, Any] | None: ...

    @abstractmethod
    async def set(self, key: str, fields: Mapping[str, Any], *, now: bool = False) -> None:
        """Set `fields`; `now` stores them at once even inside a batch."""

    @abstractmethod
    async def add_to_set(self, key: str, field: str, value: str) -> None: ...


class CountingStore(ReadModelStore):
    """Counter cells with their history, and the funnel's facts: what the registrations'
    rollup and the drive funnel keep."""

    @abstractmethod
    def history(self, name: str) -> History:
        """The history of the counter cells `name`."""

    @abstractmethod
    def history_writer(self) -> HistoryWriting:
        """What writes the histories this store made so far (make them first)."""

    @abstractmethod
    def funnel_facts(self, name: str) -> FunnelFacts: ...


class ReportingStore(CountingStore):
    """Every piece of storage reporting's read models use, made by one store."""

    @abstractmethod
    def activity_facts(self) -> VersionedDocuments:
        """What the service rollup keeps per activity (place, day, category, counts so far),
        changed once per version of the activity's stream."""

    @abstractmethod
    def pending_lists(self) -> PendingLists: ...

    @abstractmethod
    def served_in_area(self) -> ServedInArea:
        """Who served where (one per store: the volunteer boards rank its figures)."""

    @abstractmethod
    def volunteer_boards(self, *, capacity: int, shown: int) -> Boards:
        """The top-volunteer boards of every (area, period) cell, ranked by the figures of
        `served_in_area`."""

    @abstractmethod
    def standing(self, areas: AreaTree, thresholds_hours: tuple[int, ...]) -> Standing: ...


class PendingLists(ABC):
    """Per area, the activities pending beneath it (`application.pending_activities`)."""

    @abstractmethod
    async def apply(self, changes: Sequence[PendingChange]) -> None:
        """Apply each change once per event, however often it is applied."""

    @abstractmethod
    async def of_area(self, area_id: str) -> list[PendingActivity]: ...


class ServedInArea(ABC):
    """Per (area, volunteer): minutes and turn-outs of every period, and the memberships that
    count the volunteer once among a cell's unique volunteers (`application.served_in_area`)."""

    @abstractmethod
    async def create_indexes(self) -> None: ...

    @abstractmethod
    async def apply(
        self, services: list[Service]
    ) -> tuple[dict[int, Firsts], dict[str, dict[str, Served]]]:
        """Count `services` and settle their memberships, as if one after the other: the
        memberships each service's event holds (by index), and the figures of what this call
        created (cell → volunteer → figures)."""

    @abstractmethod
    async def figures(self, wanted: dict[str, set[str]]) -> dict[str, dict[str, Served]]:
        """Cell → volunteer → figures, read now."""

    @abstractmethod
    async def everyone(self, cell: str) -> list[Served]:
        """Every volunteer with minutes in the cell."""


class Boards(ABC):
    """Ranked boards, one per cell, kept exact as figures change (`application.leaderboards`)."""

    @abstractmethod
    async def board(self, cell: str) -> Board: ...

    @abstractmethod
    async def prepare(self, cells: Iterable[str]) -> set[str]:
        """Know the cells' boards before any figure is read for them."""

    @abstractmethod
    async def settle(
        self, touched: Touched, known: Mapping[str, Mapping[str, Served]] | None = None
    ) -> None:
        """Place the touched volunteers on their cells' boards."""


class Standing(ABC):
    """Each volunteer's cumulative approved minutes and home areas, and the star boards of
    the areas they live in."""

    event_types: frozenset[str]
    thresholds_hours: tuple[int, ...]

    @abstractmethod
    async def apply(self, events: list[ConsumedEvent]) -> None: ...

    @abstractmethod
    async def star_board(self, area_id: str) -> Board:
        """Every volunteer living in the area whose minutes earn a star, ranked."""

    async def star_rated(self, area_id: str, limit: int) -> tuple[dict[int, int], list[Served]]:
        """How many volunteers living in the area hold each star count, and the top ones."""
        board = await self.star_board(area_id)
        by_stars = dict.fromkeys(range(1, len(self.thresholds_hours) + 1), 0)
        for entry in board.entries:
            by_stars[self.stars(entry.minutes)] += 1
        return by_stars, list(board.entries[:limit])

    def stars(self, minutes: int) -> int:
        return star_rating(minutes, self.thresholds_hours)

    @property
    def first_star_minutes(self) -> int:
        """The minutes that earn the first star: what puts a volunteer on a star board."""
        return self.thresholds_hours[0] * 60
