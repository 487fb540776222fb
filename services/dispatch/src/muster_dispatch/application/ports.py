"""What dispatch's application code needs besides the event store: volunteers' profiles
(`VolunteerPool`, its projection of volunteers) and the attendance records
(`muster_dispatch.adapters.attendance_log.AttendanceLog`). Unit tests use dicts."""

from __future__ import annotations

from typing import Protocol

from muster_contracts.eligibility import VolunteerProfile
from muster_contracts.events import DomainEvent


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
