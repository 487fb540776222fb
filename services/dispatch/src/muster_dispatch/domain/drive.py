"""A recruitment drive: its rules, sign-up decisions and waitlists, and its teams.

One drive is one stream, so every place in a role is decided against one version of it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from muster_contracts.areas import AreaTree
from muster_contracts.eligibility import (
    ROLE_SKILL,
    VolunteerProfile,
    check_eligibility,
    fits_role,
)
from muster_contracts.events.drives import (
    Acceptance,
    DriveAmended,
    DriveClosed,
    DriveLaunched,
    Eligibility,
    PromotionReason,
    Role,
    RoleHeadcount,
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
from muster_contracts.events.registry import DomainEvent
from muster_contracts.events.volunteer import Skill
from muster_dispatch.domain.team_formation import (
    TeamCandidate,
    choose_leader,
    form_teams,
    home_of,
)

MAX_HEADCOUNT = 100_000
MAX_TEAM_SIZE = 500
MAX_MIN_AGE = 120
NOT_ELIGIBLE = "not_eligible"


class DriveRuleError(ValueError):
    """An organiser command that breaks a rule; `field` and `rule` say which."""

    def __init__(self, field: str, rule: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.rule = rule


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- commands ---------------------------------------------------------------------------------


class LaunchDrive(_Command):
    """The launch form; ranges and orderings are checked by `launch_drive` with field names."""

    title: Text
    organiser: Id
    scope_area_id: Id
    category: ServiceCategory
    roles: tuple[Role, ...]
    signup_opens_at: UtcDatetime
    signup_closes_at: UtcDatetime
    activity_starts_at: UtcDatetime
    activity_ends_at: UtcDatetime
    eligibility: Eligibility = Eligibility()
    team_size_min: int = 5
    team_size_max: int = 15
    acceptance: Acceptance = Acceptance.AUTOMATIC


class AmendDrive(_Command):
    """Only the fields given change."""

    headcounts: dict[str, int] = Field(default_factory=dict)
    signup_opens_at: UtcDatetime | None = None
    signup_closes_at: UtcDatetime | None = None
    team_size_min: int | None = None
    team_size_max: int | None = None


class CloseDrive(_Command):
    reason: Text = "organiser"


class SignUpRequest(_Command):
    """A submitted sign-up with the volunteer's profile as dispatch knows it."""

    sign_up_id: Id
    volunteer_id: Id
    role_id: Id
    profile: VolunteerProfile
    # The volunteer's submission time decides the window, not when dispatch gets to it.
    submitted_at: UtcDatetime


class RecordWithdrawal(_Command):
    sign_up_id: Id
    volunteer_id: Id | None = None
    reason: Text | None = None


class AcceptWaitlisted(_Command):
    """Bulk acceptance of waitlisted sign-ups, in the order given."""

    sign_up_ids: tuple[Id, ...] = Field(min_length=1, max_length=10_000)


class FormTeams(_Command):
    """Form teams from the accepted sign-ups.

    `required_skills` defaults to the skills of the drive's skill roles; `reform` replaces
    teams formed before.
    """

    required_skills: tuple[Skill, ...] | None = None
    reform: bool = False


class MoveMember(_Command):
    volunteer_id: Id
    to_team_id: Id


class ChangeLeader(_Command):
    team_id: Id
    leader_id: Id


class SplitTeam(_Command):
    """The listed members leave `team_id` for a new team; `leader_id` defaults to the best fit."""

    team_id: Id
    members: tuple[Id, ...] = Field(min_length=1)
    leader_id: Id | None = None


class MergeTeams(_Command):
    """`absorbed_team_id`'s members join `team_id`; `leader_id` defaults to its leader."""

    team_id: Id
    absorbed_team_id: Id
    leader_id: Id | None = None


# --- state ------------------------------------------------------------------------------------


class SignUpStatus(StrEnum):
    ACCEPTED = "accepted"
    WAITLISTED = "waitlisted"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"


