"""A volunteer's activities in time order from the document store: two reads served by
the `volunteer_ends` index of `MyActivities`' collection."""

from __future__ import annotations

from datetime import datetime

from muster_runtime.mongo import ASCENDING, DESCENDING, Collection, Document
from muster_volunteer.application.ports import ActivityTimetable


class StoredActivityTimetable(ActivityTimetable):
    def __init__(self, collection: Collection) -> None:
        self._collection = collection

    async def of_volunteer(
        self, volunteer_id: str, now: datetime, recent_since: datetime, limit: int
    ) -> tuple[list[Document], list[Document]]:
        upcoming = self._collection.find(
            {"volunteer_ids": volunteer_id, "ends_at": {"$gte": now}}, {"volunteer_ids": 0}
        ).sort([("starts_at", ASCENDING), ("_id", ASCENDING)])
        recent = self._collection.find(
            {"volunteer_ids": volunteer_id, "ends_at": {"$lt": now, "$gte": recent_since}},
            {"volunteer_ids": 0},
        ).sort([("ends_at", DESCENDING), ("_id", ASCENDING)])
        return (
            [doc async for doc in upcoming.limit(limit)],
            [doc async for doc in recent.limit(limit)],
        )
