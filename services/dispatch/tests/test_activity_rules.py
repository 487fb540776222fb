"""Activity rules as specifications: given events, when an organiser's command, then events
or an error naming the broken rule.
"""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, timedelta

import orjson
import pytest
from hypothesis import given as for_all
from hypothesis import settings
from hypothesis import strategies as st

from muster_contracts.areas import AreaLevel, load_area_tree
from muster_contracts.events import DomainEvent, decode_payload
from muster_contracts.events.activities import (
    ActivityAmended,
    ActivityCancelled,
    ActivityScheduled,
    ActivityVolunteersAssigned,
    AmendedAspect,
    AttendanceCheckedIn,
    AttendanceCheckedOut,
    AttendanceClosedByRule,
    AttendanceCorrected,
    BeneficiariesRecorded,
    BeneficiaryGroup,
    CheckinPolicy,
    HoursApproved,
    NeverCheckedOutRule,
    PresenceProof,
    ServiceDayRecounted,
    ServiceRecordAdjusted,
    ServiceRecordIssued,
)
from muster_dispatch.domain.activity import (
    Activity,
    ActivityRuleError,
    AmendActivity,
    ScheduleActivity,
    amend_activity,
    approve_hours,
    assign_volunteers,
    cancel_activity,
    close_never_checked_out,
    correct_attendance,
    days_to_count,
    evolve,
    fold,
    never_checked_out,
    record_beneficiaries,
    schedule_activity,
    settle_records,
)
from muster_dispatch.domain.hours import HoursPolicy, Interval, credited_minutes
from muster_dispatch.domain.service_day import ServiceDay, recount

AREAS = load_area_tree()
PLACE = AREAS.at_level(AreaLevel.BUILDING)[0].id
POLICY = HoursPolicy()
SECRET = b"s" * 32
# 09:00-12:00 Shanghai time on 2025-03-05.
STARTS = datetime(2025, 3, 5, 1, 0, tzinfo=UTC)
ENDS = datetime(2025, 3, 5, 4, 0, tzinfo=UTC)
DAY = date(2025, 3, 5)
BEFORE = STARTS - timedelta(days=1)
DURING = STARTS + timedelta(hours=1)
AFTER = ENDS + timedelta(hours=3)


def form(**changes: object) -> ScheduleActivity:
    fields: dict[str, object] = {
        "drive_id": "drive-1",
        "title": "  Visit elderly residents ",
        "place_area_id": PLACE,
        "category": "elderly_care",
        "starts_at": STARTS,
        "ends_at": ENDS,
        "capacity": 3,
        "assigned_volunteer_ids": ["v-1", "v-2", "v-1"],
    }
    return ScheduleActivity.model_validate(fields | changes)


def given(*events: DomainEvent, **changes: object) -> Activity:
    state = Activity("act-1")
    for event in schedule_activity(state, form(**changes), SECRET, AREAS):
        state = evolve(state, event)
    for event in events:
        state = evolve(state, event)
    return state


def then(state: Activity, events: list[DomainEvent]) -> Activity:
    for event in events:
        state = evolve(state, event)
    return state


def checked_in(volunteer_id: str, at: datetime = STARTS) -> AttendanceCheckedIn:
    return AttendanceCheckedIn(
        activity_id="act-1", volunteer_id=volunteer_id, at=at, proof=PresenceProof.CODE
    )


def checked_out(volunteer_id: str, at: datetime = ENDS) -> AttendanceCheckedOut:
    return AttendanceCheckedOut(activity_id="act-1", volunteer_id=volunteer_id, at=at)


def rule_of(excinfo: pytest.ExceptionInfo[ActivityRuleError]) -> tuple[str, str]:
    return excinfo.value.field, excinfo.value.rule


# --- scheduling ----------------------------------------------------------------------------


def test_scheduling_records_the_activity_with_its_secret_and_distinct_assignees() -> None:
    events = schedule_activity(Activity("act-1"), form(), SECRET, AREAS)

    assert len(events) == 1
    event = events[0]
    assert isinstance(event, ActivityScheduled)
    assert event.title == "Visit elderly residents"
    assert event.assigned_volunteer_ids == ("v-1", "v-2")
    assert base64.b64decode(event.checkin_secret) == SECRET
    assert event.checkin_policy is CheckinPolicy.ASSIGNED_ONLY
    assert event.checkin_tolerance_minutes == 15