@dataclass
class SignUp:
    """One decided sign-up; `order` is when the drive saw it (its place in the queue)."""

    sign_up_id: str
    volunteer_id: str
    role_id: str
    status: SignUpStatus
    order: int
    home_area_id: str = ""
    skills: tuple[Skill, ...] = ()
    is_party_member: bool = False
    rule: str | None = None

    def candidate(self) -> TeamCandidate:
        return TeamCandidate(
            volunteer_id=self.volunteer_id,
            home_area_id=self.home_area_id,
            is_party_member=self.is_party_member,
            skills=frozenset(self.skills),
            signed_up_order=self.order,
        )


@dataclass
class Team:
    team_id: str
    members: list[str]
    leader_id: str
    grid_id: str | None
    community_id: str | None


@dataclass
class Drive:
    """The folded state of one drive stream.

    `evolve` updates it in place (a drive holds thousands of sign-ups, and copying them on
    every event would make a fold quadratic); decide functions only read it.
    """

    drive_id: str
    version: int = 0
    launched: DriveLaunched | None = None
    headcounts: dict[str, int] = field(default_factory=dict)
    signup_opens_at: datetime | None = None
    signup_closes_at: datetime | None = None
    team_size_min: int = 1
    team_size_max: int = 1
    closed: bool = False
    close_reason: str | None = None
    sign_ups: dict[str, SignUp] = field(default_factory=dict)
    # Per role, in queue order; dicts as ordered sets so removals are O(1).
    accepted: dict[str, dict[str, None]] = field(default_factory=dict)
    waitlist: dict[str, dict[str, None]] = field(default_factory=dict)
    # The accepted or waitlisted sign-up of each volunteer.
    active_by_volunteer: dict[str, str] = field(default_factory=dict)
    teams: dict[str, Team] = field(default_factory=dict)
    team_of: dict[str, str] = field(default_factory=dict)
    formation: int = 0
    team_seq: int = 0
    next_order: int = 0

    @property
    def exists(self) -> bool:
        return self.launched is not None

    def roles(self) -> list[Role]:
        """The roles with their current head-counts."""
        launched = self.require_launched()
        return [
            r.model_copy(update={"headcount": self.headcounts[r.role_id]}) for r in launched.roles
        ]

    def waitlist_position(self, sign_up_id: str) -> int | None:
        """1-based position of a waitlisted sign-up within its role, or None."""
        sign_up = self.sign_ups.get(sign_up_id)
        if sign_up is None or sign_up.status is not SignUpStatus.WAITLISTED:
            return None
        return list(self.waitlist[sign_up.role_id]).index(sign_up_id) + 1

    def require_launched(self) -> DriveLaunched:
        """The launch event; raises DriveRuleError for a drive never launched."""
        if self.launched is None:
            raise DriveRuleError(
                "drive_id", "unknown_drive", f"drive {self.drive_id} was never launched"
            )
        return self.launched


@dataclass(frozen=True)
class SignUpFunnel:
    """Sign-ups by stage: submitted → accepted → assigned to a team."""

    submitted: int
    accepted: int
    waitlisted: int
    declined: int
    withdrawn: int
    assigned: int


# --- decisions: the drive ---------------------------------------------------------------------


