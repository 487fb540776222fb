"""A directory's pages from documents held in memory (tests, and what the store's pages
are checked against): the directory's documents of the area, filtered, sorted and cut
as the query asks."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from typing import TypeVar

from muster_dispatch.application.drive_directory import sign_up_status
from muster_dispatch.application.ports import (
    ActivityQuery,
    DirectoryPages,
    DirectoryQuery,
    DriveQuery,
)
from muster_runtime.ports.versioned_documents import Document, VersionedDocuments

Query = TypeVar("Query", bound=DirectoryQuery)


class MemoryPages(DirectoryPages[Query], ABC):
    """Pages of the documents a `listing` query selects, read from `documents`."""

    listing: type[Query]

    def __init__(self, documents: VersionedDocuments) -> None:
        self._documents = documents

    @abstractmethod
    def selects(self, query: Query, document: Document) -> bool:
        """Whether `query` asks for `document` (beyond its area and the page)."""

    async def create_indexes(self) -> None:
        pass

    async def page(self, query: Query) -> list[Document]:
        moment, descending = self.listing.moment, self.listing.descending

        def key(document: Document) -> tuple[datetime, str]:
            return document[moment], document["_id"]

        found = [
            document
            for document in await self._documents.matching({"lineage": query.area_id})
            if self.selects(query, document)
        ]
        found.sort(key=key, reverse=descending)
        if query.after is not None:
            after = query.after
            found = [d for d in found if (key(d) < after if descending else key(d) > after)]
        return found[: query.limit]


def within(moment: datetime, starts_from: datetime | None, starts_before: datetime | None) -> bool:
    """Whether `moment` lies in [starts_from, starts_before) (None: no bound on that side)."""
    return (starts_from is None or starts_from <= moment) and (
        starts_before is None or moment < starts_before
    )


class MemoryDrivePages(MemoryPages[DriveQuery]):
    listing = DriveQuery

    def selects(self, query: DriveQuery, document: Document) -> bool:
        return (
            (query.status is None or sign_up_status(document, query.now) is query.status)
            and (query.category is None or document["category"] == query.category)
            and within(document["activity_starts_at"], query.starts_from, query.starts_before)
        )


class MemoryActivityPages(MemoryPages[ActivityQuery]):
    listing = ActivityQuery

    def selects(self, query: ActivityQuery, document: Document) -> bool:
        wanted = {
            "drive_id": query.drive_id,
            "team_id": query.team_id,
            "series_id": query.series_id,
        }
        return (
            within(document["starts_at"], query.starts_from, query.starts_before)
            and all(value is None or document.get(name) == value for name, value in wanted.items())
            and (query.include_cancelled or not document["cancelled"])
        )
