"""The organiser's list of drives on the real store: kept from dispatch's drive events once
per stream version, found by area and below, sign-up status, category and activity start,
a page at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from muster_contracts.areas import load_area_tree
from muster_contracts.events.drives import (
    DriveAmended,
    DriveClosed,
    DriveLaunched,
    Eligibility,
    Role,
)
from muster_contracts.events.registry import DomainEvent
from muster_dispatch.application.drive_directory import DriveQuery, SignUpStatus
from muster_dispatch.bootstrap import read_models_of
from muster_runtime.mongo import Database
from muster_runtime.projections import ConsumedEvent
from tests.integration.helpers import organiser_event

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
AREAS = load_area_tree()
STREET, OTHER_STREET = "130203001", "130203002"


def consumed(version: int, event: DomainEvent) -> ConsumedEvent:
    return organiser_event(f"drive-{event.model_dump()['drive_id']}", version, event, NOW)


def launched(
    drive_id: str, area: str, starts_in_days: int, category: str = "environment"
) -> DomainEvent:
    starts = NOW + timedelta(days=starts_in_days)
    return DriveLaunched(
        drive_id=drive_id, title=f"招募 {drive_id}", organiser="li", scope_area_id=area,
        category=category, roles=(Role(role_id="general", headcount=10),),
        signup_opens_at=NOW - timedelta(days=1), signup_closes_at=starts - timedelta(days=1),
        activity_starts_at=starts, activity_ends_at=starts + timedelta(hours=2),
        eligibility=Eligibility(), team_size_min=3, team_size_max=8,
    )  # fmt: skip


def ids(docs: list[dict[str, object]]) -> list[object]:
    return [doc["_id"] for doc in docs]


async def test_an_organiser_finds_the_drives_of_their_area_by_status_a_page_at_a_time(
    db: Database,
) -> None:
    directory = read_models_of(db, AREAS).drive_directory
    await directory.create_indexes()
    events = [
        consumed(1, launched("d-street", STREET, 5)),
        consumed(1, launched("d-community", f"{STREET}001", 4, category="patrol")),
        consumed(1, launched("d-closed", f"{STREET}002", 3)),
        consumed(2, DriveClosed(drive_id="d-closed", reason="organiser")),
        consumed(1, launched("d-past-deadline", STREET, 1)),  # sign-up closed at NOW
        consumed(1, launched("d-other", OTHER_STREET, 2)),
        consumed(1, launched("d-extended", STREET, 1)),
        consumed(2, DriveAmended(drive_id="d-extended", signup_closes_at=NOW + timedelta(hours=6))),
    ]
    await directory.apply(events)
    await directory.apply(events)  # redelivered: nothing changes
    await read_models_of(db, AREAS).drive_directory.apply(events[3:])  # after a restart

    def query(**given: object) -> DriveQuery:
        return DriveQuery(**({"area_id": STREET, "now": NOW} | given))  # type: ignore[arg-type]

    everything = await directory.find(query(), 10)
    assert ids(everything) == [
        "d-street",
        "d-community",
        "d-closed",
        "d-past-deadline",
        "d-extended",
    ]
    assert await db["drive_directory"].count_documents({}) == 6
    opened = await directory.find(query(status=SignUpStatus.OPEN), 10)
    assert ids(opened) == ["d-street", "d-community", "d-extended"]
    closed = await directory.find(query(status=SignUpStatus.CLOSED), 10)
    assert ids(closed) == ["d-closed", "d-past-deadline"]
    assert ids(await directory.find(query(category="patrol"), 10)) == ["d-community"]
    window = query(starts_from=NOW + timedelta(days=3), starts_before=NOW + timedelta(days=5))
    assert ids(await directory.find(window, 10)) == ["d-community", "d-closed"]
    assert ids(await directory.find(query(area_id=f"{STREET}001"), 10)) == ["d-community"]
    district = ids(await directory.find(query(area_id="1302"), 10))
    assert district == [*ids(everything)[:3], "d-other", *ids(everything)[3:]]

    first = await directory.find(query(), 2)
    last = first[-1]
    rest = await directory.find(query(), 10, (last["activity_starts_at"], last["_id"]))
    assert ids(first) + ids(rest) == ids(everything)
