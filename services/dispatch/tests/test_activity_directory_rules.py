"""What each activity event changes in the organiser's list of activities."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from muster_contracts.areas import load_area_tree
from muster_contracts.events.activities import (
    ActivityAmended,
    ActivityCancelled,
    ActivityScheduled,
    ActivityVolunteersAssigned,
    AmendedAspect,
    AttendanceCheckedIn,
    CheckinPolicy,
    HoursApproved,
    PresenceProof,
)
from muster_dispatch.application.activity_directory import listing_change

AREAS = load_area_tree()
STARTS = datetime(2026, 12, 12, 0, 0, tzinfo=UTC)


def test_scheduling_lists_the_activity_under_every_area_above_its_place() -> None:
    event = ActivityScheduled(
        activity_id="a-1",
        drive_id="d-1",
        title="巡逻",
        place_area_id="130203001001",
        category="patrol",
        starts_at=STARTS,
        ends_at=STARTS + timedelta(hours=2),
        capacity=5,
        checkin_policy=CheckinPolicy.ASSIGNED_ONLY,
        assigned_volunteer_ids=("v-1", "v-2", "v-1"),
        checkin_secret="c2VjcmV0",
        checkin_tolerance_minutes=15,
        series_id="s-1",
        occurrence=2,
    )

    change = listing_change(event, AREAS)

    assert change is not None
    assert change.creates
    assert change.fields["lineage"] == ["1302", "130203", "130203001", "130203001001"]
    assert (change.fields["assigned"], change.fields["occurrence"]) == (2, 2)


def test_assignment_cancelling_and_approval_change_the_listing_and_others_do_not() -> None:
    assigned = listing_change(
        ActivityVolunteersAssigned(activity_id="a-1", volunteer_ids=("v-3", "v-4")), AREAS
    )
    cancelled = listing_change(ActivityCancelled(activity_id="a-1", reason="雨"), AREAS)
    approved = listing_change(HoursApproved(activity_id="a-1", approved_by="li", at=STARTS), AREAS)

    assert assigned is not None
    assert (assigned.fields, assigned.assigned, assigned.creates) == ({}, 2, False)
    assert cancelled is not None
    assert cancelled.fields == {"cancelled": True}
    assert approved is not None
    assert approved.fields == {"approved": True}
    checked_in = AttendanceCheckedIn(
        activity_id="a-1",
        volunteer_id="v-3",
        at=STARTS,
        proof=PresenceProof.CODE,
    )
    assert listing_change(checked_in, AREAS) is None


def test_an_amendment_lists_the_activity_at_its_new_time_and_place() -> None:
    event = ActivityAmended(
        activity_id="a-1",
        starts_at=STARTS + timedelta(days=1),
        ends_at=STARTS + timedelta(days=1, hours=2),
        place_area_id="130203002001",
        capacity=8,
        changed=(AmendedAspect.TIME, AmendedAspect.PLACE, AmendedAspect.CAPACITY),
    )

    change = listing_change(event, AREAS)

    assert change is not None
    assert not change.creates
    assert change.fields == {
        "place_area_id": "130203002001",
        "lineage": ["1302", "130203", "130203002", "130203002001"],
        "starts_at": STARTS + timedelta(days=1),
        "ends_at": STARTS + timedelta(days=1, hours=2),
        "capacity": 8,
    }
