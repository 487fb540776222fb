"""The audit trail on the real document store: by actor, by volunteer, by activity."""

from __future__ import annotations

from typing import ClassVar

import pytest

from muster_contracts.envelope import Actor, Role
from muster_contracts.events import DomainEvent
from muster_runtime.adapters.mongodb.audit import AuditEntry, AuditTrail, audit_across
from muster_runtime.adapters.mongodb.event_store import MongoEventStore
from muster_runtime.errors import RuleViolationError
from muster_runtime.mongo import Database
from muster_runtime.ports.event_store import CommandContext


class SignedUp(DomainEvent):
    event_type: ClassVar[str] = "test.signed_up"
    stream_type: ClassVar[str] = "signup"
    volunteer_id: str
    activity_id: str


class Assigned(DomainEvent):
    event_type: ClassVar[str] = "test.assigned"
    stream_type: ClassVar[str] = "activity"
    activity_id: str
    volunteer_ids: list[str]


class Registered(DomainEvent):
    event_type: ClassVar[str] = "test.registered"
    stream_type: ClassVar[str] = "volunteer"
    personal: str


def by(subject: str, role: Role = Role.VOLUNTEER) -> CommandContext:
    return CommandContext(Actor(subject=subject, role=role))


@pytest.fixture
async def trail(db: Database) -> AuditTrail:
    store = MongoEventStore(db)
    await store.create_indexes()
    trail = AuditTrail(store)
    await trail.create_indexes()
    await store.append("volunteer-v1", "volunteer", 0, [Registered(personal="sealed")], by("li"))
    await store.append(
        "volunteer-v2", "volunteer", 0, [Registered(personal="sealed")], by("org", Role.ORGANISER)
    )
    await store.append(
        "signup-1", "signup", 0, [SignedUp(volunteer_id="v1", activity_id="a1")], by("li")
    )
    await store.append(
        "signup-2", "signup", 0, [SignedUp(volunteer_id="v2", activity_id="a2")], by("wang")
    )
    # One commit naming two volunteers and an activity, made by an organiser.
    await store.append(
        "activity-a1", "activity", 0,
        [Assigned(activity_id="a1", volunteer_ids=["v1", "v2"]), Assigned(activity_id="a1", volunteer_ids=["v2"])],
        by("org", Role.ORGANISER),
    )  # fmt: skip
    return trail


def seen(page: list[AuditEntry]) -> list[tuple[str, str, str]]:
    return [(e.type, e.stream_id, e.actor.subject) for e in page]


async def test_by_actor_lists_what_that_account_did_newest_first(trail: AuditTrail) -> None:
    page = await trail.query(actor="org")

    assert seen(page.entries) == [
        ("test.assigned", "activity-a1", "org"),
        ("test.assigned", "activity-a1", "org"),
        ("test.registered", "volunteer-v2", "org"),
    ]
    assert page.next_before is None


async def test_by_volunteer_finds_their_stream_and_every_event_naming_them(
    trail: AuditTrail,
) -> None:
    page = await trail.query(volunteer_id="v1")

    assert seen(page.entries) == [
        ("test.assigned", "activity-a1", "org"),
        ("test.signed_up", "signup-1", "li"),
        ("test.registered", "volunteer-v1", "li"),
    ]
    assert "personal" not in page.entries[-1].payload


async def test_by_activity_and_filters_combined(trail: AuditTrail) -> None:
    at_a1 = await trail.query(activity_id="a1")
    by_li_at_a1 = await trail.query(activity_id="a1", actor="li")

    assert seen(at_a1.entries) == [
        ("test.assigned", "activity-a1", "org"),
        ("test.assigned", "activity-a1", "org"),
        ("test.signed_up", "signup-1", "li"),
    ]
    assert seen(by_li_at_a1.entries) == [("test.signed_up", "signup-1", "li")]


async def test_pages_walk_back_through_the_log(trail: AuditTrail) -> None:
    first = await trail.query(volunteer_id="v2", limit=1)
    assert first.next_before is not None
    second = await trail.query(volunteer_id="v2", limit=1, before=first.next_before)
    assert second.next_before is not None
    third = await trail.query(volunteer_id="v2", limit=5, before=second.next_before)

    assert [e.stream_id for e in first.entries] == ["activity-a1", "activity-a1"]
    assert [e.stream_id for e in second.entries] == ["signup-2"]
    assert [e.stream_id for e in third.entries] == ["volunteer-v2"]
    assert third.next_before is None


async def test_an_unfiltered_query_is_refused(trail: AuditTrail) -> None:
    with pytest.raises(RuleViolationError):
        await trail.query()


async def test_several_services_logs_are_merged_newest_first(
    trail: AuditTrail, db: Database
) -> None:
    other_store = MongoEventStore(db, collection="other_events")
    await other_store.create_indexes()
    other = AuditTrail(other_store)
    await other.create_indexes()
    await other_store.append(
        "signup-9", "signup", 0, [SignedUp(volunteer_id="v1", activity_id="a9")], by("li")
    )

    found = await audit_across({"here": trail, "there": other}, actor="li", limit=3)

    assert [(service, e.stream_id) for service, e in found] == [
        ("there", "signup-9"),
        ("here", "signup-1"),
        ("here", "volunteer-v1"),
    ]
