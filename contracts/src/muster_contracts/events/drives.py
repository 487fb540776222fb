"""Events of recruitment drives: launch and amendments, sign-up decisions and waitlists, teams.

Sign-up requests live on the volunteer's side (`signup` streams); every decision about them
lives on the drive's own stream in dispatch, so capacity is guarded by one stream version.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from muster_contracts.events.registry import DomainEvent
from muster_contracts.events.volunteer import Skill

SIGNUP_STREAM = "signup"
DRIVE_STREAM = "drive"


class ServiceCategory(StrEnum):
    """What kind of service a drive recruits for, as the district reports it."""

    ELDERLY_CARE = "elderly_care"  # 为老服务 / 一老一小
    ENVIRONMENT = "environment"  # 环境整治
    PATROL = "patrol"  # 治安巡逻
    EPIDEMIC_PREVENTION = "epidemic_prevention"  # 疫情防控
    CIVILISED_CITY = "civilised_city"  # 文明城市创建
    EDUCATION = "education"  # 助学 / 四点半课堂
    LEGAL_AID = "legal_aid"  # 法律援助 / 矛盾调解
    CULTURE = "culture"  # 文化活动 / 文明实践
    EMERGENCY = "emergency"  # 应急救援
    OTHER = "other"


class Acceptance(StrEnum):
    """How eligible sign-ups become accepted."""

    # First come, first served up to the head-count; the rest wait in order.
    AUTOMATIC = "automatic"
    # Every eligible sign-up waits until the organiser accepts it (bulk accept).
    ORGANISER = "organiser"


class PromotionReason(StrEnum):
    """Why a waitlisted sign-up was accepted."""

    WITHDRAWAL = "withdrawal"
    HEADCOUNT_INCREASE = "headcount_increase"
    ORGANISER = "organiser"


class SignUpOutcome(StrEnum):
    """Where a sign-up stood when its volunteer withdrew."""

    ACCEPTED = "accepted"
    WAITLISTED = "waitlisted"


class Role(BaseModel):
    """One role of a drive: a skill (or `general`, open to anyone) and how many people."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role_id: str = Field(min_length=1, max_length=40)
    skill: Skill = Skill.GENERAL
    headcount: int


class Eligibility(BaseModel):
    """Who may sign up at all; roles then narrow down by skill."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    residents_only: bool = Field(
        default=False, description="Only volunteers whose home area lies within the scope."
    )
    party_members_only: bool = Field(
        default=False, description="Only party members and in-service party members (双报到)."
    )
    min_age: int | None = Field(
        default=None, description="Age reached in the year the activity starts."
    )


class RoleHeadcount(BaseModel):
    """A new head-count for one role."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role_id: str
    headcount: int


# --- volunteer context: the request and its withdrawal --------------------------------------


class SignUpSubmitted(DomainEvent):
    """A volunteer asked to take a role in a drive (dispatch decides on it)."""

    event_type: ClassVar[str] = "signup.submitted"
    schema_version: ClassVar[int] = 1
    stream_type: ClassVar[str] = SIGNUP_STREAM

    sign_up_id: str
    drive_id: str
    volunteer_id: str
    role_id: str
    submitted_at: AwareDatetime | None = None


class SignUpWithdrawn(DomainEvent):
    """A volunteer withdrew a sign-up (dispatch frees the place)."""

    event_type: ClassVar[str] = "signup.withdrawn"
    schema_version: ClassVar[int] = 1
    stream_type: ClassVar[str] = SIGNUP_STREAM

    sign_up_id: str
    drive_id: str
    volunteer_id: str
    reason: str | None = None


# --- dispatch: the drive itself ---------------------------------------------------------------


class DriveLaunched(DomainEvent):
    """An organiser launched a recruitment drive (招募)."""

    event_type: ClassVar[str] = "drive.launched"
    schema_version: ClassVar[int] = 1
    stream_type: ClassVar[str] = DRIVE_STREAM

    drive_id: str
    title: str
    organiser: str
    scope_area_id: str
    category: ServiceCategory
    roles: tuple[Role, ...]
    signup_opens_at: AwareDatetime
    signup_closes_at: AwareDatetime
    activity_starts_at: AwareDatetime
    activity_ends_at: AwareDatetime
    eligibility: Eligibility
    team_size_min: int
    team_size_max: int
    acceptance: Acceptance = Acceptance.AUTOMATIC


class DriveAmended(DomainEvent):
    """An organiser changed a drive; only the changed fields are set."""

    event_type: ClassVar[str] = "drive.amended"
    schema_version: ClassVar[int] = 1
    stream_type: ClassVar[str] = DRIVE_STREAM

    drive_id: str
    headcounts: tuple[RoleHeadcount, ...] = ()
    signup_opens_at: AwareDatetime | None = None
    signup_closes_at: AwareDatetime | None = None
    team_size_min: int | None = None
    team_size_max: int | None = None


