"""Dispatch's attendance records on the document store: the volunteers' check-ins and
check-outs (volunteer events), one document per activity."""

from __future__ import annotations

from muster_contracts.events import DomainEvent, decode_payload
from muster_contracts.events.activities import AttendanceCheckedIn, AttendanceCheckedOut
from muster_runtime.adapters.mongodb.bulk_documents import KnownIds
from muster_runtime.adapters.mongodb.versioned_documents import FoldedDocuments
from muster_runtime.mongo import Database, Document, DuplicateKeyError
from muster_runtime.projections import ConsumedEvent

ATTENDANCE_TYPES = (AttendanceCheckedIn.event_type, AttendanceCheckedOut.event_type)


class AttendanceLog(FoldedDocuments):
    """Volunteers' check-ins and check-outs, per activity and volunteer, exactly once.

    One document per activity (`_id`: the activity id) holds each volunteer's events
    and the version of their attendance stream last applied, so deciding on an activity
    reads one document by `_id` — the one lookup every store serves from its primary
    index (a query by an `activity_id` field scanned the whole log on the development
    store, twice a command). An event is applied by one update guarded by the version
    (a redelivery matches nothing); the first check-in of an activity inserts its document.
    A rebuild folds the log in memory and writes it in bulk (`buffer`, `flush`).
    """

    COLLECTION = "activity_attendance"
    # Activities whose document this process knows exists (documents are never deleted).
    KNOWN_LIMIT = 10_000

    def __init__(self, db: Database) -> None:
        super().__init__(db[self.COLLECTION])
        self._known = KnownIds(self.KNOWN_LIMIT)

    async def apply(self, events: list[ConsumedEvent]) -> None:
        for consumed in events:
            envelope = consumed.envelope
            if envelope.type not in ATTENDANCE_TYPES:
                continue
            payload = envelope.payload
            await self.record(
                payload["activity_id"],
                payload["volunteer_id"],
                envelope.stream_version,
                [{"type": envelope.type, "payload": payload}],
                create=envelope.type == AttendanceCheckedIn.event_type,
            )

    async def record(
        self,
        activity_id: str,
        volunteer_id: str,
        version: int,
        entries: list[Document],
        *,
        create: bool,
    ) -> bool:
        """Append `entries` to the volunteer's events in the activity if `version` is newer
        than the last applied; `create`: the event that starts the volunteer's attendance.

        Returns whether they were applied (False: a redelivery of an applied event)."""
        if self._buffer is not None:  # folded in memory: the same guard, in the same order
            doc = self._buffer.get(activity_id)
            if doc is None and create:
                doc = self._buffer[activity_id] = {"_id": activity_id, "volunteers": {}}
            attendance = None if doc is None else doc["volunteers"].get(volunteer_id)
            if attendance is None and doc is not None and create:
                doc["volunteers"][volunteer_id] = {"_v": version, "events": list(entries)}
                return True
            if attendance is None or attendance["_v"] >= version:
                return False
            attendance["_v"] = version
            attendance["events"].extend(entries)
            return True
        seen = f"volunteers.{volunteer_id}._v"
        newer: Document = {"$lt": version}
        guard: Document = (
            {"$or": [{seen: {"$exists": False}}, {seen: newer}]} if create else {seen: newer}
        )
        update = {
            "$set": {seen: version},
            "$push": {f"volunteers.{volunteer_id}.events": {"$each": entries}},
        }
        query = {"_id": activity_id, **guard}
        if activity_id in self._known or not create:
            if (await self.collection.update_one(query, update)).matched_count:
                return True
            if not create:
                return False
        try:
            await self.collection.insert_one(
                {
                    "_id": activity_id,
                    "volunteers": {volunteer_id: {"_v": version, "events": entries}},
                }
            )
        except DuplicateKeyError:
            self._known.add(activity_id)
            return bool((await self.collection.update_one(query, update)).matched_count)
        self._known.add(activity_id)
        return True

    async def activities_with_open_attendance(self) -> set[str]:
        """Activities where someone checked in and never out (as far as volunteers did)."""
        open_ids: set[str] = set()
        async for doc in self.collection.find({}):
            for attendance in doc.get("volunteers", {}).values():
                kinds = [e["type"] for e in attendance.get("events", [])]
                if AttendanceCheckedOut.event_type not in kinds:
                    open_ids.add(str(doc["_id"]))
        return open_ids

    async def events_of(self, activity_id: str) -> list[DomainEvent]:
        doc = await self.collection.find_one({"_id": activity_id})
        if doc is None:
            return []
        return [
            decode_payload(e["type"], 1, e["payload"])
            for attendance in doc.get("volunteers", {}).values()
            for e in attendance.get("events", [])
        ]
