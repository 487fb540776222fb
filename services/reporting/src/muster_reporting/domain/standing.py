"""What an event changes of a volunteer's standing (pure): their home, or the approved
minutes they add (a correction may take some away)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from muster_contracts.events import VolunteerRegistered
from muster_contracts.events.activities import ServiceRecordAdjusted, ServiceRecordIssued

# Every event type `standing_change` reads.
STANDING_EVENT_TYPES = frozenset(
    {
        VolunteerRegistered.event_type,
        ServiceRecordIssued.event_type,
        ServiceRecordAdjusted.event_type,
    }
)


@dataclass(frozen=True)
class StandingChange:
    """A registration (`home_area_id`) or minutes added (`minutes`) to one volunteer."""

    volunteer_id: str
    home_area_id: str | None = None
    minutes: int | None = None

    @property
    def rises(self) -> bool:
        """Whether the volunteer's minutes only rise (a registration adds none)."""
        return self.minutes is None or self.minutes >= 0


def standing_change(kind: str, payload: Mapping[str, Any]) -> StandingChange | None:
    """What an event of type `kind` changes (None: nothing)."""
    if kind == VolunteerRegistered.event_type:
        return StandingChange(payload["volunteer_id"], home_area_id=payload["home_area_id"])
    if kind == ServiceRecordIssued.event_type:
        return StandingChange(payload["volunteer_id"], minutes=int(payload["minutes"]))
    if kind == ServiceRecordAdjusted.event_type:
        return StandingChange(payload["volunteer_id"], minutes=int(payload["delta_minutes"]))
    return None