def test_scheduled_times_are_stored_in_utc() -> None:
    local = STARTS.astimezone(datetime.now(UTC).astimezone().tzinfo)
    event = schedule_activity(Activity("act-1"), form(starts_at=local), SECRET, AREAS)[0]

    assert isinstance(event, ActivityScheduled)
    assert event.starts_at.utcoffset() == timedelta(0)
    assert event.starts_at == STARTS


@pytest.mark.parametrize(
    ("changes", "field", "rule"),
    [
        ({"drive_id": None}, "drive_id", "drive_or_team"),
        ({"place_area_id": "999999"}, "place_area_id", "known_area"),
        ({"ends_at": STARTS}, "ends_at", "ends_after_start"),
        ({"latitude": 39.6}, "latitude", "coordinates_pair"),
        ({"assigned_volunteer_ids": ["a", "b", "c", "d"]}, "assigned_volunteer_ids", "capacity"),
    ],
)
def test_scheduling_refuses_broken_forms(changes: dict[str, object], field: str, rule: str) -> None:
    with pytest.raises(ActivityRuleError) as excinfo:
        schedule_activity(Activity("act-1"), form(**changes), SECRET, AREAS)

    assert rule_of(excinfo) == (field, rule)


def test_a_team_activity_needs_no_drive() -> None:
    events = schedule_activity(Activity("act-1"), form(drive_id=None, team_id="t-1"), SECRET, AREAS)

    assert isinstance(events[0], ActivityScheduled)
    assert events[0].team_id == "t-1"


def test_an_activity_is_scheduled_once() -> None:
    with pytest.raises(ActivityRuleError) as excinfo:
        schedule_activity(given(), form(), SECRET, AREAS)

    assert rule_of(excinfo) == ("activity_id", "unique")


def test_commands_on_an_unknown_activity_are_refused() -> None:
    with pytest.raises(ActivityRuleError) as excinfo:
        cancel_activity(Activity("act-9"), "rain", BEFORE)

    assert rule_of(excinfo) == ("activity_id", "exists")


# --- assignment and cancellation -----------------------------------------------------------


def test_assigning_records_only_the_volunteers_not_yet_assigned() -> None:
    events = assign_volunteers(given(), ["v-2", "v-3", "v-3"], BEFORE)

    assert events == [ActivityVolunteersAssigned(activity_id="act-1", volunteer_ids=("v-3",))]
    assert then(given(), events).assigned == {"v-1", "v-2", "v-3"}


def test_assigning_the_same_volunteers_again_changes_nothing() -> None:
    assert assign_volunteers(given(), ["v-1", "v-2"], BEFORE) == []


def test_assigning_beyond_capacity_is_refused() -> None:
    with pytest.raises(ActivityRuleError) as excinfo:
        assign_volunteers(given(), ["v-3", "v-4"], BEFORE)

    assert rule_of(excinfo) == ("volunteer_ids", "capacity")


def test_cancelling_tells_the_assigned_and_the_checked_in_volunteers() -> None:
    state = given(checked_in("walk-in"), checkin_policy=CheckinPolicy.WALK_INS_ALLOWED)

    events = cancel_activity(state, " heavy rain ", DURING)

    assert events == [
        ActivityCancelled(
            activity_id="act-1",
            reason="heavy rain",
            affected_volunteer_ids=("v-1", "v-2", "walk-in"),
        )
    ]


@pytest.mark.parametrize(
    ("state", "now", "rule"),
    [
        (
            given(ActivityCancelled(activity_id="act-1", reason="rain")),
            BEFORE,
            "activity_cancelled",
        ),
        (given(), ENDS, "activity_ended"),
    ],
)
def test_a_cancelled_or_ended_activity_cannot_be_cancelled_or_assigned(
    state: Activity, now: datetime, rule: str
) -> None:
    with pytest.raises(ActivityRuleError) as cancel:
        cancel_activity(state, "again", now)
    with pytest.raises(ActivityRuleError) as assign:
        assign_volunteers(state, ["v-3"], now)

    assert cancel.value.rule == assign.value.rule == rule


