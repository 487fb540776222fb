"""What notify's application code asks of storage: inboxes and the facts it keeps."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from muster_contracts.eligibility import VolunteerProfile
from muster_contracts.teams import Team
from muster_notify.domain.messages import Language, Message
from muster_notify.domain.rules import Activity, Timer
from muster_runtime.volunteer_names import DisplayName


class LeaderNames(Protocol):
    """Display names, asked of the volunteer service with the reader's own token (it
    answers `unknown` for anyone the reader may not see named); raises
    `NamesUnavailableError` when it cannot be asked."""

    async def names(
        self, volunteer_ids: list[str], authorization: str
    ) -> dict[str, DisplayName]: ...


class Outcome(StrEnum):
    """What became of one message."""

    DELIVERED = "delivered"  # now in the inbox
    DUPLICATE = "duplicate"  # it was already there: nothing written
    NO_INBOX = "no_inbox"  # the volunteer was erased


@dataclass(frozen=True)
class StoredMessage:
    """A message as an inbox holds it; `position` counts from 1 in delivery order."""

    position: int
    message_id: str
    kind: str
    params: dict[str, Any]
    cause: str
    caused_at: datetime
    delivered_at: datetime
    drive_id: str | None
    activity_id: str | None
    read: bool


@dataclass(frozen=True)
class InboxView:
    volunteer_id: str
    messages: list[StoredMessage]
    unread: int
    language: Language | None


class Inboxes(ABC):
    """Each volunteer's messages in delivery order. A message is written at most once,
    whatever the redeliveries, by its deterministic id."""

    @abstractmethod
    async def deliver(self, messages: Sequence[Message], at: datetime) -> list[Outcome]:
        """Write each message unless its inbox holds it; one outcome per message, in order.
        Messages to different volunteers may be written together."""

    @abstractmethod
    async def read(self, volunteer_id: str) -> InboxView | None: ...

    @abstractmethod
    async def mark_read(self, volunteer_id: str, message_ids: Sequence[str]) -> None: ...

    @abstractmethod
    async def choose_language(self, volunteer_id: str, language: Language) -> None: ...

    @abstractmethod
    async def close(self, volunteer_id: str) -> None:
        """The volunteer was erased: their messages go, and none is written again."""


class Facts(ABC):
    """What notify keeps from the events to decide who is told what."""

    # Volunteers: their eligibility facts by home area (a broadcast reads areas, not
    # volunteers), which login speaks for them, and their approved minutes.
    @abstractmethod
    async def enrol(self, volunteer_id: str, profile: VolunteerProfile) -> None: ...

    @abstractmethod
    async def forget(self, volunteer_id: str) -> None: ...

    @abstractmethod
    async def bind_login(self, volunteer_id: str, subject: str) -> None:
        """The login `subject` now speaks for the volunteer."""

    @abstractmethod
    async def unbind_login(self, volunteer_id: str, subject: str | None) -> None:
        """The login (None: whichever) no longer speaks for the volunteer."""

    @abstractmethod
    async def residents(self, area_ids: Sequence[str]) -> list[tuple[str, VolunteerProfile]]:
        """The volunteers whose home is one of `area_ids` (exactly; not below)."""

    @abstractmethod
    async def volunteer_of(self, subject: str) -> str | None: ...

    @abstractmethod
    async def count_minutes(self, volunteer_id: str, event_id: str, minutes: int) -> int:
        """Add an approved record's minutes once per event; returns the volunteer's total."""

    # Drives, teams, activities.
    @abstractmethod
    async def keep_drive(self, drive_id: str, fields: dict[str, Any]) -> None: ...

    @abstractmethod
    async def close_drive(self, drive_id: str) -> None: ...

    @abstractmethod
    async def drive(self, drive_id: str) -> dict[str, Any] | None: ...

    @abstractmethod
    async def teams(self, team_ids: Sequence[str]) -> tuple[dict[str, Team], int]:
        """The teams named, and the newest drive-stream version applied to any of them."""

    @abstractmethod
    async def keep_teams(self, teams: dict[str, Team], version: int) -> None: ...

    @abstractmethod
    async def activity(self, activity_id: str) -> Activity | None: ...

    @abstractmethod
    async def keep_activity(self, activity: Activity, version: int) -> bool:
        """Store the activity as of its stream `version`; False if it had seen it."""

    @abstractmethod
    async def checked_in(self, activity_id: str, volunteer_id: str) -> None: ...


class Timers(ABC):
    """Timers filed in time buckets, each bucket found by its key: no scans."""

    @abstractmethod
    async def file(self, timers: Sequence[Timer], bucket: str) -> None: ...

    @abstractmethod
    async def buckets(self, keys: Sequence[str]) -> dict[str, tuple[list[Timer], set[str]]]:
        """The timers in each bucket, with the ids of those already fired."""

    @abstractmethod
    async def fired(self, bucket: str, timer_id: str) -> None: ...

    @abstractmethod
    async def cursor(self) -> str | None:
        """The first bucket not yet wholly done."""

    @abstractmethod
    async def advance(self, bucket: str) -> None: ...


class Tallies(ABC):
    """Who was told, per drive and activity, for organisers."""

    @abstractmethod
    async def tally(self, messages: Sequence[Message]) -> None: ...

    @abstractmethod
    async def told(self, scope: str) -> dict[str, int]:
        """Volunteers told per kind, for `drive:<id>` or `activity:<id>`."""


class Broadcasts(ABC):
    """Broadcasts in progress: each walks its scope's areas in pages, resumably."""

    @abstractmethod
    async def start(self, broadcast_id: str, drive: dict[str, Any]) -> None: ...

    @abstractmethod
    async def unfinished(self) -> list[dict[str, Any]]: ...

    @abstractmethod
    async def advance(
        self, broadcast_id: str, cursor: int, next_cursor: int, told: int, done: bool
    ) -> bool:
        """Record a page as done, if no one else did (False: the cursor moved)."""

    @abstractmethod
    async def of_drive(self, drive_id: str) -> dict[str, Any] | None: ...
