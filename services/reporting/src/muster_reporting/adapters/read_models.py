"""Reporting's read models in the document store: the counter cells (packed or nested, see
`muster_runtime.adapters.mongodb.counter_cells`), the as-of histories and the funnel's
facts, each counted in memory while a rebuild builds a version from nothing and written
once by `flush`."""

from __future__ import annotations

from typing import Protocol, TypeVar

from muster_reporting.adapters.as_of_history import JOURNAL, CellHistory, HistoryWriter
from muster_reporting.adapters.funnel_facts import StoredFunnelFacts
from muster_reporting.application.ports import (
    FunnelFacts,
    History,
    HistoryWriting,
    ReportingStore,
)
from muster_runtime.adapters.mongodb.counter_cells import DocumentReadModelStore
from muster_runtime.mongo import Database

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


class _Buffered(Protocol):
    def buffer(self) -> None: ...

    async def flush(self) -> None: ...


M = TypeVar("M", bound=_Buffered)


class DocumentReportingStore(DocumentReadModelStore, ReportingStore):
    def __init__(self, db: Database, *, pack: bool = True) -> None:
        super().__init__(db, pack=pack)
        self._db = db
        self._histories: list[CellHistory] = []
        self._writer: HistoryWriter | None = None
        self._models: list[_Buffered] = []

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

    def buffer(self) -> None:
        super().buffer()
        for model in self._models:
            model.buffer()

    async def flush(self) -> None:
        await super().flush()
        for model in self._models:
            await model.flush()