def test_cancelling_needs_a_reason() -> None:
    with pytest.raises(ActivityRuleError) as excinfo:
        cancel_activity(given(), "  ", BEFORE)

    assert rule_of(excinfo) == ("reason", "reason_required")


# --- beneficiaries -------------------------------------------------------------------------


def test_beneficiaries_are_recorded_in_full_for_every_group() -> None:
    events = record_beneficiaries(given(), {BeneficiaryGroup.ELDERLY: 12}, None, DURING)

    assert len(events) == 1
    event = events[0]
    assert isinstance(event, BeneficiariesRecorded)
    assert event.counts[BeneficiaryGroup.ELDERLY] == 12
    assert set(event.counts) == set(BeneficiaryGroup)
    assert event.total == 12
    assert event.reason is None


def test_amending_beneficiaries_needs_a_reason_and_records_the_new_counts() -> None:
    state = then(
        given(), record_beneficiaries(given(), {BeneficiaryGroup.ELDERLY: 12}, None, DURING)
    )
    new_counts = {BeneficiaryGroup.ELDERLY: 10, BeneficiaryGroup.DISABLED: 2}

    with pytest.raises(ActivityRuleError) as excinfo:
        record_beneficiaries(state, new_counts, None, AFTER)
    events = record_beneficiaries(state, new_counts, "two were counted twice", AFTER)

    assert rule_of(excinfo) == ("reason", "reason_required")
    amended = then(state, events).beneficiaries
    assert amended is not None
    assert amended.reason == "two were counted twice"
    assert amended.counts[BeneficiaryGroup.DISABLED] == 2
    assert amended.total == 12


def test_recording_the_same_beneficiaries_again_changes_nothing() -> None:
    state = then(
        given(), record_beneficiaries(given(), {BeneficiaryGroup.CHILDREN: 4}, None, DURING)
    )

    assert record_beneficiaries(state, {BeneficiaryGroup.CHILDREN: 4}, None, AFTER) == []


@pytest.mark.parametrize(
    ("state", "counts", "now", "rule"),
    [
        (given(), {BeneficiaryGroup.ELDERLY: 1}, BEFORE, "activity_not_started"),
        (given(), {BeneficiaryGroup.ELDERLY: -1}, DURING, "non_negative"),
        (
            given(ActivityCancelled(activity_id="act-1", reason="rain")),
            {BeneficiaryGroup.ELDERLY: 1},
            DURING,
            "activity_cancelled",
        ),
    ],
)
def test_beneficiaries_are_refused_when(
    state: Activity, counts: dict[BeneficiaryGroup, int], now: datetime, rule: str
) -> None:
    with pytest.raises(ActivityRuleError) as excinfo:
        record_beneficiaries(state, counts, None, now)

    assert excinfo.value.rule == rule


# --- attendance corrections ----------------------------------------------------------------


def test_a_missing_check_out_is_corrected_with_reason_and_actor() -> None:
    state = given(checked_in("v-1"))

    events = correct_attendance(state, "v-1", None, ENDS, "phone battery died", "org-1", AFTER)

    assert events == [
        AttendanceCorrected(
            activity_id="act-1",
            volunteer_id="v-1",
            check_out_at=ENDS,
            reason="phone battery died",
            corrected_by="org-1",
        )
    ]
    corrected = then(state, events).attendances["v-1"]
    assert (corrected.check_in_at, corrected.check_out_at) == (STARTS, ENDS)


def test_a_correction_overrides_what_the_volunteer_recorded() -> None:
    state = given(checked_in("v-1"), checked_out("v-1", STARTS + timedelta(minutes=5)))

    state = then(
        state,
        correct_attendance(state, "v-1", None, ENDS, "tapped too early", "org-1", AFTER),
    )
    # A late duplicate of the volunteer's own check-out does not undo the correction.
    state = evolve(state, checked_out("v-1", STARTS + timedelta(minutes=5)))

    assert state.attendances["v-1"].check_out_at == ENDS


