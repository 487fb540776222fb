"""What dispatch's application code needs besides the event store. `VolunteerPool` (its
projection of volunteers on the document store) implements it; unit tests use a dict."""

from __future__ import annotations

from typing import Protocol

from muster_contracts.eligibility import VolunteerProfile


class VolunteerProfiles(Protocol):
    async def profile(self, volunteer_id: str) -> VolunteerProfile | None:
        """What drive rules need to know of a volunteer (None: not registered yet)."""
        ...
