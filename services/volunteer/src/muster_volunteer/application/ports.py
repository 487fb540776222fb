"""What the volunteer service's application code needs besides the event store: personal
data sealed per volunteer, one-person-one-record claims, login links, invitation codes, a
limit on claim attempts, activity views, each volunteer's one open attendance and their
activities in time order, and the teams with the leaders each member was told of. `muster_volunteer.adapters` implements them on the document
store; unit tests implement them in memory."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from muster_contracts.events import SealedPersonalData
from muster_contracts.teams import Team
from muster_volunteer.domain.attendance import ActivityView
from muster_volunteer.domain.volunteer import PersonalData


class PersonalDataErasedError(LookupError):
    """The volunteer's key is gone: their personal data can no longer be read."""


class LoginTakenError(LookupError):
    """The login speaks for another volunteer already."""

    def __init__(self, volunteer_id: str) -> None:
        super().__init__(volunteer_id)
        self.volunteer_id = volunteer_id


class TooManyClaimAttemptsError(Exception):
    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(retry_after_seconds)
        self.retry_after_seconds = retry_after_seconds


@dataclass(frozen=True)
class InvitationCode:
    volunteer_id: str
    invitation_id: str


Sealable = TypeVar("Sealable", bound=BaseModel)


class PersonalDataSafe(Protocol):
    """Seals a volunteer's personal data (name, phone, ID number; an email contact) with
    their own key; shredding the key erases it."""

    async def seal(self, volunteer_id: str, data: BaseModel) -> SealedPersonalData: ...

    async def unseal(self, sealed: SealedPersonalData) -> PersonalData:
        """Raises: PersonalDataErasedError: the volunteer's key was shredded."""
        ...

    async def unseal_as(self, sealed: SealedPersonalData, model: type[Sealable]) -> Sealable:
        """Open sealed data as `model`; raises PersonalDataErasedError as `unseal` does."""
        ...

    async def shred(self, volunteer_id: str) -> None: ...


class IdentityClaimRegister(Protocol):
    """Unique claims on an identifying value (a phone number, an ID number)."""

    async def claim(self, value: str, volunteer_id: str) -> str | None:
        """Claim the value; returns the other holder's id if it is taken."""
        ...

    async def release(self, value: str, volunteer_id: str) -> None: ...

    async def take_over(self, value: str, orphan_holder: str, volunteer_id: str) -> bool:
        """Move a claim whose holder was never registered (after a grace period)."""
        ...


class IdentityClaimIndex(IdentityClaimRegister, Protocol):
    """The claims read many at a time, and the keyed fingerprint they are kept under."""

    def fingerprint(self, value: str) -> str: ...

    async def holders(self, values: list[str]) -> dict[str, str]:
        """Who holds each of `values` that is claimed (value -> volunteer id)."""
        ...


class LoginRegister(Protocol):
    """Which volunteer a login speaks for: one login, one volunteer."""

    async def link(self, subject: str, volunteer_id: str) -> None:
        """Raises: LoginTakenError: the login speaks for another volunteer."""
        ...

    async def volunteer_of(self, subject: str) -> str | None: ...

    async def cached_volunteer_of(self, subject: str) -> str | None: ...

    async def unlink(self, subject: str, volunteer_id: str) -> None: ...


class InvitationRegister(Protocol):
    """The codes of issued invitations, each finding its volunteer and invitation."""

    async def record(self, code: str, volunteer_id: str, invitation_id: str) -> None: ...

    async def find(self, code: str) -> InvitationCode | None: ...

    async def forget(self, code: str) -> None: ...

    async def forget_volunteer(self, volunteer_id: str) -> None: ...


class ClaimAttemptLimit(Protocol):
    async def admit(self, subject: str, now: datetime) -> None:
        """Count one attempt. Raises: TooManyClaimAttemptsError: none left this window."""
        ...


class ActivityViews(Protocol):
    async def view(self, activity_id: str, *, fresh: bool = False) -> ActivityView:
        """The activity as dispatch's events describe it; a copy kept a few seconds unless
        `fresh`. Raises: NotFoundError: no such activity is known here."""
        ...


class OpenAttendances(Protocol):
    """Which activity each volunteer is checked in at (at most one)."""

    async def claim(self, volunteer_id: str, activity_id: str) -> bool:
        """Record the volunteer as checked in here unless an open attendance is recorded
        (then False: it may be stale)."""
        ...

    async def activity_of(self, volunteer_id: str) -> str | None: ...

    async def record(self, volunteer_id: str, activity_id: str) -> None:
        """Record it, over whatever was recorded."""
        ...

    async def release(self, volunteer_id: str, activity_id: str) -> None:
        """Forget it if it is still this activity's."""
        ...


class ActivityTimetable(Protocol):
    """The activities volunteers are assigned to (`MyActivities`' documents), in time order."""

    async def of_volunteer(
        self, volunteer_id: str, now: datetime, recent_since: datetime, limit: int
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Up to `limit` activities not yet ended (soonest first, then by id) and up to
        `limit` that ended since `recent_since` (latest first, then by id), without
        `volunteer_ids`."""
        ...


class TeamBook(Protocol):
    """The drives' teams (one document each, written by a newer drive stream version
    only) and, per volunteer, every leader they were told of."""

    async def read(self, team_ids: Sequence[str]) -> tuple[dict[str, Team], int]:
        """The teams known of these ids, and the newest drive stream version among them."""
        ...

    async def keep(self, teams: Mapping[str, Team], version: int) -> None:
        """Store the teams as of the drive stream's `version`."""
        ...

    async def tell(self, member: str, leader_id: str) -> None:
        """Note that `member` was told of `leader_id` (again: no change)."""
        ...

    async def leaders_told(self, volunteer_id: str) -> set[str]:
        """The leaders `volunteer_id` was told of."""
        ...

    async def teams_of(self, volunteer_id: str, limit: int) -> list[Team]:
        """Up to `limit` teams `volunteer_id` is in or leads, by drive then team (a team
        left with no members is not one)."""
        ...

    async def create_indexes(self) -> None: ...
