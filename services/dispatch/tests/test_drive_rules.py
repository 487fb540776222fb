"""Drive rules as specifications: given a drive's events, when a command, then events or an error."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from muster_contracts.areas import AreaLevel, load_area_tree
from muster_contracts.eligibility import VolunteerProfile
from muster_contracts.events.drives import (
    Acceptance,
    DriveAmended,
    DriveClosed,
    DriveLaunched,
    PromotionReason,
    RoleHeadcount,
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
from muster_contracts.events.registry import DomainEvent
from muster_contracts.events.volunteer import Skill
from muster_dispatch.domain.drive import (
    AcceptWaitlisted,
    AmendDrive,
    ChangeLeader,
    CloseDrive,
    Drive,
    DriveRuleError,
    FormTeams,
    LaunchDrive,
    MergeTeams,
    MoveMember,
    RecordWithdrawal,
    SignUpRequest,
    SignUpStatus,
    SplitTeam,
    accept_waitlisted,
    amend_drive,
    change_leader,
    close_drive,
    close_drives,
    decide_sign_up,
    evolve,
    fold,
    form_drive_teams,
    funnel,
    launch_drive,
    merge_teams,
    move_member,
    record_withdrawal,
    split_team,
)

AREAS = load_area_tree()
COMMUNITY = AREAS.at_level(AreaLevel.COMMUNITY)[0].id
OTHER_COMMUNITY = AREAS.at_level(AreaLevel.COMMUNITY)[1].id
BUILDINGS = [b.id for b in AREAS.at_level(AreaLevel.BUILDING) if b.id.startswith(COMMUNITY)]
OUTSIDE = next(b.id for b in AREAS.at_level(AreaLevel.BUILDING) if b.id.startswith(OTHER_COMMUNITY))
NOW = datetime(2026, 5, 1, 9, tzinfo=UTC)
OPENS = NOW
CLOSES = NOW + timedelta(days=14)
STARTS = CLOSES + timedelta(days=1)
ENDS = STARTS + timedelta(hours=4)
DRIVE = "d-1"


def launch_form(**changes: object) -> LaunchDrive:
    fields: dict[str, object] = {
        "title": " 助老义诊 ",
        "organiser": "organiser-1",
        "scope_area_id": COMMUNITY,
        "category": "elderly_care",
        "roles": [
            {"role_id": "helpers", "headcount": 50},
            {"role_id": "medics", "skill": "first_aid", "headcount": 2},
        ],
        "signup_opens_at": OPENS,
        "signup_closes_at": CLOSES,
        "activity_starts_at": STARTS,
        "activity_ends_at": ENDS,
        "team_size_min": 3,
        "team_size_max": 6,
    }
    return LaunchDrive.model_validate(fields | changes)


def apply(state: Drive, events: Iterable[DomainEvent]) -> Drive:
    for event in events:
        evolve(state, event)
    return state


def launched(drive_id: str = DRIVE, **changes: object) -> Drive:
    state = Drive(drive_id)
    return apply(state, launch_drive(state, launch_form(**changes), AREAS, NOW))


def request(
    n: int,
    role: str = "helpers",
    *,
    at: datetime = NOW + timedelta(hours=1),
    sign_up_id: str | None = None,
    **profile: object,
) -> SignUpRequest:
    fields: dict[str, object] = {
        "home_area_id": BUILDINGS[n % len(BUILDINGS)],
        "categories": ["party_member"] if n % 3 == 0 else ["resident"],
        "skills": ["general", "first_aid"] if n % 4 == 0 else ["general"],
        "birth_year": 1985,
    }
    return SignUpRequest(
        sign_up_id=sign_up_id or f"s-{n}",
        volunteer_id=f"v-{n}",
        role_id=role,
        profile=VolunteerProfile.model_validate(fields | profile),
        submitted_at=at,
    )


def sign_up(state: Drive, *requests: SignUpRequest) -> list[DomainEvent]:
    """Decide each request in turn against the state, applying the events as they come."""
    decided: list[DomainEvent] = []
    for item in requests:
        events = decide_sign_up(state, item, AREAS)
        apply(state, events)
        decided += events
    return decided


def only(events: list[DomainEvent]) -> DomainEvent:
    assert len(events) == 1, events
    return events[0]


def rule_error(call: object, *args: object) -> DriveRuleError:
    assert callable(call)
    with pytest.raises(DriveRuleError) as caught:
        call(*args)
    return caught.value


# --- launching ----------------------------------------------------------------------------------


def test_launching_records_the_drive_with_its_roles_in_utc() -> None:
    beijing = timezone(timedelta(hours=8))
    form = launch_form(signup_opens_at=OPENS.astimezone(beijing))

    event = only(launch_drive(Drive(DRIVE), form, AREAS, NOW))

    assert isinstance(event, DriveLaunched)
    assert event.drive_id == DRIVE
    assert event.title == "助老义诊"
    assert [(r.role_id, r.skill, r.headcount) for r in event.roles] == [
        ("helpers", Skill.GENERAL, 50),
        ("medics", Skill.FIRST_AID, 2),
    ]
    assert event.signup_opens_at == OPENS
    assert event.signup_opens_at.tzinfo == UTC
    assert event.acceptance is Acceptance.AUTOMATIC


def test_a_launch_without_timezones_is_refused_by_the_form() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        launch_form(signup_opens_at=datetime(2026, 5, 1, 9))


@pytest.mark.parametrize(
    ("changes", "field", "rule"),
    [
        ({"scope_area_id": "130203999"}, "scope_area_id", "known_area"),
        ({"roles": []}, "roles", "at_least_one"),
        (
            {"roles": [{"role_id": "a", "headcount": 0}]},
            "roles[0].headcount",
            "between_1_and_100000",
        ),
        (
            {"roles": [{"role_id": "a", "headcount": 1}, {"role_id": "a", "headcount": 2}]},
            "roles[1].role_id",
            "unique",
        ),
        ({"signup_closes_at": OPENS}, "signup_closes_at", "after_signup_opens"),
        (
            {
                "signup_opens_at": NOW - timedelta(days=9),
                "signup_closes_at": NOW - timedelta(days=1),
            },
            "signup_closes_at",
            "in_future",
        ),
        (
            {"activity_starts_at": CLOSES - timedelta(hours=1)},
            "activity_starts_at",
            "not_before_signup_closes",
        ),
        ({"activity_ends_at": STARTS}, "activity_ends_at", "after_activity_starts"),
        ({"eligibility": {"min_age": 130}}, "eligibility.min_age", "between_0_and_120"),
        ({"team_size_min": 0}, "team_size_min", "between_1_and_500"),
        ({"team_size_min": 8, "team_size_max": 6}, "team_size_max", "not_below_min"),
        ({"team_size_max": 501}, "team_size_max", "at_most_500"),
    ],
)
def test_an_invalid_launch_names_the_field_and_the_rule(
    changes: dict[str, object], field: str, rule: str
) -> None:
    error = rule_error(launch_drive, Drive(DRIVE), launch_form(**changes), AREAS, NOW)

    assert (error.field, error.rule) == (field, rule)


def test_a_drive_is_launched_once() -> None:
    error = rule_error(launch_drive, launched(), launch_form(), AREAS, NOW)

    assert (error.field, error.rule) == ("drive_id", "already_launched")


# --- sign-ups: capacity and waitlist ------------------------------------------------------------


def test_capacity_is_never_exceeded_and_the_rest_wait_in_order() -> None:
    state = launched()

    events = sign_up(state, *(request(n) for n in range(200)))

    accepted = [e for e in events if isinstance(e, SignUpAccepted)]
    waitlisted = [e for e in events if isinstance(e, SignUpWaitlisted)]
    assert [e.sign_up_id for e in accepted] == [f"s-{n}" for n in range(50)]
    assert [e.position for e in waitlisted] == list(range(1, 151))
    assert [e.sign_up_id for e in waitlisted] == [f"s-{n}" for n in range(50, 200)]
    assert len(state.accepted["helpers"]) == 50
    assert funnel(state).submitted == 200


def test_roles_fill_independently() -> None:
    state = launched()
    sign_up(state, *(request(n) for n in range(50)))

    event = only(sign_up(state, request(1000, "medics", skills=["first_aid"])))

    assert isinstance(event, SignUpAccepted)
    assert event.role_id == "medics"


def test_an_accepted_sign_up_carries_what_team_formation_needs() -> None:
    event = only(sign_up(launched(), request(3, skills=["first_aid"])))

    assert isinstance(event, SignUpAccepted)
    assert event.home_area_id == BUILDINGS[3]
    assert event.skills == (Skill.FIRST_AID,)
    assert event.is_party_member


def test_a_redelivered_sign_up_is_decided_once() -> None:
    state = launched()
    sign_up(state, request(1))

    assert decide_sign_up(state, request(1), AREAS) == []


def test_a_second_sign_up_of_the_same_volunteer_is_a_duplicate() -> None:
    state = launched()
    sign_up(state, request(1))

    event = only(sign_up(state, request(1, "medics", sign_up_id="s-1b", skills=["first_aid"])))

    assert isinstance(event, SignUpDeclined)
    assert event.rule == "duplicate"


def test_a_volunteer_who_withdrew_may_sign_up_again() -> None:
    state = launched()
    sign_up(state, request(1))
    apply(state, record_withdrawal(state, RecordWithdrawal(sign_up_id="s-1")))

    assert isinstance(only(sign_up(state, request(1, sign_up_id="s-1b"))), SignUpAccepted)


@pytest.mark.parametrize(
    ("at", "rule"),
    [
        (OPENS - timedelta(seconds=1), "window_not_open"),
        (CLOSES, "window_closed"),
        (CLOSES + timedelta(days=1), "window_closed"),
    ],
)
def test_a_sign_up_outside_the_window_is_declined(at: datetime, rule: str) -> None:
    event = only(sign_up(launched(), request(1, at=at)))

    assert isinstance(event, SignUpDeclined)
    assert event.rule == rule


def test_a_sign_up_to_a_closed_drive_is_declined() -> None:
    state = launched()
    apply(state, close_drive(state, CloseDrive()))

    event = only(sign_up(state, request(1)))

    assert isinstance(event, SignUpDeclined)
    assert event.rule == "drive_closed"


def test_a_sign_up_for_a_role_the_drive_has_not_is_declined() -> None:
    event = only(sign_up(launched(), request(1, "cooks")))

    assert isinstance(event, SignUpDeclined)
    assert event.rule == "unknown_role"


def test_an_ineligible_volunteer_is_declined_with_every_failed_rule() -> None:
    state = launched(eligibility={"residents_only": True, "min_age": 18})

    event = only(sign_up(state, request(1, home_area_id=OUTSIDE, birth_year=2012)))

    assert isinstance(event, SignUpDeclined)
    assert event.rule == "not_eligible:residents_only"
    assert event.rules == ("not_eligible:residents_only", "not_eligible:min_age")


def test_a_skill_role_needs_the_skill() -> None:
    event = only(sign_up(launched(), request(1, "medics", skills=["cooking"])))

    assert isinstance(event, SignUpDeclined)
    assert event.rule == "not_eligible:role_skill"


def test_a_sign_up_for_a_drive_never_launched_is_an_error() -> None:
    error = rule_error(decide_sign_up, Drive(DRIVE), request(1), AREAS)

    assert (error.field, error.rule) == ("drive_id", "unknown_drive")


# --- withdrawals --------------------------------------------------------------------------------


def full_drive(waiting: int = 3) -> Drive:
    state = launched(
        roles=[{"role_id": "helpers", "headcount": 2}, {"role_id": "cooks", "headcount": 1}]
    )
    sign_up(state, *(request(n) for n in range(2 + waiting)))
    sign_up(state, request(100, "cooks"), request(101, "cooks"))
    return state


def test_withdrawing_an_accepted_sign_up_promotes_the_first_waiting_in_that_role() -> None:
    state = full_drive()

    events = record_withdrawal(state, RecordWithdrawal(sign_up_id="s-0", reason="ill"))

    assert events == [
        SignUpWithdrawalRecorded(
            drive_id=DRIVE,
            sign_up_id="s-0",
            volunteer_id="v-0",
            role_id="helpers",
            was=SignUpOutcome.ACCEPTED,
            reason="ill",
        ),
        SignUpPromoted(
            drive_id=DRIVE,
            sign_up_id="s-2",
            volunteer_id="v-2",
            role_id="helpers",
            reason=PromotionReason.WITHDRAWAL,
        ),
    ]
    apply(state, events)
    assert list(state.accepted["helpers"]) == ["s-1", "s-2"]
    assert state.waitlist_position("s-3") == 1
    assert state.waitlist_position("s-101") == 1


def test_withdrawing_from_the_waitlist_shifts_the_positions_behind() -> None:
    state = full_drive()

    event = only(record_withdrawal(state, RecordWithdrawal(sign_up_id="s-2")))

    assert isinstance(event, SignUpWithdrawalRecorded)
    assert event.was is SignUpOutcome.WAITLISTED
    apply(state, [event])
    assert [state.waitlist_position(s) for s in ("s-3", "s-4")] == [1, 2]
    assert state.sign_ups["s-2"].status is SignUpStatus.WITHDRAWN


@pytest.mark.parametrize("sign_up_id", ["s-unknown", "s-0"])
def test_a_withdrawal_holding_no_place_changes_nothing(sign_up_id: str) -> None:
    state = full_drive()
    apply(state, record_withdrawal(state, RecordWithdrawal(sign_up_id="s-0")))

    assert record_withdrawal(state, RecordWithdrawal(sign_up_id=sign_up_id)) == []


def test_only_the_volunteer_of_a_sign_up_withdraws_it() -> None:
    error = rule_error(
        record_withdrawal, full_drive(), RecordWithdrawal(sign_up_id="s-0", volunteer_id="v-9")
    )

    assert (error.field, error.rule) == ("volunteer_id", "owns_sign_up")


def test_withdrawals_and_head_count_changes_never_overfill_a_role() -> None:
    rng = random.Random(11)
    state = launched(roles=[{"role_id": "helpers", "headcount": 10}])
    n = 0
    for _ in range(600):
        action = rng.random()
        if action < 0.55:
            n += 1
            sign_up(state, request(n))
        elif action < 0.9:
            active = [s for s in state.sign_ups.values() if s.status in ("accepted", "waitlisted")]
            if active:
                chosen = rng.choice(active).sign_up_id
                apply(state, record_withdrawal(state, RecordWithdrawal(sign_up_id=chosen)))
        else:
            floor = max(1, len(state.accepted["helpers"]))
            headcount = rng.randint(floor, floor + 5)
            command = AmendDrive(headcounts={"helpers": headcount})
            apply(state, amend_drive(state, command, NOW))
        accepted, waiting = len(state.accepted["helpers"]), len(state.waitlist["helpers"])
        assert accepted <= state.headcounts["helpers"]
        # A free place and someone waiting never coexist: the waitlist fills itself.
        assert waiting == 0 or accepted == state.headcounts["helpers"]
    assert n > 200


# --- amendments ---------------------------------------------------------------------------------


def test_raising_a_head_count_promotes_from_the_waitlist_in_order() -> None:
    state = full_drive(waiting=3)

    events = amend_drive(state, AmendDrive(headcounts={"helpers": 4}), NOW)

    assert events[0] == DriveAmended(
        drive_id=DRIVE, headcounts=(RoleHeadcount(role_id="helpers", headcount=4),)
    )
    promoted = events[1:]
    assert [e.sign_up_id for e in promoted if isinstance(e, SignUpPromoted)] == ["s-2", "s-3"]
    assert all(
        isinstance(e, SignUpPromoted) and e.reason is PromotionReason.HEADCOUNT_INCREASE
        for e in promoted
    )


def test_lowering_a_head_count_below_the_accepted_is_refused() -> None:
    state = full_drive()

    error = rule_error(amend_drive, state, AmendDrive(headcounts={"helpers": 1}), NOW)

    assert (error.field, error.rule) == ("headcounts.helpers", "below_accepted")


def test_lowering_a_head_count_to_the_accepted_is_allowed() -> None:
    state = launched()
    sign_up(state, *(request(n) for n in range(5)))

    event = only(amend_drive(state, AmendDrive(headcounts={"helpers": 5}), NOW))

    apply(state, [event])
    assert state.headcounts["helpers"] == 5
    assert isinstance(only(sign_up(state, request(99))), SignUpWaitlisted)


@pytest.mark.parametrize(
    ("command", "field", "rule"),
    [
        (AmendDrive(headcounts={"cooks": 3}), "headcounts.cooks", "unknown_role"),
        (AmendDrive(headcounts={"helpers": 0}), "headcounts.helpers", "between_1_and_100000"),
        (AmendDrive(), "amendment", "not_empty"),
        (
            AmendDrive(signup_closes_at=STARTS + timedelta(hours=1)),
            "activity_starts_at",
            "not_before_signup_closes",
        ),
        (AmendDrive(signup_opens_at=CLOSES), "signup_closes_at", "after_signup_opens"),
        (AmendDrive(team_size_min=7), "team_size_max", "not_below_min"),
    ],
)
def test_an_invalid_amendment_names_the_field_and_the_rule(
    command: AmendDrive, field: str, rule: str
) -> None:
    error = rule_error(amend_drive, launched(), command, NOW)

    assert (error.field, error.rule) == (field, rule)


def test_an_amendment_records_only_what_changed() -> None:
    later = CLOSES - timedelta(days=2)
    command = AmendDrive(headcounts={"helpers": 50, "medics": 3}, signup_closes_at=later)

    event = only(amend_drive(launched(), command, NOW))

    assert event == DriveAmended(
        drive_id=DRIVE,
        headcounts=(RoleHeadcount(role_id="medics", headcount=3),),
        signup_closes_at=later,
    )


def test_an_amendment_that_changes_nothing_records_nothing() -> None:
    assert (
        amend_drive(launched(), AmendDrive(headcounts={"helpers": 50}, team_size_max=6), NOW) == []
    )


def test_a_closed_drive_cannot_be_amended() -> None:
    state = launched()
    apply(state, close_drive(state, CloseDrive(reason="cancelled")))

    error = rule_error(amend_drive, state, AmendDrive(headcounts={"helpers": 60}), NOW)

    assert (error.field, error.rule) == ("drive_id", "drive_closed")


# --- closing ------------------------------------------------------------------------------------


def test_closing_is_recorded_once() -> None:
    state = launched()

    event = only(close_drive(state, CloseDrive(reason="enough volunteers")))

    assert event == DriveClosed(drive_id=DRIVE, reason="enough volunteers")
    assert close_drive(apply(state, [event]), CloseDrive()) == []


def test_several_drives_close_together_each_on_its_own_stream() -> None:
    first, second = launched(), launched("d-2")
    apply(first, close_drive(first, CloseDrive()))

    result = close_drives([first, second], CloseDrive(reason="season over"))

    assert result == {"d-1": [], "d-2": [DriveClosed(drive_id="d-2", reason="season over")]}


# --- organiser acceptance -----------------------------------------------------------------------


def reviewed_drive() -> Drive:
    state = launched(acceptance="organiser", roles=[{"role_id": "helpers", "headcount": 3}])
    sign_up(state, *(request(n) for n in range(6)))
    return state


def test_with_organiser_acceptance_every_eligible_sign_up_waits() -> None:
    state = reviewed_drive()

    assert not state.accepted["helpers"]
    assert [state.waitlist_position(f"s-{n}") for n in range(6)] == [1, 2, 3, 4, 5, 6]


def test_the_organiser_accepts_a_list_in_the_order_given() -> None:
    state = reviewed_drive()

    events = accept_waitlisted(state, AcceptWaitlisted(sign_up_ids=("s-4", "s-1", "s-4")))

    assert [(e.sign_up_id, e.reason) for e in events if isinstance(e, SignUpPromoted)] == [
        ("s-4", PromotionReason.ORGANISER),
        ("s-1", PromotionReason.ORGANISER),
    ]
    apply(state, events)
    assert state.waitlist_position("s-5") == 4
    assert accept_waitlisted(state, AcceptWaitlisted(sign_up_ids=("s-4",))) == []


def test_accepting_beyond_capacity_is_refused_as_a_whole() -> None:
    state = reviewed_drive()
    command = AcceptWaitlisted(sign_up_ids=("s-0", "s-1", "s-2", "s-3"))

    error = rule_error(accept_waitlisted, state, command)

    assert (error.field, error.rule) == ("sign_up_ids", "within_capacity")


def test_only_waitlisted_sign_ups_can_be_accepted() -> None:
    state = reviewed_drive()
    apply(state, record_withdrawal(state, RecordWithdrawal(sign_up_id="s-2")))

    unknown = rule_error(accept_waitlisted, state, AcceptWaitlisted(sign_up_ids=("s-0", "s-x")))
    withdrawn = rule_error(accept_waitlisted, state, AcceptWaitlisted(sign_up_ids=("s-2",)))

    assert (unknown.field, unknown.rule) == ("sign_up_ids[1]", "unknown_sign_up")
    assert (withdrawn.field, withdrawn.rule) == ("sign_up_ids[0]", "waitlisted")


def test_with_organiser_acceptance_a_freed_place_waits_for_the_organiser() -> None:
    state = reviewed_drive()
    apply(state, accept_waitlisted(state, AcceptWaitlisted(sign_up_ids=("s-0",))))

    event = only(record_withdrawal(state, RecordWithdrawal(sign_up_id="s-0")))

    assert isinstance(event, SignUpWithdrawalRecorded)


# --- teams --------------------------------------------------------------------------------------


def drive_with_accepted(count: int = 20) -> Drive:
    state = launched(roles=[{"role_id": "helpers", "headcount": 100}])
    sign_up(state, *(request(n) for n in range(count)))
    return state


def formed(count: int = 20) -> Drive:
    state = drive_with_accepted(count)
    return apply(state, form_drive_teams(state, FormTeams()))


def test_forming_teams_puts_every_accepted_volunteer_in_exactly_one_team() -> None:
    state = drive_with_accepted(20)

    events = form_drive_teams(state, FormTeams(required_skills=(Skill.FIRST_AID,)))

    teams = [e for e in events if isinstance(e, TeamFormed)]
    assert len(teams) == len(events) == 4
    members = [m for t in teams for m in t.members]
    assert sorted(members) == sorted(f"v-{n}" for n in range(20))
    assert all(3 <= len(t.members) <= 6 and t.leader_id in t.members for t in teams)
    assert [t.team_id for t in teams] == [f"{DRIVE}-team-{i:04d}" for i in range(1, 5)]
    assert {t.formation for t in teams} == {1}
    assert all(t.community_id == COMMUNITY for t in teams)
    apply(state, events)
    assert funnel(state).assigned == 20


def test_teams_are_formed_once_unless_a_re_formation_is_asked_for() -> None:
    state = formed()

    error = rule_error(form_drive_teams, state, FormTeams())
    events = form_drive_teams(state, FormTeams(reform=True))

    assert (error.field, error.rule) == ("reform", "already_formed")
    apply(state, events)
    assert state.formation == 2
    assert sorted(state.teams) == [f"{DRIVE}-team-{i:04d}" for i in range(5, 9)]
    assert len(state.team_of) == 20


def test_teams_need_accepted_sign_ups() -> None:
    error = rule_error(form_drive_teams, launched(), FormTeams())

    assert (error.field, error.rule) == ("drive_id", "has_accepted_sign_ups")


def test_a_withdrawing_leader_is_replaced_by_a_remaining_member() -> None:
    state = formed()
    team = next(iter(state.teams.values()))
    leader = team.leader_id

    events = record_withdrawal(state, RecordWithdrawal(sign_up_id=leader.replace("v-", "s-")))

    assert isinstance(events[0], SignUpWithdrawalRecorded)
    assert events[0].team_id == team.team_id
    change = events[1]
    assert isinstance(change, TeamLeaderChanged)
    assert change.previous_leader_id == leader
    assert change.reason == "leader_withdrew"
    apply(state, events)
    assert leader not in team.members
    assert team.leader_id == change.leader_id
    assert change.leader_id in team.members


def two_teams(state: Drive) -> tuple[str, str]:
    first, second = sorted(state.teams)[:2]
    return first, second


def non_leader(state: Drive, team_id: str) -> str:
    team = state.teams[team_id]
    return next(m for m in team.members if m != team.leader_id)


def test_an_organiser_moves_a_member_between_teams() -> None:
    state = formed(22)  # four teams of 5 or 6
    small = next(t for t, team in sorted(state.teams.items()) if len(team.members) == 5)
    big = next(t for t, team in sorted(state.teams.items()) if len(team.members) == 6)
    member = non_leader(state, big)

    event = only(move_member(state, MoveMember(volunteer_id=member, to_team_id=small)))

    assert event == TeamMemberMoved(
        drive_id=DRIVE, volunteer_id=member, from_team_id=big, to_team_id=small
    )
    apply(state, [event])
    assert state.team_of[member] == small
    assert member in state.teams[small].members


def test_moves_keep_teams_within_their_bounds_and_leaders_in_place() -> None:
    state = formed(24)  # four teams of 6
    first, second = two_teams(state)

    full = rule_error(
        move_member, state, MoveMember(volunteer_id=non_leader(state, first), to_team_id=second)
    )
    leader = rule_error(
        move_member, state, MoveMember(volunteer_id=state.teams[first].leader_id, to_team_id=second)
    )
    same = rule_error(
        move_member, state, MoveMember(volunteer_id=non_leader(state, first), to_team_id=first)
    )
    stranger = rule_error(move_member, state, MoveMember(volunteer_id="v-999", to_team_id=first))

    assert (full.field, full.rule) == ("to_team_id", "team_size_max")
    assert (leader.field, leader.rule) == ("volunteer_id", "not_leader")
    assert (same.field, same.rule) == ("to_team_id", "other_team")
    assert (stranger.field, stranger.rule) == ("volunteer_id", "team_member")


def test_an_organiser_changes_a_leader_to_a_member() -> None:
    state = formed()
    first, second = two_teams(state)
    member = non_leader(state, first)

    event = only(change_leader(state, ChangeLeader(team_id=first, leader_id=member)))
    outsider = rule_error(
        change_leader, state, ChangeLeader(team_id=first, leader_id=non_leader(state, second))
    )

    assert isinstance(event, TeamLeaderChanged)
    assert event.previous_leader_id == state.teams[first].leader_id
    assert (outsider.field, outsider.rule) == ("leader_id", "team_member")
    same = ChangeLeader(team_id=first, leader_id=state.teams[first].leader_id)
    assert change_leader(state, same) == []


def test_an_organiser_splits_a_team_into_two_within_bounds() -> None:
    state = launched(
        roles=[{"role_id": "helpers", "headcount": 100}], team_size_min=3, team_size_max=6
    )
    sign_up(state, *(request(n) for n in range(6)))
    apply(state, form_drive_teams(state, FormTeams()))
    (team_id,) = state.teams
    moving = tuple(m for m in state.teams[team_id].members if m != state.teams[team_id].leader_id)[
        :3
    ]

    event = only(split_team(state, SplitTeam(team_id=team_id, members=moving)))

    assert isinstance(event, TeamSplit)
    assert event.new_team_id == f"{DRIVE}-team-0002"
    assert event.moved_members == moving
    assert event.new_leader_id in moving
    apply(state, [event])
    assert len(state.teams[team_id].members) == 3
    assert state.teams[event.new_team_id].members == list(moving)
    assert all(state.team_of[m] == event.new_team_id for m in moving)


def test_a_split_leaves_the_leader_and_enough_members_on_both_sides() -> None:
    state = formed(24)
    first, _ = two_teams(state)
    team = state.teams[first]
    others = [m for m in team.members if m != team.leader_id]

    too_small = rule_error(split_team, state, SplitTeam(team_id=first, members=tuple(others[:2])))
    leader = rule_error(
        split_team, state, SplitTeam(team_id=first, members=(team.leader_id, *others[:2]))
    )
    stranger = rule_error(split_team, state, SplitTeam(team_id=first, members=("v-999",)))

    assert (too_small.field, too_small.rule) == ("members", "team_size_min")
    assert (leader.field, leader.rule) == ("members", "not_leader")
    assert (stranger.field, stranger.rule) == ("members[0]", "team_member")


def test_an_organiser_merges_two_small_teams() -> None:
    state = launched(
        roles=[{"role_id": "helpers", "headcount": 100}], team_size_min=2, team_size_max=6
    )
    sign_up(state, *(request(n) for n in range(12)))
    apply(state, form_drive_teams(state, FormTeams()))
    apply(state, amend_drive(state, AmendDrive(team_size_max=12), NOW))
    first, second = two_teams(state)
    absorbed_leader = state.teams[second].leader_id

    event = only(
        merge_teams(
            state, MergeTeams(team_id=first, absorbed_team_id=second, leader_id=absorbed_leader)
        )
    )

    assert event == TeamsMerged(
        drive_id=DRIVE, team_id=first, absorbed_team_id=second, leader_id=absorbed_leader
    )
    apply(state, [event])
    assert second not in state.teams
    assert len(state.teams[first].members) == 12
    assert state.teams[first].leader_id == absorbed_leader
    assert all(team == first for team in state.team_of.values())


def test_a_merge_stays_within_the_maximum_size() -> None:
    state = formed(24)
    first, second = two_teams(state)

    error = rule_error(merge_teams, state, MergeTeams(team_id=first, absorbed_team_id=second))
    itself = rule_error(merge_teams, state, MergeTeams(team_id=first, absorbed_team_id=first))

    assert (error.field, error.rule) == ("absorbed_team_id", "team_size_max")
    assert (itself.field, itself.rule) == ("absorbed_team_id", "other_team")


def test_a_drive_folds_back_from_its_events() -> None:
    state = Drive(DRIVE)
    log = launch_drive(state, launch_form(), AREAS, NOW)
    apply(state, log)
    log += sign_up(state, *(request(n) for n in range(60)))
    for command in (RecordWithdrawal(sign_up_id="s-7"), RecordWithdrawal(sign_up_id="s-55")):
        events = record_withdrawal(state, command)
        apply(state, events)
        log += events

    rebuilt = fold(DRIVE, log)

    assert rebuilt.version == state.version == len(log)
    assert funnel(rebuilt) == funnel(state)
    assert rebuilt.accepted == state.accepted
    assert rebuilt.waitlist == state.waitlist


def test_the_funnel_counts_each_stage() -> None:
    state = launched(roles=[{"role_id": "helpers", "headcount": 3}], eligibility={"min_age": 18})
    sign_up(state, *(request(n) for n in range(5)), request(9, birth_year=2015))
    apply(state, record_withdrawal(state, RecordWithdrawal(sign_up_id="s-3")))
    apply(state, form_drive_teams(state, FormTeams()))

    assert funnel(state).__dict__ == {
        "submitted": 6,
        "accepted": 3,
        "waitlisted": 1,
        "declined": 1,
        "withdrawn": 1,
        "assigned": 3,
    }
