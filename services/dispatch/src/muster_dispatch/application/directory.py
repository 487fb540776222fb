"""A directory: a read model of one document per stream, kept from the stream's events
once per stream version, found by area (the document's `lineage`) and listed in order of a
moment, a page at a time. A page ends at a (moment, id) key, and the next page starts
strictly after it, in the same order, however many documents arrive meanwhile."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any, ClassVar

from muster_contracts.areas import AreaTree
from muster_contracts.events.registry import DomainEvent
from muster_dispatch.application.ports import DirectoryPages
from muster_dispatch.application.ports import PageKey as PageKey
from muster_runtime.ports.versioned_documents import Document, VersionedDocuments
from muster_runtime.projections import ConsumedEvent, DocumentChange, apply_document_changes


class Directory(ABC):
    """What a directory lists: the event types it reads (`listed`), the payload field
    naming the document (`key`), and the moment it is ordered by (`moment`, `descending`)."""

    listed: ClassVar[frozenset[str]]
    key: ClassVar[str]
    moment: ClassVar[str]
    descending: ClassVar[bool] = False

    def __init__(
        self, documents: VersionedDocuments, pages: DirectoryPages, areas: AreaTree
    ) -> None:
        self.documents = documents
        self._pages = pages
        self.areas = areas

    @abstractmethod
    def document_change(self, event: DomainEvent) -> DocumentChange | None:
        """The change `event` makes to its document (None: none)."""

    async def create_indexes(self) -> None:
        order = [("lineage", False), (self.moment, self.descending), ("_id", self.descending)]
        await self.documents.ensure_index("lineage_starts", order)

    async def apply(self, events: list[ConsumedEvent]) -> None:
        await apply_document_changes(
            self.documents, events, self.listed, self.document_change, self.key
        )

    async def page(
        self, conditions: list[dict[str, Any]], limit: int, after: PageKey | None
    ) -> list[Document]:
        """Up to `limit` documents meeting every condition, in order, after `after`."""
        return await self._pages.page(conditions, self.moment, self.descending, limit, after)


def within(
    field: str, starts_from: datetime | None, starts_before: datetime | None
) -> list[dict[str, Any]]:
    """The condition that `field` lies in [starts_from, starts_before) (none: no bound)."""
    bounds: dict[str, datetime] = {}
    if starts_from is not None:
        bounds["$gte"] = starts_from
    if starts_before is not None:
        bounds["$lt"] = starts_before
    return [{field: bounds}] if bounds else []