def launch_drive(
    state: Drive, command: LaunchDrive, areas: AreaTree, now: datetime
) -> list[DomainEvent]:
    """Launch a drive; the first rule broken is raised with its field and rule name."""
    if state.exists:
        raise DriveRuleError(
            "drive_id", "already_launched", f"drive {state.drive_id} is already launched"
        )
    if command.scope_area_id not in areas:
        raise DriveRuleError("scope_area_id", "known_area", f"unknown area {command.scope_area_id}")
    if not command.roles:
        raise DriveRuleError("roles", "at_least_one", "a drive needs at least one role")
    seen: set[str] = set()
    for index, role in enumerate(command.roles):
        if role.role_id in seen:
            raise DriveRuleError(
                f"roles[{index}].role_id", "unique", f"role {role.role_id} is listed twice"
            )
        seen.add(role.role_id)
        _check_headcount(f"roles[{index}].headcount", role.headcount)
    _check_window(
        command.signup_opens_at, command.signup_closes_at, command.activity_starts_at, now
    )
    if command.activity_ends_at <= command.activity_starts_at:
        raise DriveRuleError(
            "activity_ends_at", "after_activity_starts", "the activity must end after it starts"
        )
    min_age = command.eligibility.min_age
    if min_age is not None and not 0 <= min_age <= MAX_MIN_AGE:
        raise DriveRuleError(
            "eligibility.min_age", "between_0_and_120", f"minimum age must be 0..{MAX_MIN_AGE}"
        )
    _check_team_bounds(command.team_size_min, command.team_size_max)
    return [
        DriveLaunched(
            drive_id=state.drive_id,
            title=command.title,
            organiser=command.organiser,
            scope_area_id=command.scope_area_id,
            category=command.category,
            roles=command.roles,
            signup_opens_at=command.signup_opens_at,
            signup_closes_at=command.signup_closes_at,
            activity_starts_at=command.activity_starts_at,
            activity_ends_at=command.activity_ends_at,
            eligibility=command.eligibility,
            team_size_min=command.team_size_min,
            team_size_max=command.team_size_max,
            acceptance=command.acceptance,
        )
    ]


def amend_drive(state: Drive, command: AmendDrive, now: datetime) -> list[DomainEvent]:
    """Change head-counts, the sign-up window or team bounds; more places promote the waitlist.

    Returns no events when nothing actually changes (a retried amendment).
    """
    launched = state.require_launched()
    if state.closed:
        raise DriveRuleError("drive_id", "drive_closed", "a closed drive cannot be amended")
    if not command.headcounts and all(
        value is None
        for value in (
            command.signup_opens_at,
            command.signup_closes_at,
            command.team_size_min,
            command.team_size_max,
        )
    ):
        raise DriveRuleError("amendment", "not_empty", "an amendment must change something")
    changed: list[RoleHeadcount] = []
    for role_id, headcount in command.headcounts.items():
        name = f"headcounts.{role_id}"
        if role_id not in state.headcounts:
            raise DriveRuleError(name, "unknown_role", f"the drive has no role {role_id}")
        _check_headcount(name, headcount)
        accepted = len(state.accepted[role_id])
        if headcount < accepted:
            raise DriveRuleError(
                name, "below_accepted", f"{accepted} sign-ups are already accepted for {role_id}"
            )
        if headcount != state.headcounts[role_id]:
            changed.append(RoleHeadcount(role_id=role_id, headcount=headcount))
    opens = command.signup_opens_at or state.signup_opens_at
    closes = command.signup_closes_at or state.signup_closes_at
    assert opens is not None
    assert closes is not None
    window_changed = (opens, closes) != (state.signup_opens_at, state.signup_closes_at)
    if window_changed:
        _check_window(opens, closes, launched.activity_starts_at, now)
    size_min = command.team_size_min if command.team_size_min is not None else state.team_size_min
    size_max = command.team_size_max if command.team_size_max is not None else state.team_size_max
    _check_team_bounds(size_min, size_max)
    amended = DriveAmended(
        drive_id=state.drive_id,
        headcounts=tuple(changed),
        signup_opens_at=opens if opens != state.signup_opens_at else None,
        signup_closes_at=closes if closes != state.signup_closes_at else None,
        team_size_min=size_min if size_min != state.team_size_min else None,
        team_size_max=size_max if size_max != state.team_size_max else None,
    )
    if amended == DriveAmended(drive_id=state.drive_id):
        return []
    events: list[DomainEvent] = [amended]
    if launched.acceptance is Acceptance.AUTOMATIC:
        for change in changed:
            free = change.headcount - len(state.accepted[change.role_id])
            events += _promote(state, change.role_id, free, PromotionReason.HEADCOUNT_INCREASE)
    return events


def close_drive(state: Drive, command: CloseDrive) -> list[DomainEvent]:
    """Stop taking sign-ups; closing a closed drive again changes nothing."""
    state.require_launched()
    if state.closed:
        return []
    return [DriveClosed(drive_id=state.drive_id, reason=command.reason)]


def close_drives(states: Sequence[Drive], command: CloseDrive) -> dict[str, list[DomainEvent]]:
    """Close several drives: the events for each drive's own stream, by drive id."""
    return {state.drive_id: close_drive(state, command) for state in states}


