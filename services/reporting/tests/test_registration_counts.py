"""Registered volunteers by area: the pure rule, and the rollup on in-memory cells."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from muster_contracts.areas import load_area_tree
from muster_contracts.envelope import Actor, EventEnvelope, Role
from muster_contracts.events import SealedPersonalData, VolunteerCategory, VolunteerRegistered
from muster_reporting.application.volunteer_rollup import VolunteerRollup
from muster_reporting.domain.registrations import registration_counts
from muster_runtime.adapters.memory.counter_cells import InMemoryCounterCells
from muster_runtime.projections import ConsumedEvent

AREAS = load_area_tree()
BUILDING = "1302030010010101"
DISTRICT, STREET = "130203", "130203001"


def registered(offset: int, home: str, *categories: VolunteerCategory) -> ConsumedEvent:
    volunteer_id = str(uuid4())
    event = VolunteerRegistered(
        volunteer_id=volunteer_id, home_area_id=home, categories=categories, skills=(),
        personal=SealedPersonalData(key_id=volunteer_id, ciphertext="sealed"),
    )  # fmt: skip
    at = datetime(2026, 11, 27, tzinfo=UTC)
    envelope = EventEnvelope(
        event_id=uuid4(), type=event.event_type, schema_version=event.schema_version,
        stream_id=f"volunteer-{volunteer_id}", stream_type=event.stream_type, stream_version=1,
        position=offset, occurred_at=at, recorded_at=at, correlation_id=uuid4(),
        actor=Actor(subject=volunteer_id, role=Role.VOLUNTEER),
        payload=event.model_dump(mode="json"),
    )  # fmt: skip
    return ConsumedEvent(envelope, "muster.volunteer.events", 0, offset)


def test_a_registration_counts_in_every_area_above_the_home_and_in_each_drill_down() -> None:
    counts = registration_counts(["130203", "130203001", "130203001001"], ["student"])
    assert counts == [
        ("130203", {"registered": 1, "category.student": 1, "children.130203001.registered": 1,
                    "children.130203001.category.student": 1}),
        ("130203001", {"registered": 1, "category.student": 1,
                       "children.130203001001.registered": 1,
                       "children.130203001001.category.student": 1}),
        ("130203001001", {"registered": 1, "category.student": 1}),
    ]  # fmt: skip


async def test_registrations_roll_up_once_each_however_often_delivered() -> None:
    rollup = VolunteerRollup(InMemoryCounterCells(), AREAS)
    batch = [
        registered(0, BUILDING, VolunteerCategory.STUDENT),
        registered(1, BUILDING, VolunteerCategory.PARTY_MEMBER, VolunteerCategory.RESIDENT),
    ]
    await rollup.apply(batch)
    await rollup.apply(batch)  # redelivered

    district = await rollup.cell(DISTRICT)
    assert district["registered"] == 2
    assert district["category"] == {"student": 1, "party_member": 1, "resident": 1}
    assert district["children"][STREET]["registered"] == 2
    assert (await rollup.cell(BUILDING))["registered"] == 2
    assert await rollup.cell("130203002") == {}
