"""Each volunteer's activities and teams, for their own page (`GET /me/activities`,
`GET /me/teams`).

Activities: a projection of dispatch's activity events, one document per activity with
the volunteers assigned to it (`volunteer_ids`, indexed with the end time), so a
volunteer's activities are one indexed read. What an event changes is a pure function
(`my_activity_change`); applying it once per stream version is the store's part.
Activities the board kept before this projection existed are added once, at the first
start (`fill_once`). Whether the volunteer checked in or out is read from their attendance streams, which this
service writes. Teams: the team documents `TeamLeaders` keeps from dispatch's team events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from muster_contracts.events import DomainEvent, decode_payload
from muster_contracts.events.activities import (
    ActivityAmended,
    ActivityCancelled,
    ActivityScheduled,
    ActivityVolunteersAssigned,
)
from muster_runtime.mongo import ASCENDING, Database, Document, insert_absent
from muster_runtime.projections import (
    ConsumedEvent,
    DocumentChange,
    VersionedDocuments,
    apply_document_changes,
)
from muster_volunteer.application.attendance import ActivityBoard

FILL = "my_activities"  # its mark in `projection_fills` once filled from the activity board
MY_ACTIVITY_EVENTS = frozenset(
    kind.event_type
    for kind in (
        ActivityScheduled,
        ActivityVolunteersAssigned,
        ActivityAmended,
        ActivityCancelled,
    )
)


@dataclass(frozen=True)
class MyActivityChange:
    """What one event changes of an activity as its volunteers see it: fields set, the
    volunteers newly assigned, and whether the event brings the activity into being."""

    fields: dict[str, Any]
    assigned: tuple[str, ...] = ()
    creates: bool = False


def _time_and_place(event: ActivityScheduled | ActivityAmended) -> dict[str, Any]:
    """The fields an amendment replaces of what scheduling set."""
    return {
        "place_area_id": event.place_area_id,
        "starts_at": event.starts_at,
        "ends_at": event.ends_at,
    }


def my_activity_change(event: DomainEvent) -> MyActivityChange | None:
    """The change `event` makes to its activity on its volunteers' pages (None: none)."""
    if isinstance(event, ActivityScheduled):
        return MyActivityChange(
            fields={
                "title": event.title,
                "drive_id": event.drive_id,
                "team_id": event.team_id,
                **_time_and_place(event),
                "checkin_tolerance_minutes": event.checkin_tolerance_minutes,
                "cancelled": False,
                "cancel_reason": None,
            },
            assigned=tuple(dict.fromkeys(event.assigned_volunteer_ids)),
            creates=True,
        )
    if isinstance(event, ActivityVolunteersAssigned):
        return MyActivityChange(fields={}, assigned=tuple(dict.fromkeys(event.volunteer_ids)))
    if isinstance(event, ActivityAmended):
        return MyActivityChange(fields=_time_and_place(event))
    if isinstance(event, ActivityCancelled):
        return MyActivityChange(fields={"cancelled": True, "cancel_reason": event.reason})
    return None


def document_change(event: DomainEvent) -> DocumentChange | None:
    """The store's update for `event`: a creating event sets the volunteers outright."""
    change = my_activity_change(event)
    if change is None:
        return None
    if change.creates:
        fields = {**change.fields, "volunteer_ids": list(change.assigned)}
        return DocumentChange({"$set": fields}, creates=True)
    update: dict[str, Any] = {}
    if change.fields:
        update["$set"] = change.fields
    if change.assigned:
        update["$addToSet"] = {"volunteer_ids": {"$each": list(change.assigned)}}
    return DocumentChange(update)


def folded(events: Iterable[DomainEvent]) -> Document | None:
    """The document an activity's events leave, folded at once (None: not scheduled)."""
    doc: Document | None = None
    for event in events:
        change = my_activity_change(event)
        if change is None:
            continue
        if change.creates:
            doc = {**change.fields, "volunteer_ids": list(change.assigned)}
        elif doc is not None:
            assigned = dict.fromkeys([*doc["volunteer_ids"], *change.assigned])
            doc |= change.fields | {"volunteer_ids": list(assigned)}
    return doc


def check_in_open(doc: Document, now: datetime) -> bool:
    """Whether check-in is open at `now`: from the start less the tolerance to the end."""
    tolerance = timedelta(minutes=int(doc.get("checkin_tolerance_minutes", 0)))
    return not doc.get("cancelled", False) and doc["starts_at"] - tolerance <= now <= doc["ends_at"]


class MyActivities:
    """The activities each volunteer is assigned to."""

    def __init__(self, db: Database) -> None:
        self.documents = VersionedDocuments(db["my_activities"])
        self._fills = db["projection_fills"]

    async def fill_once(self, board: ActivityBoard) -> int:
        """Once per database: add the activities `board` kept before this projection
        existed (each as its kept events leave it, at the board's version; one applied
        live meanwhile is left as it is). Returns how many were added."""
        if await self._fills.find_one({"_id": FILL}) is not None:
            return 0
        added = 0
        async for kept in board.activities.collection.find({}):
            doc = folded(decode_payload(e["type"], 1, e["payload"]) for e in kept.get("events", []))
            if doc is None:
                continue
            row = {"_id": kept["_id"], "_v": kept["_v"], **doc}
            added += not await insert_absent(self.documents.collection, [row])
        await insert_absent(self._fills, [{"_id": FILL, "added": added}])
        return added

    async def create_indexes(self) -> None:
        await self.documents.collection.create_index(
            [("volunteer_ids", ASCENDING), ("ends_at", ASCENDING)], name="volunteer_ends"
        )

    async def apply(self, events: list[ConsumedEvent]) -> None:
        await apply_document_changes(
            self.documents, events, MY_ACTIVITY_EVENTS, document_change, "activity_id"
        )

    async def of_volunteer(
        self, volunteer_id: str, now: datetime, recent_since: datetime, limit: int
    ) -> tuple[list[Document], list[Document]]:
        """Up to `limit` activities not yet ended (soonest first) and up to `limit` that
        ended since `recent_since` (latest first)."""
        collection = self.documents.collection
        upcoming = collection.find(
            {"volunteer_ids": volunteer_id, "ends_at": {"$gte": now}}, {"volunteer_ids": 0}
        ).sort([("starts_at", ASCENDING), ("_id", ASCENDING)])
        recent = collection.find(
            {"volunteer_ids": volunteer_id, "ends_at": {"$lt": now, "$gte": recent_since}},
            {"volunteer_ids": 0},
        ).sort([("ends_at", -1), ("_id", ASCENDING)])
        return (
            [doc async for doc in upcoming.limit(limit)],
            [doc async for doc in recent.limit(limit)],
        )