# --- decisions: sign-ups ----------------------------------------------------------------------


def decide_sign_up(state: Drive, request: SignUpRequest, areas: AreaTree) -> list[DomainEvent]:
    """Accept, waitlist or decline a sign-up; never raises for a volunteer who does not fit.

    A sign-up already decided returns no events, so redelivered requests are harmless.
    """
    launched = state.require_launched()
    if request.sign_up_id in state.sign_ups:
        return []
    rules = _decline_rules(state, launched, request, areas)
    if rules:
        return [
            SignUpDeclined(
                drive_id=state.drive_id,
                sign_up_id=request.sign_up_id,
                volunteer_id=request.volunteer_id,
                role_id=request.role_id,
                rule=rules[0],
                rules=tuple(rules) if len(rules) > 1 else (),
            )
        ]
    profile = request.profile
    role_id = request.role_id
    has_place = len(state.accepted[role_id]) < state.headcounts[role_id]
    if launched.acceptance is Acceptance.AUTOMATIC and has_place and not state.waitlist[role_id]:
        return [
            SignUpAccepted(
                drive_id=state.drive_id,
                sign_up_id=request.sign_up_id,
                volunteer_id=request.volunteer_id,
                role_id=role_id,
                home_area_id=profile.home_area_id,
                skills=profile.skills,
                is_party_member=profile.is_party_member,
            )
        ]
    return [
        SignUpWaitlisted(
            drive_id=state.drive_id,
            sign_up_id=request.sign_up_id,
            volunteer_id=request.volunteer_id,
            role_id=role_id,
            position=len(state.waitlist[role_id]) + 1,
            home_area_id=profile.home_area_id,
            skills=profile.skills,
            is_party_member=profile.is_party_member,
        )
    ]


def record_withdrawal(state: Drive, command: RecordWithdrawal) -> list[DomainEvent]:
    """Free the place of a withdrawn sign-up and give it to the first in the role's waitlist.

    A sign-up that holds no place or position (unknown, declined, already withdrawn)
    returns no events. A withdrawing team leader is replaced by the best remaining member.
    """
    launched = state.require_launched()
    sign_up = state.sign_ups.get(command.sign_up_id)
    if sign_up is None or sign_up.status not in (SignUpStatus.ACCEPTED, SignUpStatus.WAITLISTED):
        return []
    if command.volunteer_id is not None and command.volunteer_id != sign_up.volunteer_id:
        raise DriveRuleError(
            "volunteer_id", "owns_sign_up", "the sign-up belongs to another volunteer"
        )
    was_accepted = sign_up.status is SignUpStatus.ACCEPTED
    team_id = state.team_of.get(sign_up.volunteer_id) if was_accepted else None
    events: list[DomainEvent] = [
        SignUpWithdrawalRecorded(
            drive_id=state.drive_id,
            sign_up_id=sign_up.sign_up_id,
            volunteer_id=sign_up.volunteer_id,
            role_id=sign_up.role_id,
            was=SignUpOutcome.ACCEPTED if was_accepted else SignUpOutcome.WAITLISTED,
            team_id=team_id,
            reason=command.reason,
        )
    ]
    if team_id is not None:
        team = state.teams[team_id]
        remaining = [m for m in team.members if m != sign_up.volunteer_id]
        if team.leader_id == sign_up.volunteer_id and remaining:
            leader = choose_leader(_candidates(state, remaining))
            events.append(
                TeamLeaderChanged(
                    drive_id=state.drive_id,
                    team_id=team_id,
                    leader_id=leader.volunteer_id,
                    previous_leader_id=sign_up.volunteer_id,
                    reason="leader_withdrew",
                )
            )
    if was_accepted and launched.acceptance is Acceptance.AUTOMATIC:
        free = state.headcounts[sign_up.role_id] - (len(state.accepted[sign_up.role_id]) - 1)
        events += _promote(state, sign_up.role_id, free, PromotionReason.WITHDRAWAL)
    return events


