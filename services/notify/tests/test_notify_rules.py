"""Who is told what: given an event and what notify knows, then these messages."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from muster_contracts.areas import load_area_tree
from muster_contracts.eligibility import VolunteerProfile
from muster_contracts.envelope import Role
from muster_contracts.events import Skill, VolunteerCategory
from muster_contracts.events.activities import (
    ActivityAmended,
    ActivityCancelled,
    AmendedAspect,
    ServiceRecordIssued,
)
from muster_contracts.events.drives import (
    DriveLaunched,
    Eligibility,
    PromotionReason,
    ServiceCategory,
    SignUpAccepted,
    SignUpDeclined,
    SignUpOutcome,
    SignUpPromoted,
    SignUpWaitlisted,
    SignUpWithdrawalRecorded,
    TeamFormed,
    TeamLeaderChanged,
    TeamMemberMoved,
    TeamsMerged,
    TeamSplit,
)
from muster_contracts.events.drives import Role as DriveRole
from muster_contracts.teams import Team, evolve_teams
from muster_notify.domain.messages import Cause, Language, MessageKind, message_id
from muster_notify.domain.rules import (
    Activity,
    amended,
    amendment_messages,
    bucket_of,
    buckets_from,
    cancellation_messages,
    drive_fits,
    drive_launched_message,
    hours_approved_message,
    place_name,
    sign_up_messages,
    stars_reached,
    team_messages,
    timer_messages,
    timers_for,
    worth_broadcasting,
)
from muster_notify.domain.texts import language_of, render

AREAS = load_area_tree()
STREET = "130203001"
COMMUNITY = AREAS.children(STREET)[0].id
OTHER_STREET = "130203002"
OTHER_COMMUNITY = AREAS.children(OTHER_STREET)[0].id
NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
CAUSE = Cause("event-1", NOW)
LATE_AFTER = timedelta(minutes=1)


def launched(**changes: object) -> DriveLaunched:
    fields: dict[str, object] = {
        "drive_id": "d-1",
        "title": "楼道清理",
        "organiser": "organiser-li",
        "scope_area_id": STREET,
        "category": ServiceCategory.ENVIRONMENT,
        "roles": (DriveRole(role_id="general", headcount=10),),
        "signup_opens_at": NOW,
        "signup_closes_at": NOW + timedelta(days=1),
        "activity_starts_at": NOW + timedelta(days=2),
        "activity_ends_at": NOW + timedelta(days=2, hours=3),
        "eligibility": Eligibility(),
        "team_size_min": 3,
        "team_size_max": 8,
    }
    return DriveLaunched.model_validate(fields | changes)


def volunteer(home: str = COMMUNITY, **changes: object) -> VolunteerProfile:
    fields: dict[str, object] = {
        "home_area_id": home,
        "categories": (VolunteerCategory.RESIDENT,),
        "skills": (Skill.GENERAL,),
        "birth_year": 1980,
    }
    return VolunteerProfile.model_validate(fields | changes)


def activity(**changes: object) -> Activity:
    fields: dict[str, object] = {
        "activity_id": "a-1",
        "title": "为老服务",
        "starts_at": NOW + timedelta(days=1),
        "ends_at": NOW + timedelta(days=1, hours=3),
        "checkin_opens_at": NOW + timedelta(days=1) - timedelta(minutes=15),
        "drive_id": "d-1",
        "assigned": frozenset({"v-1", "v-2"}),
    }
    return Activity(**(fields | changes))  # type: ignore[arg-type]


# --- the message id --------------------------------------------------------------------


def test_a_message_id_depends_on_recipient_cause_and_kind_only() -> None:
    first = message_id("v-1", "event-1", MessageKind.SIGN_UP_ACCEPTED)

    assert first == message_id("v-1", "event-1", MessageKind.SIGN_UP_ACCEPTED)
    assert first != message_id("v-2", "event-1", MessageKind.SIGN_UP_ACCEPTED)
    assert first != message_id("v-1", "event-2", MessageKind.SIGN_UP_ACCEPTED)
    assert first != message_id("v-1", "event-1", MessageKind.SIGN_UP_PROMOTED)


# --- drive launched ------------------------------------------------------------------------


def test_a_drive_fits_a_volunteer_living_in_its_scope() -> None:
    assert drive_fits(launched(), volunteer(COMMUNITY), AREAS)


def test_a_drive_is_never_told_outside_its_scope() -> None:
    assert not drive_fits(launched(), volunteer(OTHER_COMMUNITY), AREAS)


def test_a_home_area_the_tree_does_not_know_is_not_reached() -> None:
    assert not drive_fits(launched(), volunteer("1302039999"), AREAS)


def test_a_party_members_only_drive_is_told_to_party_members_only() -> None:
    drive = launched(eligibility=Eligibility(party_members_only=True))

    assert not drive_fits(drive, volunteer(), AREAS)
    assert drive_fits(
        drive, volunteer(categories=(VolunteerCategory.IN_SERVICE_PARTY_MEMBER,)), AREAS
    )


def test_a_minimum_age_counts_in_the_year_the_activity_starts() -> None:
    drive = launched(eligibility=Eligibility(min_age=18))

    assert drive_fits(drive, volunteer(birth_year=2008), AREAS)  # 18 in 2026
    assert not drive_fits(drive, volunteer(birth_year=2009), AREAS)
    assert not drive_fits(drive, volunteer(birth_year=None), AREAS)


def test_a_drive_of_skill_roles_is_told_to_those_with_one_of_the_skills() -> None:
    drive = launched(roles=(DriveRole(role_id="medic", skill=Skill.FIRST_AID, headcount=2),))

    assert not drive_fits(drive, volunteer(), AREAS)
    assert drive_fits(drive, volunteer(skills=(Skill.FIRST_AID,)), AREAS)


def test_a_drive_is_broadcast_only_while_its_sign_up_window_is_open() -> None:
    drive = launched()

    assert worth_broadcasting(drive, False, NOW)
    assert not worth_broadcasting(drive, True, NOW)
    assert not worth_broadcasting(drive, False, drive.signup_closes_at)


def test_the_drive_launched_message_carries_the_drive() -> None:
    message = drive_launched_message("v-1", launched(), CAUSE)

    assert (message.kind, message.drive_id, message.volunteer_id) == (
        MessageKind.DRIVE_LAUNCHED,
        "d-1",
        "v-1",
    )
    assert message.params["drive_title"] == "楼道清理"


# --- sign-up decisions -----------------------------------------------------------------------


SIGN_UP = {"drive_id": "d-1", "sign_up_id": "s-1", "volunteer_id": "v-1", "role_id": "general"}
KNOWN = {"home_area_id": COMMUNITY, "skills": (Skill.GENERAL,), "is_party_member": False}


def test_an_accepted_sign_up_is_told_to_its_volunteer() -> None:
    [message] = sign_up_messages(SignUpAccepted(**SIGN_UP, **KNOWN), CAUSE, Role.SYSTEM, "楼道清理")

    assert (message.volunteer_id, message.kind) == ("v-1", MessageKind.SIGN_UP_ACCEPTED)
    assert message.params["drive_title"] == "楼道清理"


def test_a_waitlisted_sign_up_says_its_position() -> None:
    [message] = sign_up_messages(
        SignUpWaitlisted(**SIGN_UP, **KNOWN, position=3), CAUSE, Role.VOLUNTEER, "楼道清理"
    )

    assert message.kind is MessageKind.SIGN_UP_WAITLISTED
    assert message.params["position"] == 3
    assert "3" in render(message.kind, message.params, Language.ZH_CN)[1]


def test_a_promotion_and_a_decline_are_told() -> None:
    promoted = sign_up_messages(
        SignUpPromoted(**SIGN_UP, reason=PromotionReason.WITHDRAWAL), CAUSE, Role.VOLUNTEER, None
    )
    declined = sign_up_messages(
        SignUpDeclined(**SIGN_UP, rule="not_eligible:min_age"), CAUSE, Role.VOLUNTEER, None
    )

    assert [m.kind for m in promoted + declined] == [
        MessageKind.SIGN_UP_PROMOTED,
        MessageKind.SIGN_UP_DECLINED,
    ]


@pytest.mark.parametrize(("actor", "told"), [(Role.VOLUNTEER, 0), (Role.ORGANISER, 1)])
def test_a_withdrawal_is_told_only_when_someone_else_withdrew(actor: Role, told: int) -> None:
    event = SignUpWithdrawalRecorded(**SIGN_UP, was=SignUpOutcome.ACCEPTED, reason="重复报名")

    messages = sign_up_messages(event, CAUSE, actor, "楼道清理")

    assert len(messages) == told
    assert all(m.kind is MessageKind.SIGN_UP_WITHDRAWN for m in messages)


# --- teams ------------------------------------------------------------------------------------


def test_a_formed_team_tells_each_member_the_team_and_its_leader() -> None:
    event = TeamFormed(
        team_id="t-1", drive_id="d-1", formation=1, members=("v-1", "v-2"), leader_id="v-2"
    )

    messages = team_messages(event, CAUSE, {}, "楼道清理")

    assert [(m.volunteer_id, m.params["leader_id"], m.params["is_leader"]) for m in messages] == [
        ("v-1", "v-2", False),
        ("v-2", "v-2", True),
    ]
    assert "v-2" in render(messages[0].kind, messages[0].params, Language.EN)[1]


def test_a_moved_member_is_told_the_new_team_and_its_leader() -> None:
    teams = {
        "t-1": Team("t-1", "d-1", "v-1", ("v-1", "v-3")),
        "t-2": Team("t-2", "d-1", "v-2", ("v-2",)),
    }
    event = TeamMemberMoved(
        drive_id="d-1", volunteer_id="v-3", from_team_id="t-1", to_team_id="t-2"
    )

    [message] = team_messages(event, CAUSE, teams, None)
    after = evolve_teams(teams, event)

    assert (message.volunteer_id, message.params["team_id"], message.params["leader_id"]) == (
        "v-3",
        "t-2",
        "v-2",
    )
    assert after["t-1"].members == ("v-1",)
    assert after["t-2"].members == ("v-2", "v-3")


def test_a_split_tells_the_members_who_left_with_the_new_leader() -> None:
    teams = {"t-1": Team("t-1", "d-1", "v-1", ("v-1", "v-2", "v-3"))}
    event = TeamSplit(
        drive_id="d-1", team_id="t-1", new_team_id="t-9", moved_members=("v-2", "v-3"),
        new_leader_id="v-3",
    )  # fmt: skip

    messages = team_messages(event, CAUSE, teams, None)

    assert [(m.volunteer_id, m.params["team_id"]) for m in messages] == [
        ("v-2", "t-9"),
        ("v-3", "t-9"),
    ]
    assert evolve_teams(teams, event)["t-1"].members == ("v-1",)


def test_a_merge_tells_the_absorbed_members_and_a_leader_change_everyone() -> None:
    teams = {
        "t-1": Team("t-1", "d-1", "v-1", ("v-1", "v-2")),
        "t-2": Team("t-2", "d-1", "v-3", ("v-3",)),
    }
    merged = TeamsMerged(drive_id="d-1", team_id="t-1", absorbed_team_id="t-2", leader_id="v-1")
    changed = TeamLeaderChanged(
        drive_id="d-1", team_id="t-1", leader_id="v-2", previous_leader_id="v-1"
    )

    told_of_merge = team_messages(merged, CAUSE, teams, None)
    after = evolve_teams(teams, merged)
    told_of_leader = team_messages(changed, CAUSE, {**teams, **after}, None)

    assert [m.volunteer_id for m in told_of_merge] == ["v-3"]
    assert after["t-1"].members == ("v-1", "v-2", "v-3")
    assert [(m.volunteer_id, m.params["is_leader"]) for m in told_of_leader] == [
        ("v-1", False),
        ("v-2", True),
        ("v-3", False),
    ]


# --- cancellation ----------------------------------------------------------------------------


LEADS = (timedelta(hours=24), timedelta(hours=1))


def test_a_cancellation_tells_everyone_it_affects_once() -> None:
    event = ActivityCancelled(
        activity_id="a-1", reason="暴雨", affected_volunteer_ids=("v-1", "v-2", "v-1")
    )

    messages = cancellation_messages(event, CAUSE, activity())

    assert [m.volunteer_id for m in messages] == ["v-1", "v-2"]
    assert all(m.kind is MessageKind.ACTIVITY_CANCELLED for m in messages)
    assert "暴雨" in render(messages[0].kind, messages[0].params, Language.ZH_CN)[1]


def amendment(*changed: AmendedAspect, reason: str | None = None) -> ActivityAmended:
    return ActivityAmended(
        activity_id="a-1",
        starts_at=NOW + timedelta(days=2),  # 18:00 Shanghai time
        ends_at=NOW + timedelta(days=2, hours=2),
        place_area_id=OTHER_COMMUNITY,
        capacity=12,
        changed=changed,
        reason=reason,
        affected_volunteer_ids=("v-2", "v-1", "v-2"),
    )


def test_an_amendment_tells_everyone_it_affects_once_what_changed_in_both_languages() -> None:
    event = amendment(AmendedAspect.TIME, AmendedAspect.PLACE, reason="场地维修")
    place = place_name(AREAS, OTHER_COMMUNITY)
    assert place == " ".join(a.name for a in AREAS.path(OTHER_COMMUNITY)[2:])
    assert place_name(AREAS, "13020399") is None

    messages = amendment_messages(event, CAUSE, activity(), place)

    assert [m.volunteer_id for m in messages] == ["v-2", "v-1"]
    assert {(m.kind, m.activity_id, m.drive_id) for m in messages} == {
        (MessageKind.ACTIVITY_AMENDED, "a-1", "d-1")
    }
    title, body = render(messages[0].kind, messages[0].params, Language.ZH_CN)
    assert title == "活动变更：为老服务"
    assert body == (
        f"活动安排有变。时间改为 2026-12-09 18:00 至 2026-12-09 20:00"
        f"（原定 2026-12-08 18:00 开始）。地点改为 {place}。原因：场地维修"
    )
    title, body = render(messages[0].kind, messages[0].params, Language.EN)
    assert title == "Changed: 为老服务"
    assert "Now 2026-12-09 18:00 to 2026-12-09 20:00 (it was to start 2026-12-08 18:00)." in body
    assert f"Now at {place}." in body
    assert "places" not in body  # the capacity did not change
    assert body.endswith("Reason: 场地维修")


def test_an_amendment_of_the_capacity_alone_says_only_that() -> None:
    messages = amendment_messages(amendment(AmendedAspect.CAPACITY), CAUSE, activity(), None)

    assert render(messages[0].kind, messages[0].params, Language.ZH_CN)[1] == (
        "活动安排有变。名额改为 12 人。"
    )
    assert render(messages[0].kind, messages[0].params, Language.EN)[1] == (
        "The activity has changed. Now 12 places. "
    )


def test_an_amended_activity_moves_its_check_in_window_and_its_timers_follow() -> None:
    before = activity()
    moved = amended(before, amendment(AmendedAspect.TIME))

    assert (moved.starts_at, moved.ends_at) == (
        NOW + timedelta(days=2),
        NOW + timedelta(days=2, hours=2),
    )
    assert moved.checkin_opens_at == moved.starts_at - timedelta(minutes=15)
    assert moved.place_area_id == OTHER_COMMUNITY
    old = timers_for(before, LEADS, NOW, NOW)
    new = timers_for(moved, LEADS, NOW, NOW)
    assert {t.timer_id for t in old}.isdisjoint({t.timer_id for t in new})
    # The old start's timers send nothing once the activity has moved; the new ones do.
    assert all(timer_messages(t, moved, t.due_at, LATE_AFTER) == [] for t in old)
    assert all(timer_messages(t, moved, t.due_at, LATE_AFTER) for t in new)


# --- timers -------------------------------------------------------------------------------------


def test_an_activity_gets_a_reminder_per_lead_time_and_its_check_in_opening() -> None:
    later = NOW + timedelta(days=2)
    timers = timers_for(
        activity(starts_at=later, checkin_opens_at=later - timedelta(minutes=15)), LEADS, NOW, NOW
    )

    assert [(t.kind, t.lead_minutes) for t in timers] == [
        (MessageKind.ACTIVITY_REMINDER, 1440),
        (MessageKind.ACTIVITY_REMINDER, 60),
        (MessageKind.CHECK_IN_OPEN, 15),
    ]
    assert timers[0].due_at == NOW + timedelta(days=1)


def test_a_reminder_whose_moment_passed_before_the_activity_was_scheduled_is_not_set() -> None:
    soon = activity(
        starts_at=NOW + timedelta(minutes=30),
        checkin_opens_at=NOW + timedelta(minutes=15),
        ends_at=NOW + timedelta(hours=2),
    )

    assert [t.kind for t in timers_for(soon, LEADS, NOW, NOW)] == [MessageKind.CHECK_IN_OPEN]
    assert timers_for(soon, LEADS, NOW, NOW + timedelta(hours=1)) == []


def test_a_scheduling_read_late_still_sets_the_reminders_whose_moment_passed_since() -> None:
    scheduled_at = NOW - timedelta(days=1)  # notify was down; the event is read a day late

    timers = timers_for(activity(), LEADS, scheduled_at, NOW)

    assert [(t.kind, t.lead_minutes, t.due_at) for t in timers] == [
        (MessageKind.ACTIVITY_REMINDER, 1440, NOW),
        (MessageKind.ACTIVITY_REMINDER, 60, NOW + timedelta(hours=23)),
        (MessageKind.CHECK_IN_OPEN, 15, NOW + timedelta(hours=23, minutes=45)),
    ]


def test_a_check_in_window_open_at_scheduling_opens_then() -> None:
    open_now = activity(
        checkin_opens_at=NOW - timedelta(minutes=5), starts_at=NOW + timedelta(minutes=10)
    )

    [opening] = timers_for(open_now, LEADS, NOW, NOW)

    assert opening.due_at == NOW


def test_a_due_reminder_tells_everyone_assigned() -> None:
    [day_ahead, *_] = timers_for(
        activity(), LEADS, NOW - timedelta(days=1), NOW - timedelta(days=1)
    )

    messages = timer_messages(day_ahead, activity(), day_ahead.due_at, LATE_AFTER)

    assert [m.volunteer_id for m in messages] == ["v-1", "v-2"]
    assert messages[0].params["late_minutes"] == 0
    assert messages[0].cause.cause_id == day_ahead.timer_id


def test_a_reminder_sent_late_says_so() -> None:
    [day_ahead, *_] = timers_for(
        activity(), LEADS, NOW - timedelta(days=1), NOW - timedelta(days=1)
    )

    [first, _] = timer_messages(
        day_ahead, activity(), day_ahead.due_at + timedelta(minutes=42), LATE_AFTER
    )

    assert first.params["late_minutes"] == 42
    assert "42" in render(first.kind, first.params, Language.EN)[1]
    assert "42" in render(first.kind, first.params, Language.ZH_CN)[1]


def test_no_reminder_for_a_cancelled_activity_a_moved_start_or_one_over() -> None:
    [day_ahead, *_] = timers_for(
        activity(), LEADS, NOW - timedelta(days=1), NOW - timedelta(days=1)
    )
    moved = activity(starts_at=NOW + timedelta(days=1, hours=2))

    assert timer_messages(day_ahead, activity(cancelled=True), NOW, LATE_AFTER) == []
    assert timer_messages(day_ahead, moved, NOW, LATE_AFTER) == []
    assert timer_messages(day_ahead, activity(), NOW + timedelta(days=2), LATE_AFTER) == []


def test_the_check_in_opening_is_told_to_those_not_checked_in() -> None:
    timers = timers_for(activity(), LEADS, NOW, NOW)
    opening = next(t for t in timers if t.kind is MessageKind.CHECK_IN_OPEN)

    messages = timer_messages(
        opening, activity(checked_in=frozenset({"v-1"})), opening.due_at, LATE_AFTER
    )

    assert [m.volunteer_id for m in messages] == ["v-2"]


def test_buckets_are_ten_seconds_sortable_and_walked_in_order() -> None:
    at = datetime(2026, 12, 7, 18, 5, 17, tzinfo=UTC)

    assert bucket_of(at) == "20261207T180510"
    assert buckets_from("20261207T180440", at, 10) == [
        "20261207T180440",
        "20261207T180450",
        "20261207T180500",
        "20261207T180510",
    ]
    assert len(buckets_from("20261207T000000", at, 5)) == 5


# --- hours and stars ---------------------------------------------------------------------------


def test_an_issued_service_record_tells_its_hours() -> None:
    record = ServiceRecordIssued(
        activity_id="a-1", record_id="r-1", volunteer_id="v-1", category="elderly_care",
        place_area_id=COMMUNITY, service_date=date(2026, 12, 6), minutes=150, approved_by="li",
    )  # fmt: skip

    message = hours_approved_message(record, CAUSE, "为老服务")

    assert render(message.kind, message.params, Language.EN)[1] == "2.5 h approved for 2026-12-06."


def test_each_star_level_crossed_is_told_once_by_its_level() -> None:
    thresholds = (100, 300, 600)

    crossed = stars_reached("v-1", 99 * 60, 301 * 60, thresholds, NOW)
    again = stars_reached("v-1", 99 * 60, 100 * 60, thresholds, NOW + timedelta(days=1))

    assert [m.params["stars"] for m in crossed] == [1, 2]
    assert stars_reached("v-1", 100 * 60, 299 * 60, thresholds, NOW) == []
    # The same level reached again (after a correction) has the same message id.
    assert again[0].message_id == crossed[0].message_id


# --- language ----------------------------------------------------------------------------------


def test_the_language_is_the_volunteers_choice_else_the_apps_else_chinese() -> None:
    assert language_of("en", "zh-CN") is Language.EN
    assert language_of(None, "en-GB,en;q=0.9") is Language.EN
    assert language_of(None, "zh-CN,zh;q=0.9,en;q=0.8") is Language.ZH_CN
    assert language_of(None, None) is Language.ZH_CN


@pytest.mark.parametrize("kind", list(MessageKind))
def test_every_kind_reads_in_both_languages(kind: MessageKind) -> None:
    for language in Language:
        title, body = render(kind, {}, language)
        assert title
        assert body
