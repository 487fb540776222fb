"""The drive directory: every drive, findable by area, sign-up status, category and time.

A projection of dispatch's own drive events, one document per drive, for the organiser's
list of drives (`GET /drives`). What an event changes is a pure function
(`drive_listing_change`); applying it once per stream version is the store's part, as for
the activity directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from muster_contracts.areas import AreaTree
from muster_contracts.events.drives import DriveAmended, DriveClosed, DriveLaunched
from muster_contracts.events.registry import DomainEvent
from muster_dispatch.application.keyset import PageKey, after_key, key_order
from muster_runtime.mongo import ASCENDING, DESCENDING, Collection, Document
from muster_runtime.projections import (
    ConsumedEvent,
    DocumentChange,
    VersionedDocuments,
    apply_document_changes,
)

LISTED = frozenset(kind.event_type for kind in (DriveLaunched, DriveAmended, DriveClosed))


class SignUpStatus(StrEnum):
    """Whether a drive takes sign-ups: `open` until the organiser closes it or its sign-up
    deadline passes, `closed` after."""

    OPEN = "open"
    CLOSED = "closed"


def drive_listing_change(event: DomainEvent, areas: AreaTree) -> DocumentChange | None:
    """The change `event` makes to its drive's listing (None: none)."""
    if isinstance(event, DriveLaunched):
        fields = {
            "title": event.title,
            "category": event.category.value,
            "organiser": event.organiser,
            "scope_area_id": event.scope_area_id,
            # By the id's prefixes: the area's own event may not be here yet.
            "lineage": list(areas.prefix_lineage_ids(event.scope_area_id)),
            "signup_closes_at": event.signup_closes_at,
            "activity_starts_at": event.activity_starts_at,
            "activity_ends_at": event.activity_ends_at,
            "closed": False,
        }
        return DocumentChange({"$set": fields}, creates=True)
    if isinstance(event, DriveAmended):
        # Head-counts and team sizes are the drive's own (`GET /drives/{id}`), not listed.
        if event.signup_closes_at is None:
            return None
        return DocumentChange({"$set": {"signup_closes_at": event.signup_closes_at}})
    if isinstance(event, DriveClosed):
        return DocumentChange({"$set": {"closed": True}})
    return None


@dataclass(frozen=True)
class DriveQuery:
    """Which drives to list: inside `area_id`, by sign-up status at `now`, of a category,
    their activity starting in [starts_from, starts_before)."""

    area_id: str
    now: datetime
    status: SignUpStatus | None = None
    category: str | None = None
    starts_from: datetime | None = None
    starts_before: datetime | None = None


class DriveDirectory:
    def __init__(self, collection: Collection, areas: AreaTree) -> None:
        self.documents = VersionedDocuments(collection)
        self._areas = areas

    async def create_indexes(self) -> None:
        await self.documents.collection.create_index(
            [("lineage", ASCENDING), ("activity_starts_at", DESCENDING), ("_id", DESCENDING)],
            name="lineage_starts",
        )

    async def apply(self, events: list[ConsumedEvent]) -> None:
        await apply_document_changes(
            self.documents, events, LISTED, self._document_change, "drive_id"
        )

    def _document_change(self, event: DomainEvent) -> DocumentChange | None:
        return drive_listing_change(event, self._areas)

    async def find(
        self, query: DriveQuery, limit: int, after: PageKey | None = None
    ) -> list[Document]:
        """Up to `limit` drives, the latest activity start first (then id), after `after`."""
        conditions: list[dict[str, Any]] = [{"lineage": query.area_id}]
        if query.status is SignUpStatus.OPEN:
            conditions += [{"closed": False}, {"signup_closes_at": {"$gt": query.now}}]
        elif query.status is SignUpStatus.CLOSED:
            conditions.append(
                {"$or": [{"closed": True}, {"signup_closes_at": {"$lte": query.now}}]}
            )
        if query.category is not None:
            conditions.append({"category": query.category})
        starts: dict[str, datetime] = {}
        if query.starts_from is not None:
            starts["$gte"] = query.starts_from
        if query.starts_before is not None:
            starts["$lt"] = query.starts_before
        if starts:
            conditions.append({"activity_starts_at": starts})
        if after is not None:
            conditions.append(after_key("activity_starts_at", after, descending=True))
        cursor = (
            self.documents.collection.find({"$and": conditions})
            .sort(key_order("activity_starts_at", descending=True))
            .limit(limit)
        )
        return [doc async for doc in cursor]


def sign_up_status(document: Document, now: datetime) -> SignUpStatus:
    """The status a listed drive has at `now` (what `DriveQuery.status` selects by)."""
    if document["closed"] or document["signup_closes_at"] <= now:
        return SignUpStatus.CLOSED
    return SignUpStatus.OPEN
