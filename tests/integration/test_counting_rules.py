"""What the service figures count, on the real store: activities held at approval and
their beneficiaries, activities not held yet listed per area (exact with two consumers
writing the same lists at once, and under redelivery), and records of zero minutes."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

from muster_contracts.areas import AreaLevel, load_area_tree
from muster_contracts.envelope import Actor, EventEnvelope, Role
from muster_contracts.events import DomainEvent
from muster_contracts.events.activities import (
    ActivityCancelled,
    ActivityScheduled,
    BeneficiariesRecorded,
    BeneficiaryGroup,
    CheckinPolicy,
    HoursApproved,
    ServiceRecordAdjusted,
    ServiceRecordIssued,
)
from muster_reporting.adapters.read_models import DocumentReportingStore
from muster_reporting.application.insights import Insights
from muster_reporting.domain.periods import cell_id
from muster_runtime.mongo import Database
from muster_runtime.projections import ConsumedEvent

AREAS = load_area_tree()
DISTRICT = "130203"
T0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
DAY = date(2026, 11, 27)


class Partition:
    """Events as a consumer receives them from one partition: offsets in order."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.offset = -1

    def event(self, stream_id: str, version: int, event: DomainEvent) -> ConsumedEvent:
        self.offset += 1
        envelope = EventEnvelope(
            event_id=uuid4(), type=event.event_type, schema_version=event.schema_version,
            stream_id=stream_id, stream_type=event.stream_type, stream_version=version,
            position=self.offset, occurred_at=T0, recorded_at=T0, correlation_id=uuid4(),
            actor=Actor(subject="organiser", role=Role.ORGANISER),
            payload=event.model_dump(mode="json"),
        )  # fmt: skip
        return ConsumedEvent(envelope, "muster.dispatch.events", self.number, self.offset)


def insights_of(db: Database) -> Insights:
    return Insights(AREAS, "Asia/Shanghai", (100, 300), DocumentReportingStore(db))


def scheduled(activity_id: str, place: str, starts_at: datetime) -> ActivityScheduled:
    return ActivityScheduled(
        activity_id=activity_id, drive_id="drive-1", team_id=None, title="助餐",
        place_area_id=place, category="elderly_care", starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=2), capacity=10,
        checkin_policy=CheckinPolicy.ASSIGNED_ONLY, checkin_secret="c2VjcmV0",
        checkin_tolerance_minutes=10,
    )  # fmt: skip


def issued(activity_id: str, volunteer_id: str, place: str, minutes: int) -> ServiceRecordIssued:
    return ServiceRecordIssued(
        activity_id=activity_id, record_id=f"{activity_id}-{volunteer_id}",
        volunteer_id=volunteer_id, category="elderly_care", place_area_id=place,
        service_date=DAY, minutes=minutes, approved_by="organiser",
    )  # fmt: skip


async def test_two_consumers_keep_the_pending_lists_and_held_figures_exact(db: Database) -> None:
    """Two consumers, a partition each, schedule, approve and cancel activities in the same
    areas at once (their guarded writes to the shared lists and cells collide), then each
    partition is delivered again: every list holds exactly the activities left pending."""
    buildings = [a.id for a in AREAS.at_level(AreaLevel.BUILDING) if a.id.startswith("130203001")]
    pick = random.Random(3)
    fates: dict[str, str] = {}
    partitions: list[list[ConsumedEvent]] = []
    for number in range(2):
        log = Partition(number)
        events = []
        for n in range(30):
            activity_id = f"p{number}-a{n}"
            place = pick.choice(buildings[:6])
            starts = T0 + timedelta(hours=pick.choice((-3, -1, 2)))
            events.append(
                log.event(f"activity-{activity_id}", 1, scheduled(activity_id, place, starts))
            )
            counts = {BeneficiaryGroup.ELDERLY: n}
            events.append(log.event(f"activity-{activity_id}", 2, BeneficiariesRecorded(activity_id=activity_id, counts=counts)))  # fmt: skip
            fate = pick.choice(("pending", "approved", "cancelled"))
            fates[activity_id] = fate
            if fate == "approved":
                events.append(log.event(f"activity-{activity_id}", 3, HoursApproved(activity_id=activity_id, approved_by="o", at=T0)))  # fmt: skip
            elif fate == "cancelled":
                events.append(log.event(f"activity-{activity_id}", 3, ActivityCancelled(activity_id=activity_id, reason="雨")))  # fmt: skip
        partitions.append(events)

    consumers = [insights_of(db), insights_of(db)]

    async def consume(insights: Insights, events: list[ConsumedEvent]) -> None:
        for start in range(0, len(events), 7):
            await insights.apply(events[start : start + 7])

    await asyncio.gather(*(consume(c, e) for c, e in zip(consumers, partitions, strict=True)))
    await asyncio.gather(*(consume(c, e[10:]) for c, e in zip(consumers, partitions, strict=True)))

    reader = insights_of(db)
    listed = await reader.service.pending.of_area(DISTRICT)
    assert len(listed) == sum(1 for f in fates.values() if f == "pending")
    district = await reader.service.cell(DISTRICT)
    held = [a for a, f in fates.items() if f == "approved"]
    assert district["activities"] == len(held)
    assert district["activities_scheduled"] == len(listed)
    assert district["cancelled"] == sum(1 for f in fates.values() if f == "cancelled")
    # Beneficiaries recorded before the approvals, of the held activities only.
    assert district["beneficiaries_total"] == sum(int(a.rpartition("a")[2]) for a in held)
    split, _ = await reader.service.not_held(DISTRICT, [], "2026-11-27", None, T0)
    assert sum(split.values()) == len(listed)
    assert all(split[stage] > 0 for stage in ("upcoming", "in_progress", "awaiting_approval"))
    for building in buildings[:6]:
        here = await reader.service.not_held(building, [], None, None, T0)
        assert sum(here[0].values()) == (await reader.service.cell(building)).get(
            "activities_scheduled", 0
        ), building


async def test_a_zero_minute_record_counts_a_turnout_and_a_volunteer_but_ranks_nowhere(
    db: Database,
) -> None:
    building = "1302030010010101"
    log = Partition(0)
    insights = insights_of(db)
    await insights.apply(
        [
            log.event("activity-z1", 1, scheduled("z1", building, T0)),
            log.event("activity-z1", 2, HoursApproved(activity_id="z1", approved_by="o", at=T0)),
            log.event("activity-z1", 3, issued("z1", "v0", building, 0)),
            log.event("activity-z1", 4, issued("z1", "v1", building, 90)),
            log.event("activity-z1", 5, issued("z1", "v2", building, 30)),
        ]
    )
    adjusted = ServiceRecordAdjusted(
        activity_id="z1", record_id="z1-v2", volunteer_id="v2", service_date=DAY,
        delta_minutes=-30, reason="补签", adjusted_by="organiser",
    )  # fmt: skip
    await insights.apply([log.event("activity-z1", 6, adjusted)])

    for area in (DISTRICT, building):
        figures = await insights.service.cell(area, "2026-11")
        assert (figures["turnouts"], figures["volunteers"], figures["minutes"]) == (3, 3, 90)
        assert figures["activities"] == 1
    board = await insights.service.leaderboards.board(cell_id(DISTRICT, None))
    assert [(e.volunteer_id, e.minutes) for e in board.entries] == [("v1", 90)]
    served = await insights.service.served.figures({DISTRICT: {"v0", "v2"}})
    assert {v: (s.minutes, s.turnouts) for v, s in served[DISTRICT].items()} == {
        "v0": (0, 1),
        "v2": (0, 1),
    }