def test_a_missing_check_in_of_an_assigned_volunteer_is_corrected_with_both_times() -> None:
    events = correct_attendance(given(), "v-2", STARTS, ENDS, "no phone", "org-1", AFTER)

    state = then(given(), events)
    assert state.attendances["v-2"].interval == Interval(STARTS, ENDS)


def test_a_walk_in_can_be_corrected_in_when_walk_ins_are_allowed() -> None:
    state = given(checkin_policy=CheckinPolicy.WALK_INS_ALLOWED)

    events = correct_attendance(state, "v-9", STARTS, ENDS, "walked in", "org-1", AFTER)

    assert len(events) == 1


def test_the_same_correction_twice_changes_nothing() -> None:
    state = given(checked_in("v-1"))
    state = then(state, correct_attendance(state, "v-1", None, ENDS, "forgot", "org-1", AFTER))

    assert correct_attendance(state, "v-1", None, ENDS, "forgot", "org-1", AFTER) == []


@pytest.mark.parametrize(
    ("volunteer_id", "check_in_at", "check_out_at", "reason", "field", "rule"),
    [
        ("v-1", None, ENDS, " ", "reason", "reason_required"),
        ("v-1", None, None, "why", "check_in_at", "nothing_to_correct"),
        (
            "v-1",
            None,
            STARTS - timedelta(minutes=1),
            "why",
            "check_out_at",
            "check_out_before_check_in",
        ),
        ("v-1", None, AFTER + timedelta(hours=1), "why", "check_out_at", "in_the_future"),
        ("v-1", None, datetime(2025, 3, 5, 12), "why", "check_out_at", "timezone_aware"),
        ("v-2", None, ENDS, "why", "check_in_at", "check_in_required"),
        ("stranger", STARTS, ENDS, "why", "volunteer_id", "not_assigned"),
    ],
)
def test_corrections_are_refused_when(
    volunteer_id: str,
    check_in_at: datetime | None,
    check_out_at: datetime | None,
    reason: str,
    field: str,
    rule: str,
) -> None:
    state = given(checked_in("v-1"))

    with pytest.raises(ActivityRuleError) as excinfo:
        correct_attendance(state, volunteer_id, check_in_at, check_out_at, reason, "org-1", AFTER)

    assert rule_of(excinfo) == (field, rule)


def test_a_cancelled_activity_takes_no_corrections() -> None:
    state = given(checked_in("v-1"), ActivityCancelled(activity_id="act-1", reason="rain"))

    with pytest.raises(ActivityRuleError) as excinfo:
        correct_attendance(state, "v-1", None, ENDS, "why", "org-1", AFTER)

    assert excinfo.value.rule == "activity_cancelled"


# --- never checked out ---------------------------------------------------------------------


def test_attendances_never_checked_out_are_listed() -> None:
    state = given(checked_in("v-1"), checked_in("v-2"), checked_out("v-2"))

    assert [a.volunteer_id for a in never_checked_out(state)] == ["v-1"]


def test_flagged_attendances_stay_listed_until_corrected() -> None:
    state = given(checked_in("v-1"))
    state = then(state, close_never_checked_out(state, AFTER, POLICY))

    assert [a.volunteer_id for a in never_checked_out(state)] == ["v-1"]
    assert close_never_checked_out(state, AFTER, POLICY) == []

    state = then(state, correct_attendance(state, "v-1", None, ENDS, "left at end", "org-1", AFTER))
    assert never_checked_out(state) == ()


def test_the_closure_waits_for_the_longer_of_grace_and_tolerance() -> None:
    state = given(checked_in("v-1"), checkin_tolerance_minutes=60)
    policy = HoursPolicy(grace_minutes=10)

    assert close_never_checked_out(state, ENDS + timedelta(minutes=59), policy) == []
    assert close_never_checked_out(state, ENDS + timedelta(minutes=60), policy) == [
        AttendanceClosedByRule(
            activity_id="act-1", volunteer_id="v-1", rule=NeverCheckedOutRule.FLAG_FOR_REVIEW
        )
    ]


