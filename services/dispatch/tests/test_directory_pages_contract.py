"""The directory pages port's contract on both adapters (in memory, and the document store
as an integration test): the organiser's lists of drives and activities, kept from
dispatch's events once per stream version, found by area and below, by what a query asks
in the domain's words, and a page at a time in the directory's order."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from muster_contracts.areas import load_area_tree
from muster_contracts.events.activities import ActivityCancelled, ActivityScheduled, CheckinPolicy
from muster_contracts.events.drives import DriveAmended, DriveClosed, DriveLaunched, Eligibility
from muster_contracts.events.drives import Role as DriveRole
from muster_contracts.events.registry import DomainEvent
from muster_dispatch.adapters.directory_pages import StoredActivityPages, StoredDrivePages
from muster_dispatch.adapters.memory_directory_pages import MemoryActivityPages, MemoryDrivePages
from muster_dispatch.application.activity_directory import ActivityDirectory
from muster_dispatch.application.drive_directory import DriveDirectory
from muster_dispatch.application.ports import ActivityQuery, DriveQuery, SignUpStatus
from muster_runtime.adapters.memory.versioned_documents import InMemoryVersionedDocuments
from muster_runtime.adapters.mongodb.versioned_documents import StoredVersionedDocuments
from muster_runtime.mongo import Database, scratch_database
from muster_runtime.projections import ConsumedEvent
from tests.conftest import mongo_url
from tests.integration.helpers import organiser_event

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
AREAS = load_area_tree()
STREET, OTHER_STREET = "130203001", "130203002"


@dataclass(frozen=True)
class Directories:
    drives: DriveDirectory
    activities: ActivityDirectory


@pytest.fixture(
    params=[
        pytest.param(None, id="memory"),
        pytest.param("store", id="store", marks=pytest.mark.integration),
    ]
)
async def directories(request: pytest.FixtureRequest) -> AsyncIterator[Directories]:
    if request.param is None:
        drives, activities = InMemoryVersionedDocuments(), InMemoryVersionedDocuments()
        yield Directories(
            DriveDirectory(drives, MemoryDrivePages(drives), AREAS),
            ActivityDirectory(activities, MemoryActivityPages(activities), AREAS),
        )
        return
    async with scratch_database(mongo_url(), "muster_directory_contract") as db:
        yield stored(db)


def stored(db: Database) -> Directories:
    drives, activities = db["drive_directory"], db["activity_directory"]
    return Directories(
        DriveDirectory(StoredVersionedDocuments(drives), StoredDrivePages(drives), AREAS),
        ActivityDirectory(
            StoredVersionedDocuments(activities), StoredActivityPages(activities), AREAS
        ),
    )


def drive(version: int, event: DomainEvent) -> ConsumedEvent:
    return organiser_event(f"drive-{event.model_dump()['drive_id']}", version, event, NOW)


def activity(version: int, event: DomainEvent) -> ConsumedEvent:
    return organiser_event(f"activity-{event.model_dump()['activity_id']}", version, event, NOW)


def launched(
    drive_id: str, area: str, starts_in_days: int, category: str = "environment"
) -> DomainEvent:
    starts = NOW + timedelta(days=starts_in_days)
    return DriveLaunched(
        drive_id=drive_id, title=f"招募 {drive_id}", organiser="li", scope_area_id=area,
        category=category, roles=(DriveRole(role_id="general", headcount=10),),
        signup_opens_at=NOW - timedelta(days=1), signup_closes_at=starts - timedelta(days=1),
        activity_starts_at=starts, activity_ends_at=starts + timedelta(hours=2),
        eligibility=Eligibility(), team_size_min=3, team_size_max=8,
    )  # fmt: skip


def scheduled(activity_id: str, area: str, starts_in_hours: int, **given: Any) -> ActivityScheduled:
    starts = NOW + timedelta(hours=starts_in_hours)
    return ActivityScheduled(
        activity_id=activity_id, title=f"巡逻 {activity_id}", place_area_id=area,
        category="patrol", starts_at=starts, ends_at=starts + timedelta(hours=2), capacity=5,
        checkin_policy=CheckinPolicy.ASSIGNED_ONLY, checkin_secret="c2VjcmV0",
        checkin_tolerance_minutes=15, **given,
    )  # fmt: skip


def ids(docs: list[dict[str, Any]]) -> list[Any]:
    return [doc["_id"] for doc in docs]


async def every_page(find: Callable[[Any], Any], first: Any, moment: str) -> list[list[Any]]:
    """The pages of `first`'s query, each asked for after the previous one's last key."""
    pages, query = [], first
    while page := await find(query):
        pages.append(ids(page))
        last = page[-1]
        query = replace(query, after=(last[moment], last["_id"]))
    return pages


async def test_drives_of_an_area_by_status_category_and_start_a_page_at_a_time(
    directories: Directories,
) -> None:
    directory = directories.drives
    await directory.create_indexes()
    events = [
        drive(1, launched("d-street", STREET, 5)),
        drive(1, launched("d-community", f"{STREET}001", 4, category="patrol")),
        drive(1, launched("d-closed", f"{STREET}002", 3)),
        drive(2, DriveClosed(drive_id="d-closed", reason="organiser")),
        drive(1, launched("d-past-deadline", STREET, 1)),  # sign-up closed at NOW
        drive(1, launched("d-other", OTHER_STREET, 2)),
        drive(1, launched("d-extended", STREET, 1)),
        drive(2, DriveAmended(drive_id="d-extended", signup_closes_at=NOW + timedelta(hours=6))),
    ]
    await directory.apply(events)
    await directory.apply(events)  # redelivered: nothing changes

    def query(**given: Any) -> DriveQuery:
        return replace(DriveQuery(area_id=STREET, now=NOW, limit=10), **given)

    everything = ["d-street", "d-community", "d-closed", "d-past-deadline", "d-extended"]
    assert ids(await directory.find(query())) == everything
    opened = await directory.find(query(status=SignUpStatus.OPEN))
    assert ids(opened) == ["d-street", "d-community", "d-extended"]
    closed = await directory.find(query(status=SignUpStatus.CLOSED))
    assert ids(closed) == ["d-closed", "d-past-deadline"]
    assert ids(await directory.find(query(category="patrol"))) == ["d-community"]
    window = query(starts_from=NOW + timedelta(days=3), starts_before=NOW + timedelta(days=5))
    assert ids(await directory.find(window)) == ["d-community", "d-closed"]
    assert ids(await directory.find(query(area_id=f"{STREET}001"))) == ["d-community"]
    district = ids(await directory.find(query(area_id="1302")))
    assert district == [*everything[:3], "d-other", *everything[3:]]

    pages = await every_page(directory.find, query(limit=2), "activity_starts_at")
    assert pages == [everything[:2], everything[2:4], everything[4:]]
    ended = await every_page(
        directory.find, query(limit=2, status=SignUpStatus.CLOSED), "activity_starts_at"
    )
    assert ended == [["d-closed", "d-past-deadline"]]


async def test_activities_of_an_area_by_start_drive_team_series_and_cancellation(
    directories: Directories,
) -> None:
    directory = directories.activities
    await directory.create_indexes()
    events = [
        activity(1, scheduled("a-late", STREET, 30, drive_id="d-1")),
        activity(1, scheduled("a-early", f"{STREET}001", 2, drive_id="d-1", team_id="t-1")),
        activity(1, scheduled("a-series", STREET, 10, series_id="s-1", occurrence=1)),
        activity(1, scheduled("a-cancelled", STREET, 20, drive_id="d-2")),
        activity(2, ActivityCancelled(activity_id="a-cancelled", reason="rain")),
        activity(1, scheduled("a-other", OTHER_STREET, 5, drive_id="d-1")),
        activity(1, scheduled("a-same-start", STREET, 10)),
    ]
    await directory.apply(events)
    await directory.apply(events[3:])  # redelivered: nothing changes

    def query(**given: Any) -> ActivityQuery:
        return replace(ActivityQuery(area_id=STREET, limit=10), **given)

    # By start, then by id where two start at once.
    everything = ["a-early", "a-same-start", "a-series", "a-cancelled", "a-late"]
    assert ids(await directory.find(query())) == everything
    window = query(starts_from=NOW + timedelta(hours=10), starts_before=NOW + timedelta(hours=30))
    assert ids(await directory.find(window)) == ["a-same-start", "a-series", "a-cancelled"]
    assert ids(await directory.find(query(drive_id="d-1"))) == ["a-early", "a-late"]
    assert ids(await directory.find(query(team_id="t-1"))) == ["a-early"]
    assert ids(await directory.find(query(series_id="s-1"))) == ["a-series"]
    held = await directory.find(query(include_cancelled=False))
    assert ids(held) == ["a-early", "a-same-start", "a-series", "a-late"]
    assert ids(await directory.find(query(area_id="1302", drive_id="d-1"))) == [
        "a-early",
        "a-other",
        "a-late",
    ]

    pages = await every_page(directory.find, query(limit=2), "starts_at")
    assert pages == [everything[:2], everything[2:4], everything[4:]]