def accept_waitlisted(state: Drive, command: AcceptWaitlisted) -> list[DomainEvent]:
    """The organiser accepts waitlisted sign-ups, all or none, within each role's free places.

    Sign-ups already accepted are skipped, so a retried bulk accept is harmless.
    """
    state.require_launched()
    wanted: list[SignUp] = []
    for index, sign_up_id in enumerate(dict.fromkeys(command.sign_up_ids)):
        sign_up = state.sign_ups.get(sign_up_id)
        name = f"sign_up_ids[{index}]"
        if sign_up is None:
            raise DriveRuleError(name, "unknown_sign_up", f"no sign-up {sign_up_id} in this drive")
        if sign_up.status is SignUpStatus.ACCEPTED:
            continue
        if sign_up.status is not SignUpStatus.WAITLISTED:
            raise DriveRuleError(
                name, "waitlisted", f"sign-up {sign_up_id} is {sign_up.status}, not waitlisted"
            )
        wanted.append(sign_up)
    by_role: dict[str, int] = {}
    for sign_up in wanted:
        by_role[sign_up.role_id] = by_role.get(sign_up.role_id, 0) + 1
    for role_id, count in by_role.items():
        free = state.headcounts[role_id] - len(state.accepted[role_id])
        if count > free:
            raise DriveRuleError(
                "sign_up_ids",
                "within_capacity",
                f"role {role_id} has {free} free place(s), {count} sign-ups were to be accepted",
            )
    return [_promoted(state, s, PromotionReason.ORGANISER) for s in wanted]


# --- decisions: teams -------------------------------------------------------------------------


def form_drive_teams(state: Drive, command: FormTeams) -> list[DomainEvent]:
    """Form teams from every accepted sign-up; a second formation needs `reform`."""
    launched = state.require_launched()
    if state.teams and not command.reform:
        raise DriveRuleError(
            "reform", "already_formed", "teams are already formed; ask for a re-formation"
        )
    accepted = [
        state.sign_ups[sign_up_id] for role in state.accepted.values() for sign_up_id in role
    ]
    if not accepted:
        raise DriveRuleError("drive_id", "has_accepted_sign_ups", "no sign-up is accepted yet")
    required = (
        command.required_skills
        if command.required_skills is not None
        else tuple(r.skill for r in launched.roles)
    )
    plans = form_teams(
        [s.candidate() for s in accepted], required, state.team_size_min, state.team_size_max
    )
    formation = state.formation + 1
    return [
        TeamFormed(
            team_id=_team_id(state, index),
            drive_id=state.drive_id,
            formation=formation,
            members=plan.members,
            leader_id=plan.leader_id,
            grid_id=plan.grid_id,
            community_id=plan.community_id,
            missing_skills=plan.missing_skills,
        )
        for index, plan in enumerate(plans, start=1)
    ]


def move_member(state: Drive, command: MoveMember) -> list[DomainEvent]:
    state.require_launched()
    from_team = _team_of_member(state, command.volunteer_id, "volunteer_id")
    to_team = _team(state, command.to_team_id, "to_team_id")
    if to_team.team_id == from_team.team_id:
        raise DriveRuleError("to_team_id", "other_team", "the volunteer is already in that team")
    if from_team.leader_id == command.volunteer_id:
        raise DriveRuleError(
            "volunteer_id", "not_leader", "change the team's leader before moving them"
        )
    if len(to_team.members) + 1 > state.team_size_max:
        raise DriveRuleError(
            "to_team_id", "team_size_max", f"teams hold at most {state.team_size_max} members"
        )
    if len(from_team.members) - 1 < state.team_size_min:
        raise DriveRuleError(
            "volunteer_id", "team_size_min", f"teams keep at least {state.team_size_min} members"
        )
    return [
        TeamMemberMoved(
            drive_id=state.drive_id,
            volunteer_id=command.volunteer_id,
            from_team_id=from_team.team_id,
            to_team_id=to_team.team_id,
        )
    ]


