"""What dispatch's application code needs besides the event store: volunteers' profiles
(`VolunteerPool`, its projection of volunteers) and the attendance records
(`muster_dispatch.adapters.attendance_log.AttendanceLog`), and the pages of a directory
asked for by a query in the domain's words (`DriveQuery`, `ActivityQuery`): the document
store's `muster_dispatch.adapters.directory_pages` and the in-memory
`muster_dispatch.adapters.memory_directory_pages`. Unit tests use dicts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import ClassVar, Protocol, TypeVar

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


@dataclass(frozen=True, kw_only=True)
class DirectoryQuery:
    """A page of a directory: the documents of `area_id` and the areas below it, in order
    of the directory's `moment` (the latest first if `descending`), then of id; up to
    `limit`, starting strictly after `after` (where the previous page ended)."""

    moment: ClassVar[str]
    descending: ClassVar[bool] = False

    area_id: str
    limit: int
    after: PageKey | None = None


class SignUpStatus(StrEnum):
    """Whether a drive takes sign-ups: `open` until the organiser closes it or its sign-up
    deadline passes, `closed` after."""

    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True, kw_only=True)
class DriveQuery(DirectoryQuery):
    """Drives launched for the area or below, the latest activity start first: by sign-up
    status at `now`, of a category, their activity starting in [starts_from,
    starts_before) (None: any)."""

    moment: ClassVar[str] = "activity_starts_at"
    descending: ClassVar[bool] = True

    now: datetime
    status: SignUpStatus | None = None
    category: str | None = None
    starts_from: datetime | None = None
    starts_before: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class ActivityQuery(DirectoryQuery):
    """Activities held in the area or below, in order of their start: starting in
    [starts_from, starts_before), of a drive, a team, a series (None: any), cancelled ones
    too unless `include_cancelled` is false."""

    moment: ClassVar[str] = "starts_at"

    starts_from: datetime | None = None
    starts_before: datetime | None = None
    drive_id: str | None = None
    team_id: str | None = None
    series_id: str | None = None
    include_cancelled: bool = True


Query = TypeVar("Query", bound=DirectoryQuery, contravariant=True)


class DirectoryPages(Protocol[Query]):
    """A directory's documents, a page at a time, as its queries ask."""

    async def page(self, query: Query) -> list[Document]:
        """The documents `query` selects, in its order, after its `after`, up to its
        `limit`."""
        ...

    async def create_indexes(self) -> None:
        """Make the pages fast to find (an adapter that needs no index does nothing)."""
        ...
