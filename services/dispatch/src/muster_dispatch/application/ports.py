"""What dispatch's application code needs besides the event store: volunteers' profiles
(`VolunteerPool`, its projection of volunteers) and the attendance records
(`muster_dispatch.adapters.attendance_log.AttendanceLog`), and the pages of a directory
(`muster_dispatch.adapters.directory_pages.StoredPages`). Unit tests use dicts."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from muster_contracts.eligibility import VolunteerProfile
from muster_contracts.events import DomainEvent
from muster_runtime.ports.versioned_documents import Document

# Where the previous page ended: its last document's moment and id.
PageKey = tuple[datetime, str]


class VolunteerProfiles(Protocol):
    async def profile(self, volunteer_id: str) -> VolunteerProfile | None:
        """What drive rules need to know of a volunteer (None: not registered yet)."""
        ...


class AttendanceRecords(Protocol):
    """The volunteers' check-ins and check-outs as dispatch received them."""

    async def activities_with_open_attendance(self) -> set[str]:
        """Activities where someone checked in and never out."""
        ...

    async def events_of(self, activity_id: str) -> list[DomainEvent]:
        """The check-ins and check-outs of the activity, every volunteer's."""
        ...


class DirectoryPages(Protocol):
    """A directory's documents a page at a time, in order of a moment, then of id."""

    async def page(
        self,
        conditions: list[dict[str, Any]],
        moment: str,
        descending: bool,
        limit: int,
        after: PageKey | None,
    ) -> list[Document]:
        """Up to `limit` documents meeting every condition (each a store filter), in order
        of `moment` and id, strictly after `after` in that order."""
        ...
