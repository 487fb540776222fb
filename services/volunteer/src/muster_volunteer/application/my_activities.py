"""Each volunteer's activities and teams, for their own page (`GET /me/activities`,
`GET /me/teams`).

Activities: a projection of dispatch's activity events, one document per activity with
the volunteers assigned to it (`volunteer_ids`, indexed with the end time), so a
volunteer's activities are one indexed read. What an event changes is a pure function
(`my_activity_change`); applying it once per stream version is the store's part.
A database that predates this projection gets it by a rebuild
(`python -m muster_volunteer rebuild`). Whether the volunteer checked in or out is read from their attendance streams, which this
service writes. Teams: the team documents `TeamLeaders` keeps from dispatch's team events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from muster_contracts.events import DomainEvent
from muster_contracts.events.activities import (
    ActivityAmended,
    ActivityCancelled,
    ActivityScheduled,
    ActivityVolunteersAssigned,
)
from muster_runtime.ports.versioned_documents import Document, VersionedDocuments
from muster_runtime.projections import ConsumedEvent, DocumentChange, apply_document_changes
from muster_volunteer.application.ports import ActivityTimetable

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


def check_in_open(doc: Document, now: datetime) -> bool:
    """Whether check-in is open at `now`: from the start less the tolerance to the end."""
    tolerance = timedelta(minutes=int(doc.get("checkin_tolerance_minutes", 0)))
    return not doc.get("cancelled", False) and doc["starts_at"] - tolerance <= now <= doc["ends_at"]


class MyActivities:
    """The activities each volunteer is assigned to."""

    COLLECTION = "my_activities"

    def __init__(self, documents: VersionedDocuments, timetable: ActivityTimetable) -> None:
        self.documents = documents
        self._timetable = timetable

    async def create_indexes(self) -> None:
        await self.documents.ensure_index(
            "volunteer_ends", [("volunteer_ids", False), ("ends_at", False)]
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
        return await self._timetable.of_volunteer(volunteer_id, now, recent_since, limit)
