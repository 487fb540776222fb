"""Reporting's read models in the document store: the counter cells (packed or nested, see
`muster_runtime.adapters.mongodb.read_model_store`), the as-of histories and the funnel's
facts, each counted in memory while a rebuild builds a version from nothing and written
once by `flush`."""

from __future__ import annotations

from collections import defaultdict
from typing import TypeVar

from muster_contracts.areas import AreaTree
from muster_reporting.adapters.as_of_history import JOURNAL, CellHistory, HistoryWriter
from muster_reporting.adapters.funnel_facts import StoredFunnelFacts
from muster_reporting.adapters.leaderboards import Leaderboards, VolunteerStanding
from muster_reporting.adapters.pending_lists import PendingActivities
from muster_reporting.adapters.served_in_area import ServedInAreaDocuments
from muster_reporting.application.insights import Insights
from muster_reporting.application.leaderboards import contenders
from muster_reporting.application.ports import (
    Boards,
    FunnelFacts,
    History,
    HistoryWriting,
    PendingLists,
    ReportingStore,
    ServedInArea,
    Standing,
)
from muster_reporting.application.served_in_area import Served
from muster_runtime.adapters.mongodb.read_model_store import DocumentReadModelStore
from muster_runtime.adapters.mongodb.service_rebuild import Buffering
from muster_runtime.adapters.mongodb.versioned_documents import StoredVersionedDocuments
from muster_runtime.mongo import Database
from muster_runtime.ports.versioned_documents import VersionedDocuments
from muster_runtime.projections import ConsumedEvent

# Collections derived from the log besides the rollup cells themselves.
INSIGHT_READ_MODELS = (
    JOURNAL,
    "volunteers_by_area_buckets",
    "service_by_area_buckets",
    "service_volunteers",
    "service_volunteer_boards",
    "volunteer_standing",
    "volunteer_star_boards",
    # Retired (one document per (area, period, volunteer) before `service_volunteers`
    # folded the periods): a rebuild drops what an older version left.
    "service_volunteer_firsts",
    "service_volunteer_hours",
)


M = TypeVar("M", bound=Buffering)


class _RankedOnce:
    """A rebuild's boards: each derived once, at the end, from every volunteer's final
    figures (read from who-served-where's memory before that is written; from the store,
    once written, when a rebuild written in parts holds only its last part)."""

    def __init__(self, boards: Leaderboards, served: ServedInAreaDocuments) -> None:
        self._boards = boards
        self._served = served

    def buffer(self) -> None:
        self._boards.buffer()

    async def flush(self) -> None:
        if not self._served.spilled:
            await self._boards.flush(self._served.buffered())
            return
        await self._served.flush()
        capacity, admit = self._boards.capacity, self._boards.admit
        # Each cell's contenders only, trimmed as they come: never every volunteer's
        # figures in memory at once.
        bound = None if capacity is None else 2 * (capacity + 1)
        cells: dict[str, list[Served]] = defaultdict(list)
        async for cell, served in self._served.stored():
            if served.minutes < admit:
                continue
            kept = cells[cell]
            kept.append(served)
            if bound is not None and len(kept) > bound:
                cells[cell] = contenders(kept, capacity, admit)
        await self._boards.flush(cells.items())


class DocumentReportingStore(DocumentReadModelStore, ReportingStore):
    def __init__(self, db: Database, *, pack: bool = True) -> None:
        super().__init__(db, pack=pack)
        self._db = db
        self._histories: list[CellHistory] = []
        self._writer: HistoryWriter | None = None
        self._models: list[Buffering] = []
        self._served: ServedInAreaDocuments | None = None

    def _made(self, model: M) -> M:
        if self._buffering:
            model.buffer()
        self._models.append(model)
        return model

    def history(self, name: str) -> History:
        history = self._made(CellHistory(self._db, name))
        self._histories.append(history)
        return history

    def history_writer(self) -> HistoryWriting:
        if self._writer is None:
            self._writer = HistoryWriter(self._histories)
        return self._writer

    def funnel_facts(self, name: str) -> FunnelFacts:
        return self._made(StoredFunnelFacts(self._db[name]))

    def activity_facts(self) -> VersionedDocuments:
        return self._made(StoredVersionedDocuments(self._db["activity_facts"]))

    def pending_lists(self) -> PendingLists:
        return self._made(PendingActivities(self._db))

    def served_in_area(self) -> ServedInArea:
        return self._served_documents()

    def _served_documents(self) -> ServedInAreaDocuments:
        if self._served is None:
            self._served = self._made(ServedInAreaDocuments(self._db))
        return self._served

    def volunteer_boards(self, *, capacity: int, shown: int) -> Boards:
        served = self._served_documents()
        boards = Leaderboards(
            self._db["service_volunteer_boards"],
            served.figures,
            capacity=capacity,
            admit=1,
            shown=shown,
            everyone=served.everyone,
        )
        # Derived before who-served-where writes (and forgets) what it counted in memory.
        ranked = _RankedOnce(boards, served)
        if self._buffering:
            ranked.buffer()
        self._models.insert(self._models.index(served), ranked)
        return boards

    def standing(self, areas: AreaTree, thresholds_hours: tuple[int, ...]) -> Standing:
        return self._made(VolunteerStanding(self._db, areas, thresholds_hours))

    def buffer(self) -> None:
        super().buffer()
        for model in self._models:
            model.buffer()

    async def flush(self) -> None:
        await super().flush()
        for model in self._models:
            await model.flush()


class RebuiltInsights:
    """Reporting's read models as a rebuild drives them (`online_rebuild.ReadModels`): events
    replayed through `Insights`, counted in memory by its store and written once."""

    def __init__(self, insights: Insights) -> None:
        self.insights = insights

    @property
    def event_types(self) -> frozenset[str]:
        return self.insights.event_types

    async def apply(self, events: list[ConsumedEvent]) -> None:
        await self.insights.apply(events)

    def buffer(self) -> None:
        self.insights.store.buffer()

    async def flush(self) -> None:
        await self.insights.store.flush()

    async def settle(self) -> None:
        await self.insights.settle()