def change_leader(state: Drive, command: ChangeLeader) -> list[DomainEvent]:
    state.require_launched()
    team = _team(state, command.team_id, "team_id")
    if command.leader_id not in team.members:
        raise DriveRuleError("leader_id", "team_member", "the leader must be a member of the team")
    if command.leader_id == team.leader_id:
        return []
    return [
        TeamLeaderChanged(
            drive_id=state.drive_id,
            team_id=team.team_id,
            leader_id=command.leader_id,
            previous_leader_id=team.leader_id,
        )
    ]


def split_team(state: Drive, command: SplitTeam) -> list[DomainEvent]:
    state.require_launched()
    team = _team(state, command.team_id, "team_id")
    moved = tuple(dict.fromkeys(command.members))
    for index, member in enumerate(moved):
        if member not in team.members:
            raise DriveRuleError(f"members[{index}]", "team_member", f"{member} is not in the team")
    if team.leader_id in moved:
        raise DriveRuleError("members", "not_leader", "the team's leader stays with the team")
    if len(moved) < state.team_size_min or len(team.members) - len(moved) < state.team_size_min:
        raise DriveRuleError(
            "members", "team_size_min", f"both teams need at least {state.team_size_min} members"
        )
    candidates = _candidates(state, moved)
    if command.leader_id is None:
        leader_id = choose_leader(candidates).volunteer_id
    elif command.leader_id in moved:
        leader_id = command.leader_id
    else:
        raise DriveRuleError("leader_id", "team_member", "the new leader must move to the new team")
    grid, community = home_of(candidates)
    return [
        TeamSplit(
            drive_id=state.drive_id,
            team_id=team.team_id,
            new_team_id=_team_id(state, 1),
            moved_members=moved,
            new_leader_id=leader_id,
            new_grid_id=grid,
            new_community_id=community,
        )
    ]


def merge_teams(state: Drive, command: MergeTeams) -> list[DomainEvent]:
    state.require_launched()
    team = _team(state, command.team_id, "team_id")
    absorbed = _team(state, command.absorbed_team_id, "absorbed_team_id")
    if absorbed.team_id == team.team_id:
        raise DriveRuleError("absorbed_team_id", "other_team", "a team cannot absorb itself")
    if len(team.members) + len(absorbed.members) > state.team_size_max:
        raise DriveRuleError(
            "absorbed_team_id",
            "team_size_max",
            f"the merged team would exceed {state.team_size_max} members",
        )
    leader_id = command.leader_id or team.leader_id
    if leader_id not in team.members and leader_id not in absorbed.members:
        raise DriveRuleError(
            "leader_id", "team_member", "the leader must be a member of either team"
        )
    return [
        TeamsMerged(
            drive_id=state.drive_id,
            team_id=team.team_id,
            absorbed_team_id=absorbed.team_id,
            leader_id=leader_id,
        )
    ]


# --- read helpers -----------------------------------------------------------------------------


def funnel(state: Drive) -> SignUpFunnel:
    statuses = [s.status for s in state.sign_ups.values()]
    return SignUpFunnel(
        submitted=len(statuses),
        accepted=statuses.count(SignUpStatus.ACCEPTED),
        waitlisted=statuses.count(SignUpStatus.WAITLISTED),
        declined=statuses.count(SignUpStatus.DECLINED),
        withdrawn=statuses.count(SignUpStatus.WITHDRAWN),
        assigned=len(state.team_of),
    )


# --- fold -------------------------------------------------------------------------------------