def test_a_cancelled_activity_closes_nothing() -> None:
    state = given(checked_in("v-1"), ActivityCancelled(activity_id="act-1", reason="rain"))

    assert close_never_checked_out(state, AFTER, POLICY) == []


# --- approval ------------------------------------------------------------------------------


def test_approval_certifies_and_the_days_decide_the_records() -> None:
    state = given(checked_in("v-1"), checked_out("v-1"))

    events = approve_hours(state, "org-1", AFTER)

    assert events == [HoursApproved(activity_id="act-1", approved_by="org-1", at=AFTER)]
    assert days_to_count(then(state, events), "v-1", POLICY) == [DAY]


def test_a_records_first_count_issues_it_even_at_zero_minutes() -> None:
    state = given(checked_in("v-1"), checked_out("v-1"))
    state = then(state, approve_hours(state, "org-1", AFTER))

    events = settle_records(state, "v-1", DAY, 180, "org-2", "recounted")
    zero = settle_records(state, "v-2", DAY, 0, "org-2", "recounted")

    assert events == [
        ServiceRecordIssued(
            activity_id="act-1",
            record_id="act-1-v-1-20250305",
            volunteer_id="v-1",
            drive_id="drive-1",
            category="elderly_care",
            place_area_id=PLACE,
            service_date=DAY,
            minutes=180,
            approved_by="org-1",
        )
    ]
    record = events[0]
    assert isinstance(record, ServiceRecordIssued)
    assert str(record.hours) == "3"
    assert [(e.volunteer_id, e.minutes) for e in zero if isinstance(e, ServiceRecordIssued)] == [
        ("v-2", 0)
    ]


def test_records_are_settled_only_once_approved_and_only_when_they_differ() -> None:
    state = given(checked_in("v-1"), checked_out("v-1"))
    assert settle_records(state, "v-1", DAY, 180, "org-1", "recounted") == []

    state = then(state, approve_hours(state, "org-1", AFTER))
    state = then(state, settle_records(state, "v-1", DAY, 180, "org-1", "recounted"))

    assert settle_records(state, "v-1", DAY, 180, "org-1", "recounted") == []
    assert settle_records(state, "v-9", DAY, None, "org-1", "recounted") == []


def test_approval_is_refused_while_an_attendance_is_open() -> None:
    state = given(checked_in("v-1"), checked_in("v-2"))

    with pytest.raises(ActivityRuleError) as excinfo:
        approve_hours(state, "org-1", AFTER)

    assert rule_of(excinfo) == ("attendances", "open_attendances")
    assert "v-1, v-2" in str(excinfo.value)


@pytest.mark.parametrize(
    ("state", "now", "rule"),
    [
        (given(), DURING, "activity_not_ended"),
        (given(ActivityCancelled(activity_id="act-1", reason="rain")), AFTER, "activity_cancelled"),
        (
            given(HoursApproved(activity_id="act-1", approved_by="org-1", at=AFTER)),
            AFTER,
            "already_approved",
        ),
    ],
)
def test_approval_is_refused_when(state: Activity, now: datetime, rule: str) -> None:
    with pytest.raises(ActivityRuleError) as excinfo:
        approve_hours(state, "org-1", now)

    assert excinfo.value.rule == rule


def test_after_approval_the_activity_takes_no_cancellation_or_assignment() -> None:
    state = given(checked_in("v-1"), checked_out("v-1"))
    state = then(state, approve_hours(state, "org-1", ENDS))

    with pytest.raises(ActivityRuleError) as excinfo:
        cancel_activity(state, "too late", ENDS)

    assert excinfo.value.rule == "already_approved"


def test_a_record_counted_down_to_zero_is_adjusted_not_removed() -> None:
    state = given(checked_in("v-1"), checked_out("v-1"))
    state = then(state, approve_hours(state, "org-1", AFTER))
    state = then(state, settle_records(state, "v-1", DAY, 180, "org-1", "recounted"))

    events = settle_records(state, "v-1", DAY, None, "org-2", "left early")

    assert events == [
        ServiceRecordAdjusted(
            activity_id="act-1",
            record_id="act-1-v-1-20250305",
            volunteer_id="v-1",
            service_date=DAY,
            delta_minutes=-180,
            reason="left early",
            adjusted_by="org-2",
        )
    ]
    assert then(state, events).records[("v-1", DAY)].minutes == 0


