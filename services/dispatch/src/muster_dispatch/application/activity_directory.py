"""The activity directory: every activity, findable by area, time, drive, team and series.

A projection of dispatch's own activity events, one document per activity, for the
organiser's list of activities (`GET /activities`). What an event changes is a pure
function (`listing_change`); applying it once per stream version is the store's part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from muster_contracts.areas import AreaTree
from muster_contracts.events.activities import (
    ActivityAmended,
    ActivityCancelled,
    ActivityScheduled,
    ActivityVolunteersAssigned,
    HoursApproved,
)
from muster_contracts.events.registry import DomainEvent
from muster_dispatch.application.directory import Directory
from muster_dispatch.application.ports import ActivityQuery
from muster_runtime.projections import DocumentChange

LISTED = frozenset(
    kind.event_type
    for kind in (
        ActivityScheduled,
        ActivityVolunteersAssigned,
        ActivityAmended,
        ActivityCancelled,
        HoursApproved,
    )
)


@dataclass(frozen=True)
class ListingChange:
    """What one event changes in its activity's listing: fields set, the count of assigned
    volunteers raised by `assigned`, and whether the event brings the listing into being."""

    fields: dict[str, Any]
    assigned: int = 0
    creates: bool = False


def listing_change(event: DomainEvent, areas: AreaTree) -> ListingChange | None:
    """The change `event` makes to its activity's listing (None: none)."""
    if isinstance(event, ActivityScheduled):
        return ListingChange(
            fields={
                "title": event.title,
                "category": event.category,
                "drive_id": event.drive_id,
                "team_id": event.team_id,
                "series_id": event.series_id,
                "occurrence": event.occurrence,
                "place_area_id": event.place_area_id,
                # By the id's prefixes: the area's own event may not be here yet.
                "lineage": list(areas.prefix_lineage_ids(event.place_area_id)),
                "starts_at": event.starts_at,
                "ends_at": event.ends_at,
                "capacity": event.capacity,
                "assigned": len(set(event.assigned_volunteer_ids)),
                "cancelled": False,
                "approved": False,
            },
            creates=True,
        )
    if isinstance(event, ActivityVolunteersAssigned):
        return ListingChange(fields={}, assigned=len(event.volunteer_ids))
    if isinstance(event, ActivityAmended):
        return ListingChange(
            fields={
                "place_area_id": event.place_area_id,
                "lineage": list(areas.prefix_lineage_ids(event.place_area_id)),
                "starts_at": event.starts_at,
                "ends_at": event.ends_at,
                "capacity": event.capacity,
            }
        )
    if isinstance(event, ActivityCancelled):
        return ListingChange(fields={"cancelled": True})
    if isinstance(event, HoursApproved):
        return ListingChange(fields={"approved": True})
    return None


class ActivityDirectory(Directory[ActivityQuery]):
    listed = LISTED
    key = "activity_id"

    def document_change(self, event: DomainEvent) -> DocumentChange | None:
        change = listing_change(event, self.areas)
        if change is None:
            return None
        return DocumentChange.setting(
            change.fields, adding={"assigned": change.assigned}, creates=change.creates
        )
