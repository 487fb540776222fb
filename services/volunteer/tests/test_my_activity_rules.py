"""What each activity event changes of an activity on its volunteers' own pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from muster_contracts.events.activities import (
    ActivityAmended,
    ActivityCancelled,
    ActivityScheduled,
    ActivityVolunteersAssigned,
    AmendedAspect,
    CheckinPolicy,
    HoursApproved,
)
from muster_volunteer.application.my_activities import (
    check_in_open,
    document_change,
    my_activity_change,
)

STARTS = datetime(2026, 12, 12, 8, 0, tzinfo=UTC)


def scheduled() -> ActivityScheduled:
    return ActivityScheduled(
        activity_id="a-1",
        drive_id="d-1",
        team_id="t-1",
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
    )


def test_scheduling_brings_the_activity_to_each_assigned_volunteer_once() -> None:
    change = document_change(scheduled())

    assert change is not None
    assert change.creates
    update = change.update
    assert update["$set"]["volunteer_ids"] == ["v-1", "v-2"]
    assert update["$set"]["title"] == "巡逻"
    assert (update["$set"]["drive_id"], update["$set"]["team_id"]) == ("d-1", "t-1")
    assert update["$set"]["cancelled"] is False
    assert "checkin_secret" not in update["$set"]


def test_an_assignment_adds_its_volunteers_and_sets_nothing_else() -> None:
    change = document_change(
        ActivityVolunteersAssigned(activity_id="a-1", volunteer_ids=("v-3", "v-3", "v-4"))
    )

    assert change is not None
    assert not change.creates
    assert change.update == {"$addToSet": {"volunteer_ids": {"$each": ["v-3", "v-4"]}}}


def test_an_amendment_moves_the_time_and_place_and_a_cancellation_marks_it() -> None:
    later = STARTS + timedelta(days=1)
    amended = document_change(
        ActivityAmended(
            activity_id="a-1",
            starts_at=later,
            ends_at=later + timedelta(hours=1),
            place_area_id="130203001002",
            capacity=5,
            changed=(AmendedAspect.TIME, AmendedAspect.PLACE),
        )
    )
    cancelled = document_change(ActivityCancelled(activity_id="a-1", reason="大雨"))

    assert amended is not None
    assert amended.update == {
        "$set": {
            "place_area_id": "130203001002",
            "starts_at": later,
            "ends_at": later + timedelta(hours=1),
        }
    }
    assert cancelled is not None
    assert cancelled.update == {"$set": {"cancelled": True, "cancel_reason": "大雨"}}


def test_events_a_volunteer_page_does_not_show_change_nothing() -> None:
    approved = HoursApproved(activity_id="a-1", approved_by="li", at=STARTS)
    assert my_activity_change(approved) is None
    assert document_change(approved) is None


def test_check_in_is_open_from_the_start_less_the_tolerance_to_the_end_unless_cancelled() -> None:
    change = my_activity_change(scheduled())
    assert change is not None
    doc = change.fields

    assert not check_in_open(doc, STARTS - timedelta(minutes=16))
    assert check_in_open(doc, STARTS - timedelta(minutes=15))
    assert check_in_open(doc, STARTS + timedelta(hours=2))
    assert not check_in_open(doc, STARTS + timedelta(hours=2, seconds=1))
    assert not check_in_open(doc | {"cancelled": True}, STARTS)