def test_a_correction_after_approval_only_records_the_new_times() -> None:
    state = given(checked_in("v-1"), checked_out("v-1"))
    state = then(state, approve_hours(state, "org-1", AFTER))

    events = correct_attendance(
        state, "v-1", None, ENDS - timedelta(hours=1), "left", "org-1", AFTER
    )

    assert [type(e) for e in events] == [AttendanceCorrected]
    assert days_to_count(then(state, events), "v-1", POLICY) == [DAY]


# --- the fold ------------------------------------------------------------------------------


def test_the_version_counts_only_the_activity_streams_own_events() -> None:
    state = fold(
        "act-1",
        [
            *schedule_activity(Activity("act-1"), form(), SECRET, AREAS),
            checked_in("v-1"),
            checked_out("v-1"),
            ActivityCancelled(activity_id="act-1", reason="rain"),
        ],
    )

    assert state.version == 2
    assert state.cancelled
    assert state.attendances["v-1"].interval == Interval(STARTS, ENDS)


def test_every_event_of_a_full_story_round_trips_through_its_stored_json() -> None:
    state = given(checked_in("v-1"))
    story: list[DomainEvent] = [
        *schedule_activity(Activity("act-1"), form(latitude=39.6, longitude=118.2), SECRET, AREAS),
        *assign_volunteers(state, ["v-3"], BEFORE),
        *record_beneficiaries(state, {BeneficiaryGroup.OUTDOOR_WORKERS: 7}, None, DURING),
        *close_never_checked_out(state, AFTER, POLICY),
        *cancel_activity(state, "rain", DURING),
        checked_in("v-1"),
        checked_out("v-1"),
    ]
    state = then(state, correct_attendance(state, "v-1", None, ENDS, "forgot", "org-1", AFTER))
    approval = approve_hours(state, "org-1", AFTER)
    state = then(state, approval)
    story += approval
    issued = settle_records(state, "v-1", DAY, 180, "org-1", "recounted")
    story += issued
    story += correct_attendance(
        state, "v-1", None, ENDS - timedelta(hours=1), "left", "org-1", AFTER
    )
    story += settle_records(then(state, issued), "v-1", DAY, 120, "org-1", "recounted")
    story += recount(ServiceDay("v-1", DAY), "act-1", Interval(STARTS, ENDS), POLICY)

    assert {type(e) for e in story} >= {
        ServiceDayRecounted,
        ServiceRecordIssued,
        ServiceRecordAdjusted,
        BeneficiariesRecorded,
    }
    for event in story:
        stored = orjson.loads(orjson.dumps(event.model_dump(mode="json")))
        assert decode_payload(event.event_type, event.schema_version, stored) == event


# --- amendment ------------------------------------------------------------------------------

OTHER_PLACE = AREAS.at_level(AreaLevel.BUILDING)[1].id


def amend(state: Activity, **fields: object) -> list[DomainEvent]:
    return amend_activity(state, AmendActivity.model_validate(fields), AREAS)


def test_an_amendment_carries_the_new_time_place_and_capacity_and_whom_to_tell() -> None:
    walk_in = checked_in("v-9", STARTS)
    state = given(walk_in, checkin_policy=CheckinPolicy.WALK_INS_ALLOWED)

    moved: dict[str, object] = {
        "starts_at": STARTS - timedelta(hours=1),
        "ends_at": ENDS + timedelta(hours=1),
        "place_area_id": OTHER_PLACE,
        "latitude": 39.6,
        "longitude": 118.2,
        "capacity": 5,
    }

    events = amend(state, **moved, reason=" 场地调整 ")

    assert events == [
        ActivityAmended.model_validate(
            moved
            | {
                "activity_id": "act-1",
                "changed": (AmendedAspect.TIME, AmendedAspect.PLACE, AmendedAspect.CAPACITY),
                "reason": "场地调整",
                "affected_volunteer_ids": ("v-1", "v-2", "v-9"),
            }
        )
    ]
    amended = then(state, events)
    assert amended.scheduled is not None
    assert (amended.scheduled.starts_at, amended.scheduled.ends_at) == (
        STARTS - timedelta(hours=1),
        ENDS + timedelta(hours=1),
    )
    assert (amended.scheduled.place_area_id, amended.scheduled.capacity) == (OTHER_PLACE, 5)
    assert amended.scheduled.title == "Visit elderly residents"  # the rest stays
    assert amended.version == state.version + 1
    assert amend(amended, starts_at=STARTS - timedelta(hours=1)) == []  # as it is already


