"""Each volunteer's one open attendance on the document store: one document per volunteer
(`_id`: the volunteer id), so a check-in's claim is one insert the unique `_id` proves, and
the claims of concurrent check-ins are written together (`GroupInserts`: the development
store inserts about 600 documents a second one at a time, many times that in a batch)."""

from __future__ import annotations

from pymongo.errors import DuplicateKeyError

from muster_runtime.adapters.mongodb.group_inserts import GroupInserts
from muster_runtime.mongo import Database


class StoredOpenAttendances:
    def __init__(self, db: Database) -> None:
        self._open = db["open_attendances"]
        self._inserts = GroupInserts(self._open)

    async def claim(self, volunteer_id: str, activity_id: str) -> bool:
        try:
            await self._inserts.insert({"_id": volunteer_id, "activity_id": activity_id})
        except DuplicateKeyError:
            return False
        return True

    async def activity_of(self, volunteer_id: str) -> str | None:
        doc = await self._open.find_one({"_id": volunteer_id})
        return None if doc is None else str(doc["activity_id"])

    async def record(self, volunteer_id: str, activity_id: str) -> None:
        await self._open.update_one(
            {"_id": volunteer_id}, {"$set": {"activity_id": activity_id}}, upsert=True
        )

    async def release(self, volunteer_id: str, activity_id: str) -> None:
        await self._open.delete_one({"_id": volunteer_id, "activity_id": activity_id})