def evolve(state: Drive, event: DomainEvent) -> Drive:
    """Apply one event to the drive, in place, and return it."""
    state.version += 1
    match event:
        case DriveLaunched():
            state.launched = event
            state.headcounts = {r.role_id: r.headcount for r in event.roles}
            state.accepted = {r.role_id: {} for r in event.roles}
            state.waitlist = {r.role_id: {} for r in event.roles}
            state.signup_opens_at = event.signup_opens_at
            state.signup_closes_at = event.signup_closes_at
            state.team_size_min = event.team_size_min
            state.team_size_max = event.team_size_max
        case DriveAmended():
            for change in event.headcounts:
                state.headcounts[change.role_id] = change.headcount
            state.signup_opens_at = event.signup_opens_at or state.signup_opens_at
            state.signup_closes_at = event.signup_closes_at or state.signup_closes_at
            if event.team_size_min is not None:
                state.team_size_min = event.team_size_min
            if event.team_size_max is not None:
                state.team_size_max = event.team_size_max
        case DriveClosed():
            state.closed = True
            state.close_reason = event.reason
        case SignUpAccepted() | SignUpWaitlisted():
            accepted = isinstance(event, SignUpAccepted)
            state.sign_ups[event.sign_up_id] = SignUp(
                sign_up_id=event.sign_up_id,
                volunteer_id=event.volunteer_id,
                role_id=event.role_id,
                status=SignUpStatus.ACCEPTED if accepted else SignUpStatus.WAITLISTED,
                order=_next_order(state),
                home_area_id=event.home_area_id,
                skills=event.skills,
                is_party_member=event.is_party_member,
            )
            queue = state.accepted if accepted else state.waitlist
            queue[event.role_id][event.sign_up_id] = None
            state.active_by_volunteer[event.volunteer_id] = event.sign_up_id
        case SignUpDeclined():
            state.sign_ups[event.sign_up_id] = SignUp(
                sign_up_id=event.sign_up_id,
                volunteer_id=event.volunteer_id,
                role_id=event.role_id,
                status=SignUpStatus.DECLINED,
                order=_next_order(state),
                rule=event.rule,
            )
        case SignUpPromoted():
            state.waitlist[event.role_id].pop(event.sign_up_id, None)
            state.accepted[event.role_id][event.sign_up_id] = None
            state.sign_ups[event.sign_up_id].status = SignUpStatus.ACCEPTED
        case SignUpWithdrawalRecorded():
            state.accepted[event.role_id].pop(event.sign_up_id, None)
            state.waitlist[event.role_id].pop(event.sign_up_id, None)
            state.sign_ups[event.sign_up_id].status = SignUpStatus.WITHDRAWN
            if state.active_by_volunteer.get(event.volunteer_id) == event.sign_up_id:
                del state.active_by_volunteer[event.volunteer_id]
            team_id = state.team_of.pop(event.volunteer_id, None)
            if team_id is not None:
                team = state.teams[team_id]
                team.members.remove(event.volunteer_id)
                if not team.members:
                    del state.teams[team_id]
        case TeamFormed():
            if event.formation > state.formation:
                # A new formation replaces the teams of the one before.
                state.formation = event.formation
                state.teams = {}
                state.team_of = {}
            state.teams[event.team_id] = Team(
                team_id=event.team_id,
                members=list(event.members),
                leader_id=event.leader_id,
                grid_id=event.grid_id,
                community_id=event.community_id,
            )
            for member in event.members:
                state.team_of[member] = event.team_id
            state.team_seq += 1
        case TeamMemberMoved():
            state.teams[event.from_team_id].members.remove(event.volunteer_id)
            state.teams[event.to_team_id].members.append(event.volunteer_id)
            state.team_of[event.volunteer_id] = event.to_team_id
        case TeamLeaderChanged():
            state.teams[event.team_id].leader_id = event.leader_id
        case TeamSplit():
            source = state.teams[event.team_id]
            moved = set(event.moved_members)
            source.members = [m for m in source.members if m not in moved]
            state.teams[event.new_team_id] = Team(
                team_id=event.new_team_id,
                members=list(event.moved_members),
                leader_id=event.new_leader_id,
                grid_id=event.new_grid_id,
                community_id=event.new_community_id,
            )
            for member in event.moved_members:
                state.team_of[member] = event.new_team_id
            state.team_seq += 1
        case TeamsMerged():
            absorbed = state.teams.pop(event.absorbed_team_id)
            team = state.teams[event.team_id]
            team.members.extend(absorbed.members)
            team.leader_id = event.leader_id
            for member in absorbed.members:
                state.team_of[member] = event.team_id
        case _:
            pass
    return state


def fold(drive_id: str, events: Iterable[DomainEvent]) -> Drive:
    """The state of a drive from its stream."""
    state = Drive(drive_id)
    for event in events:
        evolve(state, event)
    return state