def test_an_amendment_names_only_what_changed_and_a_retry_changes_nothing() -> None:
    state = given()
    events = amend(state, capacity=4)
    assert [e.changed for e in events if isinstance(e, ActivityAmended)] == [
        (AmendedAspect.CAPACITY,)
    ]
    assert amend(then(state, events), capacity=4) == []
    assert amend(state, place_area_id=PLACE, ends_at=ENDS) == []


def test_coordinates_are_amended_together_and_both_null_remove_them() -> None:
    state = given(latitude=39.6, longitude=118.2)
    with pytest.raises(ActivityRuleError) as excinfo:
        amend(state, latitude=40.0)
    assert rule_of(excinfo) == ("latitude", "coordinates_pair")
    removed = then(state, amend(state, latitude=None, longitude=None))
    assert removed.scheduled is not None
    assert removed.scheduled.latitude is None
    assert removed.scheduled.longitude is None


@pytest.mark.parametrize(
    ("history", "fields", "broken"),
    [
        (
            [ActivityCancelled(activity_id="act-1", reason="rain")],
            {"capacity": 4},
            ("activity_id", "activity_cancelled"),
        ),
        (
            [HoursApproved(activity_id="act-1", approved_by="org", at=AFTER)],
            {"capacity": 4},
            ("activity_id", "already_approved"),
        ),
        ([], {"ends_at": STARTS}, ("ends_at", "ends_after_start")),
        ([], {"starts_at": ENDS + timedelta(minutes=1)}, ("ends_at", "ends_after_start")),
        ([], {"capacity": 1}, ("capacity", "capacity_below_assigned")),
        ([], {"place_area_id": "13020399"}, ("place_area_id", "known_area")),
        # A check-in at the start must stay inside start - 15 min .. end.
        (
            [checked_in("v-1", STARTS)],
            {"starts_at": STARTS + timedelta(minutes=16)},
            ("starts_at", "recorded_attendance_outside"),
        ),
        (
            [checked_in("v-1", STARTS + timedelta(hours=2))],
            {"ends_at": STARTS + timedelta(hours=1)},
            ("starts_at", "recorded_attendance_outside"),
        ),
        # A check-out may come until the end + 15 min.
        (
            [checked_in("v-1", STARTS), checked_out("v-1", ENDS)],
            {"ends_at": ENDS - timedelta(minutes=16)},
            ("starts_at", "recorded_attendance_outside"),
        ),
    ],
)
def test_amendments_that_break_a_rule_are_refused_by_name(
    history: list[DomainEvent], fields: dict[str, object], broken: tuple[str, str]
) -> None:
    with pytest.raises(ActivityRuleError) as excinfo:
        amend(given(*history), **fields)
    assert rule_of(excinfo) == broken


def test_capacity_may_come_down_to_the_volunteers_assigned() -> None:
    state = given()
    assert [e.capacity for e in amend(state, capacity=2) if isinstance(e, ActivityAmended)] == [2]
    amended = then(state, amend(state, capacity=2))
    with pytest.raises(ActivityRuleError) as excinfo:
        assign_volunteers(amended, ["v-3"], DURING)
    assert rule_of(excinfo) == ("volunteer_ids", "capacity")


