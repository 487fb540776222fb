"""A directory: a read model of one document per stream, kept from the stream's events
once per stream version, found by area (the document's `lineage`) and listed in order of a
moment, a page at a time. A page ends at a (moment, id) key, and the next page starts
strictly after it, in the same order, however many documents arrive meanwhile."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Generic, TypeVar

from muster_contracts.areas import AreaTree
from muster_contracts.events.registry import DomainEvent
from muster_dispatch.application.ports import DirectoryPages, DirectoryQuery
from muster_runtime.ports.versioned_documents import Document, VersionedDocuments
from muster_runtime.projections import ConsumedEvent, DocumentChange, apply_document_changes

Query = TypeVar("Query", bound=DirectoryQuery)


class Directory(ABC, Generic[Query]):
    """What a directory lists: the event types it reads (`listed`) and the payload field
    naming the document (`key`); what a page holds and in which order, its `Query` says."""

    listed: ClassVar[frozenset[str]]
    key: ClassVar[str]

    def __init__(
        self, documents: VersionedDocuments, pages: DirectoryPages[Query], areas: AreaTree
    ) -> None:
        self.documents = documents
        self._pages = pages
        self.areas = areas

    @abstractmethod
    def document_change(self, event: DomainEvent) -> DocumentChange | None:
        """The change `event` makes to its document (None: none)."""

    async def create_indexes(self) -> None:
        await self._pages.create_indexes()

    async def apply(self, events: list[ConsumedEvent]) -> None:
        await apply_document_changes(
            self.documents, events, self.listed, self.document_change, self.key
        )

    async def find(self, query: Query) -> list[Document]:
        """The page of documents `query` asks for."""
        return await self._pages.page(query)