# --- helpers ----------------------------------------------------------------------------------


def _check_headcount(name: str, headcount: int) -> None:
    if not 1 <= headcount <= MAX_HEADCOUNT:
        raise DriveRuleError(
            name,
            "between_1_and_100000",
            f"a head-count must be 1..{MAX_HEADCOUNT}, got {headcount}",
        )


def _check_window(
    opens: datetime, closes: datetime, activity_starts: datetime, now: datetime
) -> None:
    if closes <= opens:
        raise DriveRuleError(
            "signup_closes_at", "after_signup_opens", "the sign-up window must close after it opens"
        )
    if closes <= now:
        raise DriveRuleError(
            "signup_closes_at", "in_future", "the sign-up window must close in the future"
        )
    if activity_starts < closes:
        raise DriveRuleError(
            "activity_starts_at",
            "not_before_signup_closes",
            "the activity cannot start before the sign-up window closes",
        )


def _check_team_bounds(size_min: int, size_max: int) -> None:
    if not 1 <= size_min <= MAX_TEAM_SIZE:
        raise DriveRuleError(
            "team_size_min", "between_1_and_500", "team size minimum must be 1..500"
        )
    if size_max < size_min:
        raise DriveRuleError(
            "team_size_max", "not_below_min", "team size maximum must be at least the minimum"
        )
    if size_max > MAX_TEAM_SIZE:
        raise DriveRuleError(
            "team_size_max", "at_most_500", "team size maximum must be at most 500"
        )


def _decline_rules(
    state: Drive, launched: DriveLaunched, request: SignUpRequest, areas: AreaTree
) -> list[str]:
    """The rules a sign-up breaks, the gate-keeping ones alone, eligibility ones together."""
    if state.closed:
        return ["drive_closed"]
    assert state.signup_opens_at is not None
    assert state.signup_closes_at is not None
    if request.submitted_at < state.signup_opens_at:
        return ["window_not_open"]
    if request.submitted_at >= state.signup_closes_at:
        return ["window_closed"]
    if request.role_id not in state.headcounts:
        return ["unknown_role"]
    if request.volunteer_id in state.active_by_volunteer:
        return ["duplicate"]
    failed = check_eligibility(
        launched.eligibility,
        launched.scope_area_id,
        request.profile,
        areas,
        launched.activity_starts_at.date(),
    )
    role = next(r for r in launched.roles if r.role_id == request.role_id)
    if not fits_role(role, request.profile.skills):
        failed.append(ROLE_SKILL)
    return [f"{NOT_ELIGIBLE}:{rule}" for rule in failed]


def _promote(state: Drive, role_id: str, places: int, reason: PromotionReason) -> list[DomainEvent]:
    waiting = itertools.islice(state.waitlist[role_id], max(places, 0))
    return [_promoted(state, state.sign_ups[s], reason) for s in waiting]


def _promoted(state: Drive, sign_up: SignUp, reason: PromotionReason) -> SignUpPromoted:
    return SignUpPromoted(
        drive_id=state.drive_id,
        sign_up_id=sign_up.sign_up_id,
        volunteer_id=sign_up.volunteer_id,
        role_id=sign_up.role_id,
        reason=reason,
    )


def _candidates(state: Drive, volunteer_ids: Iterable[str]) -> list[TeamCandidate]:
    return [state.sign_ups[state.active_by_volunteer[v]].candidate() for v in volunteer_ids]


def _team(state: Drive, team_id: str, name: str) -> Team:
    team = state.teams.get(team_id)
    if team is None:
        raise DriveRuleError(name, "known_team", f"the drive has no team {team_id}")
    return team


def _team_of_member(state: Drive, volunteer_id: str, name: str) -> Team:
    team_id = state.team_of.get(volunteer_id)
    if team_id is None:
        raise DriveRuleError(name, "team_member", f"{volunteer_id} is in no team of this drive")
    return state.teams[team_id]


def _team_id(state: Drive, offset: int) -> str:
    return f"{state.drive_id}-team-{state.team_seq + offset:04d}"


def _next_order(state: Drive) -> int:
    state.next_order += 1
    return state.next_order
