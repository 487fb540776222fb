"""Check-in and check-out rules as specifications: given the activity and the attendance,
when a volunteer checks in or out, then events or an error naming the broken rule.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from muster_contracts.checkin import Coordinates, checkin_code, distance_metres, encode_secret
from muster_contracts.events import DomainEvent
from muster_contracts.events.activities import (
    ActivityAmended,
    ActivityCancelled,
    ActivityScheduled,
    ActivityVolunteersAssigned,
    AmendedAspect,
    AttendanceCheckedIn,
    AttendanceCheckedOut,
    BeneficiariesRecorded,
    CheckinPolicy,
    PresenceProof,
)
from muster_volunteer.domain.attendance import (
    ActivityView,
    Attendance,
    AttendanceRuleError,
    blocks_other_check_ins,
    check_in,
    check_out,
    evolve,
    evolve_view,
)

SECRET = b"k" * 32
STARTS = datetime(2025, 3, 5, 1, 0, tzinfo=UTC)
ENDS = datetime(2025, 3, 5, 4, 0, tzinfo=UTC)
ON_TIME = STARTS + timedelta(minutes=2)
SITE = Coordinates(39.6300, 118.1800)
NEARBY = Coordinates(39.6310, 118.1800)  # about 111 m north
FAR = Coordinates(39.6400, 118.1800)  # about 1.1 km north


def scheduled(**changes: object) -> ActivityScheduled:
    fields: dict[str, object] = {
        "activity_id": "act-1",
        "drive_id": "drive-1",
        "title": "Visit elderly residents",
        "place_area_id": "130203001001",
        "latitude": SITE.latitude,
        "longitude": SITE.longitude,
        "category": "elderly_care",
        "starts_at": STARTS,
        "ends_at": ENDS,
        "capacity": 5,
        "checkin_policy": CheckinPolicy.ASSIGNED_ONLY,
        "assigned_volunteer_ids": ["v-1"],
        "checkin_secret": encode_secret(SECRET),
        "checkin_tolerance_minutes": 15,
    }
    return ActivityScheduled.model_validate(fields | changes)


def activity(*events: DomainEvent, **changes: object) -> ActivityView:
    view = evolve_view(None, scheduled(**changes))
    for event in events:
        view = evolve_view(view, event)
    assert view is not None
    return view


def attendance(*events: DomainEvent, volunteer_id: str = "v-1") -> Attendance:
    state = Attendance("act-1", volunteer_id)
    for event in events:
        state = evolve(state, event)
    return state


def code_at(at: datetime) -> str:
    return checkin_code(SECRET, "act-1", at)


def checking_in(
    view: ActivityView | None = None,
    state: Attendance | None = None,
    *,
    volunteer_id: str = "v-1",
    at: datetime = ON_TIME,
    code: str | None = None,
    location: Coordinates | None = NEARBY,
    open_elsewhere: str | None = None,
    radius_m: float = 200,
) -> list[DomainEvent]:
    return check_in(
        view or activity(),
        state or attendance(volunteer_id=volunteer_id),
        volunteer_id,
        code_at(at) if code is None else code,
        at,
        location,
        open_elsewhere,
        radius_m,
    )


def refused(**kwargs: object) -> str:
    with pytest.raises(AttendanceRuleError) as excinfo:
        checking_in(**kwargs)  # type: ignore[arg-type]
    return excinfo.value.rule


CHECKED_IN = AttendanceCheckedIn(
    activity_id="act-1", volunteer_id="v-1", at=ON_TIME, proof=PresenceProof.CODE_AND_LOCATION
)


# --- the view of an activity ---------------------------------------------------------------


def test_the_view_follows_assignments_and_cancellation_and_ignores_the_rest() -> None:
    view = activity(
        ActivityVolunteersAssigned(activity_id="act-1", volunteer_ids=("v-2",)),
        BeneficiariesRecorded(activity_id="act-1", counts={}),
        ActivityCancelled(activity_id="act-1", reason="rain"),
    )

    assert view.assigned == {"v-1", "v-2"}
    assert view.cancelled
    assert view.checkin_secret == SECRET
    assert view.coordinates == SITE


def test_events_before_the_schedule_leave_no_view() -> None:
    assert evolve_view(None, ActivityCancelled(activity_id="act-1", reason="rain")) is None


# --- check-in ------------------------------------------------------------------------------


def test_an_assigned_volunteer_checks_in_with_code_and_location() -> None:
    events = checking_in()

    assert events == [
        AttendanceCheckedIn(
            activity_id="act-1",
            volunteer_id="v-1",
            at=ON_TIME,
            latitude=NEARBY.latitude,
            longitude=NEARBY.longitude,
            proof=PresenceProof.CODE_AND_LOCATION,
        )
    ]


def test_without_coordinates_the_code_alone_is_proof_and_no_location_is_kept() -> None:
    view = activity(latitude=None, longitude=None)

    events = checking_in(view, location=FAR)

    assert events == [
        AttendanceCheckedIn(
            activity_id="act-1", volunteer_id="v-1", at=ON_TIME, proof=PresenceProof.CODE
        )
    ]


def test_a_walk_in_checks_in_when_walk_ins_are_allowed() -> None:
    view = activity(checkin_policy=CheckinPolicy.WALK_INS_ALLOWED)

    assert len(checking_in(view, volunteer_id="v-9")) == 1


def test_a_volunteer_not_assigned_is_refused_when_the_policy_needs_it() -> None:
    assert refused(volunteer_id="v-9") == "not_assigned"


def test_a_volunteer_assigned_later_may_check_in() -> None:
    view = activity(ActivityVolunteersAssigned(activity_id="act-1", volunteer_ids=("v-9",)))

    assert len(checking_in(view, volunteer_id="v-9")) == 1


@pytest.mark.parametrize(
    ("at", "allowed"),
    [
        (STARTS - timedelta(minutes=15), True),
        (STARTS - timedelta(minutes=15, seconds=1), False),
        (ENDS, True),
        (ENDS + timedelta(seconds=1), False),
    ],
)
def test_check_in_opens_a_tolerance_before_the_start_and_closes_at_the_end(
    at: datetime, allowed: bool
) -> None:
    if allowed:
        assert len(checking_in(at=at)) == 1
    else:
        assert refused(at=at) == "outside_time_tolerance"


def test_the_code_shown_a_minute_ago_is_still_accepted() -> None:
    assert len(checking_in(at=ON_TIME, code=code_at(ON_TIME - timedelta(minutes=1)))) == 1


def test_an_older_code_has_expired() -> None:
    assert refused(code=code_at(ON_TIME - timedelta(minutes=5))) == "expired_code"


def test_a_code_of_another_activity_is_wrong() -> None:
    assert refused(code=checkin_code(SECRET, "act-2", ON_TIME)) == "wrong_code"


def test_a_phone_too_far_from_the_place_is_refused_saying_how_far() -> None:
    assert refused(location=FAR) == "too_far"
    with pytest.raises(AttendanceRuleError) as refusal:
        checking_in(location=FAR)
    assert refusal.value.figures["radius_m"] == 200
    assert refusal.value.figures["distance_m"] == round(distance_metres(SITE, FAR))


def test_the_radius_is_configurable() -> None:
    assert refused(radius_m=100) == "too_far"
    assert len(checking_in(location=FAR, radius_m=1500)) == 1


def test_an_activity_with_coordinates_needs_the_location() -> None:
    assert refused(location=None) == "location_required"


def test_a_cancelled_activity_takes_no_check_in() -> None:
    view = activity(ActivityCancelled(activity_id="act-1", reason="rain"))

    assert refused(view=view) == "activity_cancelled"


def test_checking_in_twice_is_refused() -> None:
    assert refused(state=attendance(CHECKED_IN)) == "already_checked_in"


def test_an_open_check_in_at_another_activity_is_an_overlap() -> None:
    assert refused(open_elsewhere="act-0") == "overlapping_check_in"


def test_volunteers_check_in_only_for_themselves() -> None:
    with pytest.raises(AttendanceRuleError) as excinfo:
        check_in(activity(), attendance(), "v-2", code_at(ON_TIME), ON_TIME, NEARBY, None, 200)

    assert (excinfo.value.field, excinfo.value.rule) == ("volunteer_id", "own_attendance_only")


def test_the_first_broken_rule_is_reported() -> None:
    # A wrong code from far away, outside the window: the time window is checked first.
    assert refused(at=ENDS + timedelta(hours=1), code="000000", location=FAR) == (
        "outside_time_tolerance"
    )
    assert refused(code="000000", location=FAR) in {"wrong_code", "expired_code"}


def test_naive_times_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        checking_in(at=datetime(2025, 3, 5, 9, 5), code="123456")


# --- check-out -----------------------------------------------------------------------------


def test_a_checked_in_volunteer_checks_out() -> None:
    events = check_out(activity(), attendance(CHECKED_IN), "v-1", ENDS)

    assert events == [AttendanceCheckedOut(activity_id="act-1", volunteer_id="v-1", at=ENDS)]
    state = attendance(CHECKED_IN, *events)
    assert not state.is_open
    assert state.version == 2


@pytest.mark.parametrize(
    ("state", "at", "rule"),
    [
        (attendance(), ENDS, "check_out_without_check_in"),
        (
            attendance(
                CHECKED_IN, AttendanceCheckedOut(activity_id="act-1", volunteer_id="v-1", at=ENDS)
            ),
            ENDS,
            "already_checked_out",
        ),
        (attendance(CHECKED_IN), ON_TIME - timedelta(seconds=1), "check_out_before_check_in"),
        (attendance(CHECKED_IN), ENDS + timedelta(minutes=15, seconds=1), "outside_time_tolerance"),
    ],
)
def test_check_out_is_refused_when(state: Attendance, at: datetime, rule: str) -> None:
    with pytest.raises(AttendanceRuleError) as excinfo:
        check_out(activity(), state, "v-1", at)

    assert excinfo.value.rule == rule


def test_check_out_is_allowed_up_to_a_tolerance_after_the_end() -> None:
    assert (
        len(check_out(activity(), attendance(CHECKED_IN), "v-1", ENDS + timedelta(minutes=15))) == 1
    )


def test_a_volunteer_can_still_check_out_of_a_cancelled_activity() -> None:
    view = activity(ActivityCancelled(activity_id="act-1", reason="rain"))

    assert len(check_out(view, attendance(CHECKED_IN), "v-1", ON_TIME + timedelta(minutes=30))) == 1


# --- overlap with other activities ---------------------------------------------------------


def test_an_open_attendance_blocks_other_check_ins_until_its_check_out_closes() -> None:
    view, state = activity(), attendance(CHECKED_IN)

    assert blocks_other_check_ins(view, state, ENDS + timedelta(minutes=15))
    assert not blocks_other_check_ins(view, state, ENDS + timedelta(minutes=16))


def test_a_closed_or_cancelled_attendance_blocks_nothing() -> None:
    checked_out = AttendanceCheckedOut(activity_id="act-1", volunteer_id="v-1", at=ENDS)
    cancelled = activity(ActivityCancelled(activity_id="act-1", reason="rain"))

    assert not blocks_other_check_ins(activity(), attendance(CHECKED_IN, checked_out), ON_TIME)
    assert not blocks_other_check_ins(cancelled, attendance(CHECKED_IN), ON_TIME)


# --- an amended activity --------------------------------------------------------------------

MOVED_SITE = Coordinates(39.6400, 118.1800)  # where FAR is


def moved(hours: int = 2, site: Coordinates | None = MOVED_SITE) -> ActivityAmended:
    return ActivityAmended(
        activity_id="act-1",
        starts_at=STARTS + timedelta(hours=hours),
        ends_at=ENDS + timedelta(hours=hours),
        place_area_id="130203001002",
        latitude=site.latitude if site else None,
        longitude=site.longitude if site else None,
        capacity=5,
        changed=(AmendedAspect.TIME, AmendedAspect.PLACE),
        affected_volunteer_ids=("v-1",),
    )


def test_check_in_follows_the_amended_time_window_and_place() -> None:
    view = activity(moved())
    new_start = STARTS + timedelta(hours=2)

    assert (view.starts_at, view.ends_at) == (new_start, ENDS + timedelta(hours=2))
    assert view.place_area_id == "130203001002"
    # The old window and the old site no longer admit; the new ones do.
    assert refused(view=view, at=ON_TIME, location=NEARBY) == "outside_time_tolerance"
    assert refused(view=view, at=new_start, location=NEARBY) == "too_far"
    events = checking_in(view, at=new_start, location=FAR)
    assert [e.event_type for e in events] == ["attendance.checked_in"]


def test_check_out_closes_at_the_amended_end_and_removed_coordinates_need_no_location() -> None:
    view = activity(moved(site=None))
    state = attendance(
        AttendanceCheckedIn(
            activity_id="act-1",
            volunteer_id="v-1",
            at=STARTS + timedelta(hours=2),
            proof=PresenceProof.CODE,
        )
    )

    assert view.coordinates is None
    assert checking_in(view, at=STARTS + timedelta(hours=2), location=None)
    late = ENDS + timedelta(hours=2, minutes=15)
    assert check_out(view, state, "v-1", late)
    with pytest.raises(AttendanceRuleError) as excinfo:
        check_out(view, state, "v-1", late + timedelta(seconds=1))
    assert excinfo.value.rule == "outside_time_tolerance"
