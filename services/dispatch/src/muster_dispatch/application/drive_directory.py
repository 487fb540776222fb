"""The drive directory: every drive, findable by area, sign-up status, category and time.

A projection of dispatch's own drive events, one document per drive, for the organiser's
list of drives (`GET /drives`). What an event changes is a pure function
(`drive_listing_change`); applying it once per stream version is the store's part, as for
the activity directory.
"""

from __future__ import annotations

from datetime import datetime

from muster_contracts.areas import AreaTree
from muster_contracts.events.drives import DriveAmended, DriveClosed, DriveLaunched
from muster_contracts.events.registry import DomainEvent
from muster_dispatch.application.directory import Directory
from muster_dispatch.application.ports import DriveQuery, SignUpStatus
from muster_runtime.ports.versioned_documents import Document
from muster_runtime.projections import DocumentChange

LISTED = frozenset(kind.event_type for kind in (DriveLaunched, DriveAmended, DriveClosed))


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
        return DocumentChange.setting(fields, creates=True)
    if isinstance(event, DriveAmended):
        # Head-counts and team sizes are the drive's own (`GET /drives/{id}`), not listed.
        if event.signup_closes_at is None:
            return None
        return DocumentChange.setting({"signup_closes_at": event.signup_closes_at})
    if isinstance(event, DriveClosed):
        return DocumentChange.setting({"closed": True})
    return None


class DriveDirectory(Directory[DriveQuery]):
    listed = LISTED
    key = "drive_id"

    def document_change(self, event: DomainEvent) -> DocumentChange | None:
        return drive_listing_change(event, self.areas)


def sign_up_status(document: Document, now: datetime) -> SignUpStatus:
    """The status a listed drive has at `now` (what `DriveQuery.status` selects by)."""
    if document["closed"] or document["signup_closes_at"] <= now:
        return SignUpStatus.CLOSED
    return SignUpStatus.OPEN