def test_a_moved_activity_is_approved_closed_and_recorded_by_its_amended_times_and_place() -> None:
    moved_end = ENDS + timedelta(hours=2)
    state = given(checked_in("v-1", STARTS))
    state = then(state, amend(state, ends_at=moved_end, place_area_id=OTHER_PLACE))
    credit = POLICY.model_copy(
        update={"never_checked_out_rule": NeverCheckedOutRule.CREDIT_SCHEDULED_END}
    )

    with pytest.raises(ActivityRuleError) as excinfo:
        approve_hours(state, "org", ENDS + timedelta(hours=1))  # the old end passed, not the new
    assert rule_of(excinfo) == ("now", "activity_not_ended")
    assert close_never_checked_out(state, ENDS + timedelta(hours=3), credit) == []
    closed = close_never_checked_out(state, moved_end + timedelta(hours=2), credit)
    assert [e.check_out_at for e in closed if isinstance(e, AttendanceClosedByRule)] == [moved_end]

    state = then(state, closed)
    state = then(state, approve_hours(state, "org", moved_end + timedelta(hours=2)))
    interval = state.attendance("v-1").interval
    assert interval == Interval(STARTS, moved_end)
    minutes = credited_minutes([interval], POLICY).minutes_by_day[DAY]
    issued = settle_records(state, "v-1", DAY, minutes, "org", "approved")
    assert [(e.place_area_id, e.minutes) for e in issued if isinstance(e, ServiceRecordIssued)] == [
        (OTHER_PLACE, 5 * 60)
    ]


def test_an_attendance_credited_the_scheduled_end_by_the_rule_is_credited_the_amended_end() -> None:
    closed = AttendanceClosedByRule(
        activity_id="act-1",
        volunteer_id="v-1",
        rule=NeverCheckedOutRule.CREDIT_SCHEDULED_END,
        check_out_at=ENDS,
    )
    flagged = AttendanceClosedByRule(
        activity_id="act-1", volunteer_id="v-2", rule=NeverCheckedOutRule.FLAG_FOR_REVIEW
    )
    state = given(checked_in("v-1"), checked_in("v-2"), closed, flagged)
    earlier = ENDS - timedelta(hours=1)

    amended = then(state, amend(state, ends_at=earlier))

    assert amended.attendance("v-1").interval == Interval(STARTS, earlier)
    assert amended.attendance("v-2").interval is None  # flagged: still for review


def test_an_amendment_round_trips_through_its_schema() -> None:
    event = amend(given(), starts_at=STARTS - timedelta(hours=1), capacity=9)[0]
    payload = orjson.loads(orjson.dumps(event.model_dump(mode="json")))
    assert decode_payload("activity.amended", 1, payload) == event


@settings(max_examples=200, deadline=None, derandomize=True)
@for_all(
    check_in_minutes=st.integers(min_value=-15, max_value=180),
    start_shift=st.integers(min_value=-600, max_value=600),
    end_shift=st.integers(min_value=-600, max_value=600),
    capacity=st.integers(min_value=1, max_value=6),
)
def test_any_amendment_is_refused_by_name_or_keeps_every_recorded_attendance_valid(
    check_in_minutes: int, start_shift: int, end_shift: int, capacity: int
) -> None:
    """Whatever the organiser asks, either a named rule refuses it, or the amended activity
    is well formed, holds its assigned volunteers and every recorded check-in lies in the
    amended check-in window (so check-ins, corrections and hours stay consistent)."""
    at = STARTS + timedelta(minutes=check_in_minutes)
    state = given(checked_in("v-1", at))
    starts_at = STARTS + timedelta(minutes=start_shift)
    ends_at = ENDS + timedelta(minutes=end_shift)
    broken = [
        rule
        for rule, breaks in (
            ("ends_after_start", ends_at <= starts_at),
            ("capacity_below_assigned", capacity < 2),
            (
                "recorded_attendance_outside",
                not starts_at - timedelta(minutes=15) <= at <= ends_at,
            ),
        )
        if breaks
    ]
    if broken:
        with pytest.raises(ActivityRuleError) as excinfo:
            amend(state, starts_at=starts_at, ends_at=ends_at, capacity=capacity)
        assert excinfo.value.rule == broken[0]  # checked in this order
        return
    events = amend(state, starts_at=starts_at, ends_at=ends_at, capacity=capacity)
    amended = then(state, events).scheduled
    assert amended is not None
    assert amended.starts_at < amended.ends_at
    assert amended.capacity >= len(state.assigned)
    assert amended.starts_at - timedelta(minutes=15) <= at <= amended.ends_at