class DriveClosed(DomainEvent):
    """A drive takes no more sign-ups."""

    event_type: ClassVar[str] = "drive.closed"
    schema_version: ClassVar[int] = 1
    stream_type: ClassVar[str] = DRIVE_STREAM

    drive_id: str
    reason: str


# --- dispatch: decisions on sign-ups ------------------------------------------------------------


class SignUpAccepted(DomainEvent):
    """A sign-up took a place in its role.

    It carries the volunteer's home area, skills and party membership as dispatch knew them
    when deciding, so that team formation replays from the drive stream alone.
    """

    event_type: ClassVar[str] = "signup.accepted"
    schema_version: ClassVar[int] = 1
    stream_type: ClassVar[str] = DRIVE_STREAM

    drive_id: str
    sign_up_id: str
    volunteer_id: str
    role_id: str
    home_area_id: str
    skills: tuple[Skill, ...]
    is_party_member: bool


class SignUpWaitlisted(DomainEvent):
    """A sign-up waits for a place in its role; `position` counts from 1 within the role."""

    event_type: ClassVar[str] = "signup.waitlisted"
    schema_version: ClassVar[int] = 1
    stream_type: ClassVar[str] = DRIVE_STREAM

    drive_id: str
    sign_up_id: str
    volunteer_id: str
    role_id: str
    position: int
    home_area_id: str
    skills: tuple[Skill, ...]
    is_party_member: bool


class SignUpDeclined(DomainEvent):
    """A sign-up was refused by a rule (`not_eligible:min_age`, `drive_closed`, ...)."""

    event_type: ClassVar[str] = "signup.declined"
    schema_version: ClassVar[int] = 1
    stream_type: ClassVar[str] = DRIVE_STREAM

    drive_id: str
    sign_up_id: str
    volunteer_id: str
    role_id: str
    rule: str
    rules: tuple[str, ...] = Field(
        default=(), description="Every rule that failed, when more than one did."
    )


class SignUpPromoted(DomainEvent):
    """A waitlisted sign-up was accepted."""

    event_type: ClassVar[str] = "signup.promoted"
    schema_version: ClassVar[int] = 1
    stream_type: ClassVar[str] = DRIVE_STREAM

    drive_id: str
    sign_up_id: str
    volunteer_id: str
    role_id: str
    reason: PromotionReason


class SignUpWithdrawalRecorded(DomainEvent):
    """Dispatch acknowledged a withdrawal: the place (or waitlist position) is free."""

    event_type: ClassVar[str] = "signup.withdrawal_recorded"
    schema_version: ClassVar[int] = 1
    stream_type: ClassVar[str] = DRIVE_STREAM

    drive_id: str
    sign_up_id: str
    volunteer_id: str
    role_id: str
    was: SignUpOutcome
    team_id: str | None = Field(default=None, description="The team the volunteer leaves.")
    reason: str | None = None


# --- dispatch: teams ------------------------------------------------------------------------------


class TeamFormed(DomainEvent):
    """A team (志愿服务队) was formed from accepted sign-ups.

    `formation` counts formation runs of the drive; a higher one replaces earlier teams.
    """

    event_type: ClassVar[str] = "team.formed"
    schema_version: ClassVar[int] = 1
    stream_type: ClassVar[str] = DRIVE_STREAM

    team_id: str
    drive_id: str
    formation: int
    members: tuple[str, ...]
    leader_id: str
    grid_id: str | None = Field(default=None, description="The grid most members live in.")
    community_id: str | None = Field(default=None, description="The community of that grid.")
    missing_skills: tuple[Skill, ...] = ()


class TeamMemberMoved(DomainEvent):
    """An organiser moved a member from one team to another."""

    event_type: ClassVar[str] = "team.member_moved"
    schema_version: ClassVar[int] = 1
    stream_type: ClassVar[str] = DRIVE_STREAM

    drive_id: str
    volunteer_id: str
    from_team_id: str
    to_team_id: str


class TeamLeaderChanged(DomainEvent):
    """A team got a new leader (by the organiser, or because the leader withdrew)."""

    event_type: ClassVar[str] = "team.leader_changed"
    schema_version: ClassVar[int] = 1
    stream_type: ClassVar[str] = DRIVE_STREAM

    drive_id: str
    team_id: str
    leader_id: str
    previous_leader_id: str | None
    reason: str = "organiser"


class TeamSplit(DomainEvent):
    """Part of a team's members left to form a new team with its own leader."""

    event_type: ClassVar[str] = "team.split"
    schema_version: ClassVar[int] = 1
    stream_type: ClassVar[str] = DRIVE_STREAM

    drive_id: str
    team_id: str
    new_team_id: str
    moved_members: tuple[str, ...]
    new_leader_id: str
    new_grid_id: str | None = None
    new_community_id: str | None = None


class TeamsMerged(DomainEvent):
    """Two teams became one: the absorbed team's members joined the kept team."""

    event_type: ClassVar[str] = "team.merged"
    schema_version: ClassVar[int] = 1
    stream_type: ClassVar[str] = DRIVE_STREAM

    drive_id: str
    team_id: str
    absorbed_team_id: str
    leader_id: str
