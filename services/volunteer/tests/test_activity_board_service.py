"""The activity board through the application layer on in-memory versioned documents:
activities and service records as dispatch's events leave them, each event once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from muster_contracts.checkin import encode_secret
from muster_contracts.envelope import Actor, Role
from muster_contracts.events import DomainEvent
from muster_contracts.events.activities import (
    ActivityCancelled,
    ActivityScheduled,
    CheckinPolicy,
    ServiceRecordAdjusted,
    ServiceRecordIssued,
)
from muster_runtime.adapters.memory.event_store import InMemoryEventStore
from muster_runtime.adapters.memory.versioned_documents import InMemoryVersionedDocuments
from muster_runtime.errors import NotFoundError
from muster_runtime.ports.event_store import CommandContext
from muster_runtime.projections import ConsumedEvent
from muster_volunteer.application.attendance import ActivityBoard

DISPATCH = CommandContext(Actor(subject="dispatch", role=Role.SYSTEM))
DAY = date(2025, 3, 5)
STARTS = datetime(2025, 3, 5, 1, 0, tzinfo=UTC)


def scheduled(activity_id: str) -> ActivityScheduled:
    return ActivityScheduled(
        activity_id=activity_id, drive_id="drive-1", title="Visit elderly residents",
        place_area_id="130203001001", latitude=39.63, longitude=118.18, category="elderly_care",
        starts_at=STARTS, ends_at=STARTS + timedelta(hours=3), capacity=5,
        checkin_policy=CheckinPolicy.ASSIGNED_ONLY, assigned_volunteer_ids=["v-1"],
        checkin_secret=encode_secret(b"k" * 32), checkin_tolerance_minutes=15,
    )  # fmt: skip


def issued(record_id: str, minutes: int) -> ServiceRecordIssued:
    return ServiceRecordIssued(
        activity_id="a-1", record_id=record_id, volunteer_id="v-1", category="elderly_care",
        place_area_id="130203001001", service_date=DAY, minutes=minutes, approved_by="o-1",
    )  # fmt: skip


async def published(*events: DomainEvent) -> list[ConsumedEvent]:
    """The events as one activity stream, as the volunteer service consumes them."""
    store = InMemoryEventStore()
    await store.append("activity-a-1", "activity", 0, list(events), DISPATCH)
    envelopes = [e async for e in store.read_all()]
    return [ConsumedEvent(e, "dispatch", 0, n) for n, e in enumerate(envelopes)]


async def test_service_records_count_each_event_once() -> None:
    board = ActivityBoard(InMemoryVersionedDocuments(), InMemoryVersionedDocuments())
    events = await published(
        scheduled("a-1"),
        issued("r-1", 90),
        issued("r-2", 30),
        ServiceRecordAdjusted(
            activity_id="a-1", record_id="r-1", volunteer_id="v-1", service_date=DAY,
            delta_minutes=-30, reason="left early", adjusted_by="o-1",
        ),
        ActivityCancelled(activity_id="a-1", reason="大雨"),
    )  # fmt: skip
    await board.apply(events)
    await board.apply(events[3:])  # the adjustment redelivered: nothing changes

    record = await board.service_record("v-1")
    assert [(r["record_id"], r["minutes"]) for r in record["records"]] == [("r-1", 60), ("r-2", 30)]
    assert record["total_minutes"] == 90
    assert record["hours_by_category"] == {"elderly_care": 1.5}
    assert (await board.view("a-1", fresh=True)).cancelled
    assert set(await board.events_by_id({"a-1", "a-9"})) == {"a-1"}
    with pytest.raises(NotFoundError):
        await board.view("a-9")
