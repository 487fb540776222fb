"""A directory's pages from the document store: a query in the domain's words becomes the
store's filter here, one indexed query per page, the next page starting strictly after
the previous one's last (moment, id) key."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any, TypeVar

from muster_dispatch.application.ports import (
    ActivityQuery,
    DirectoryPages,
    DirectoryQuery,
    DriveQuery,
    SignUpStatus,
)
from muster_runtime.mongo import ASCENDING, DESCENDING, Collection, Document

Filter = dict[str, Any]
Query = TypeVar("Query", bound=DirectoryQuery)


class StoredPages(DirectoryPages[Query], ABC):
    """Pages of the documents a `listing` query selects, in its order."""

    listing: type[Query]

    def __init__(self, collection: Collection) -> None:
        self._collection = collection

    @abstractmethod
    def conditions(self, query: Query) -> list[Filter]:
        """The store's filters for what `query` asks beyond the area and the page."""

    async def create_indexes(self) -> None:
        direction = DESCENDING if self.listing.descending else ASCENDING
        keys = [("lineage", ASCENDING), (self.listing.moment, direction), ("_id", direction)]
        await self._collection.create_index(keys, name="lineage_starts")

    async def page(self, query: Query) -> list[Document]:
        moment, descending = self.listing.moment, self.listing.descending
        conditions = [{"lineage": query.area_id}, *self.conditions(query)]
        if query.after is not None:
            at, item_id = query.after
            beyond = "$lt" if descending else "$gt"
            conditions.append(
                {"$or": [{moment: {beyond: at}}, {moment: at, "_id": {beyond: item_id}}]}
            )
        direction = DESCENDING if descending else ASCENDING
        cursor = (
            self._collection.find({"$and": conditions})
            .sort([(moment, direction), ("_id", direction)])
            .limit(query.limit)
        )
        return [doc async for doc in cursor]


def within(
    field: str, starts_from: datetime | None, starts_before: datetime | None
) -> list[Filter]:
    """`field` in [starts_from, starts_before) (None: no bound on that side)."""
    bounds: dict[str, datetime] = {}
    if starts_from is not None:
        bounds["$gte"] = starts_from
    if starts_before is not None:
        bounds["$lt"] = starts_before
    return [{field: bounds}] if bounds else []


class StoredDrivePages(StoredPages[DriveQuery]):
    listing = DriveQuery

    def conditions(self, query: DriveQuery) -> list[Filter]:
        found: list[Filter] = []
        if query.status is SignUpStatus.OPEN:
            found += [{"closed": False}, {"signup_closes_at": {"$gt": query.now}}]
        elif query.status is SignUpStatus.CLOSED:
            found.append({"$or": [{"closed": True}, {"signup_closes_at": {"$lte": query.now}}]})
        if query.category is not None:
            found.append({"category": query.category})
        return found + within("activity_starts_at", query.starts_from, query.starts_before)


class StoredActivityPages(StoredPages[ActivityQuery]):
    listing = ActivityQuery

    def conditions(self, query: ActivityQuery) -> list[Filter]:
        found = within("starts_at", query.starts_from, query.starts_before)
        for name, value in (
            ("drive_id", query.drive_id),
            ("team_id", query.team_id),
            ("series_id", query.series_id),
        ):
            if value is not None:
                found.append({name: value})
        if not query.include_cancelled:
            found.append({"cancelled": False})
        return found
