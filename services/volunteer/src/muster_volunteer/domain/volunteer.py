"""A volunteer's record: registration, login and erasure rules, and the fold of its events."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from typing import NewType

from pydantic import BaseModel, ConfigDict, Field, field_validator

from muster_contracts.areas import AreaLevel, AreaTree
from muster_contracts.events import (
    DomainEvent,
    LoginBinding,
    SealedPersonalData,
    Skill,
    VolunteerCategory,
    VolunteerErased,
    VolunteerInvited,
    VolunteerLoginBound,
    VolunteerLoginUnbound,
    VolunteerRegistered,
)
from muster_contracts.events.contacts import VolunteerEmailRemoved, VolunteerEmailSet

_PHONE_SEPARATORS = re.compile(r"[\s\-()]")
_MAINLAND_MOBILE = re.compile(r"1[3-9]\d{9}")
_ID_NUMBER = re.compile(r"\d{17}[\dX]")
HOME_LEVELS = (AreaLevel.COMMUNITY, AreaLevel.GRID, AreaLevel.BUILDING)
# A registered volunteer's id, as a login that speaks for them names them.
VolunteerId = NewType("VolunteerId", str)


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number_check_digit(first_17: str) -> str:
    """The check character of a resident ID number (ISO 7064 MOD 11-2, as GB 11643)."""
    total = sum(int(d) * w for d, w in zip(first_17, _ID_WEIGHTS, strict=True))
    return "10X98765432"[total % 11]


class VolunteerRuleError(ValueError):
    """A registration that breaks a rule; `field` and `rule` say which."""

    def __init__(self, field: str, rule: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.rule = rule


def normalise_phone(raw: str) -> str:
    """Mainland mobile numbers in one canonical 11-digit form (`+86 138-0013-8000` too)."""
    digits = _PHONE_SEPARATORS.sub("", raw)
    for prefix in ("+86", "0086"):
        digits = digits.removeprefix(prefix)
    if not _MAINLAND_MOBILE.fullmatch(digits):
        raise ValueError("phone must be a mainland mobile number of 11 digits starting with 1")
    return digits


class PersonalData(BaseModel):
    """What identifies a person: stored only sealed with the volunteer's own key."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1, max_length=50)
    phone: str
    id_number: str | None = None
    # Where an in-service party member works: no other context reads it, and with the
    # building and birth year it would single a person out (docs/operations.md).
    employer_unit: str | None = Field(default=None, max_length=100)

    @field_validator("name")
    @classmethod
    def _strip_name(cls, value: str) -> str:
        # Any script and emoji are welcome; control characters and lone surrogates are not.
        value = unicodedata.normalize("NFC", value).strip()
        if not value:
            raise ValueError("name must not be blank")
        if any(unicodedata.category(c) in ("Cc", "Cs", "Co", "Cn") for c in value):
            raise ValueError("name must not contain control or unassigned characters")
        return value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return normalise_phone(value)

    @field_validator("id_number")
    @classmethod
    def _id_number(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().upper()
        if not _ID_NUMBER.fullmatch(value):
            raise ValueError("id_number must be an 18-character resident ID number")
        if id_number_check_digit(value[:17]) != value[17]:
            raise ValueError("id_number check digit does not match (GB 11643)")
        try:
            born = datetime.strptime(value[6:14], "%Y%m%d").date()
        except ValueError:
            raise ValueError("id_number does not hold a valid date of birth") from None
        if not date(1900, 1, 1) <= born <= date.today():
            raise ValueError("id_number does not hold a plausible date of birth")
        return value


class RegisterVolunteer(PersonalData):
    """The registration form."""

    # What `register` requires, said in the schema too (pydantic cannot express it itself).
    model_config = ConfigDict(
        json_schema_extra={
            "if": {
                "required": ["categories"],
                "properties": {
                    "categories": {
                        "contains": {"const": VolunteerCategory.IN_SERVICE_PARTY_MEMBER.value}
                    }
                },
            },
            "then": {
                "required": ["employer_unit"],
                "properties": {"employer_unit": {"type": "string", "minLength": 1}},
            },
        }
    )

    home_area_id: str = Field(min_length=4, max_length=16)
    categories: tuple[VolunteerCategory, ...] = Field(min_length=1, max_length=5)
    skills: tuple[Skill, ...] = Field(default=(Skill.GENERAL,), max_length=20)
    birth_year: int | None = Field(default=None, ge=1900, le=2100)

    def personal(self) -> PersonalData:
        return PersonalData(
            name=self.name,
            phone=self.phone,
            id_number=self.id_number,
            employer_unit=self.employer_unit,
        )


class LoginRefusal(StrEnum):
    """Why an invitation or a claim of one is refused (the machine-readable error code)."""

    ERASED = "erased"
    VOLUNTEER_ALREADY_BOUND = "volunteer_already_bound"
    LOGIN_ALREADY_BOUND = "login_already_bound"
    INVITATION_USED = "invitation_used"
    INVITATION_SUPERSEDED = "invitation_superseded"
    INVITATION_EXPIRED = "invitation_expired"


class LoginRefusedError(ValueError):
    """An invitation or claim that breaks a login rule; `refusal` says which."""

    def __init__(self, refusal: LoginRefusal, message: str) -> None:
        super().__init__(message)
        self.refusal = refusal


@dataclass(frozen=True)
class Volunteer:
    """The folded state of one volunteer stream."""

    volunteer_id: str
    version: int = 0
    registered: VolunteerRegistered | None = None
    erased: bool = False
    # The login (identity provider subject) that speaks for this volunteer, if any.
    login: str | None = None
    # The invitation whose code may still be claimed (the latest one issued), until when.
    invitation_id: str | None = None
    invitation_expires_at: datetime | None = None
    claimed_invitation_id: str | None = None
    # The email address given with consent, sealed; None when none (or withdrawn).
    email: SealedPersonalData | None = None

    @property
    def exists(self) -> bool:
        return self.registered is not None


def register(
    state: Volunteer,
    command: RegisterVolunteer,
    personal: SealedPersonalData,
    areas: AreaTree,
    login: str | None = None,
) -> list[DomainEvent]:
    """Register; `login` is the registering volunteer's own subject (not an organiser's),
    bound to the new record in the same step."""
    if state.exists:
        raise VolunteerRuleError("volunteer_id", "unique", "this volunteer is already registered")
    check_registration(command, areas)
    return [
        VolunteerRegistered(
            volunteer_id=state.volunteer_id,
            home_area_id=command.home_area_id,
            categories=tuple(dict.fromkeys(command.categories)),
            skills=tuple(dict.fromkeys(command.skills)),
            birth_year=command.birth_year,
            personal=personal,  # the employer unit too: never in clear
        ),
        *(
            []
            if login is None
            else [
                VolunteerLoginBound(
                    volunteer_id=state.volunteer_id,
                    subject=login,
                    binding=LoginBinding.REGISTRATION,
                )
            ]
        ),
    ]


def check_registration(command: RegisterVolunteer, areas: AreaTree) -> None:
    """The form's rules that pydantic cannot say: a home where volunteers live, and an
    employer unit for an in-service party member."""
    if command.home_area_id not in areas:
        raise VolunteerRuleError(
            "home_area_id", "known_area", f"unknown area {command.home_area_id}"
        )
    if areas.get(command.home_area_id).level not in HOME_LEVELS:
        raise VolunteerRuleError(
            "home_area_id", "home_level", "the home area must be a community, grid or building"
        )
    if (
        VolunteerCategory.IN_SERVICE_PARTY_MEMBER in command.categories
        and not command.employer_unit
    ):
        raise VolunteerRuleError(
            "employer_unit",
            "required_for_in_service_party_member",
            "an in-service party member reports with an employer unit",
        )


def invite(state: Volunteer, invitation_id: str, expires_at: datetime) -> list[DomainEvent]:
    """Invite a registered volunteer without a login to claim their record; the new
    invitation supersedes any earlier one."""
    if not state.exists:
        raise VolunteerRuleError("volunteer_id", "registered", "no such volunteer")
    if state.erased:
        raise LoginRefusedError(LoginRefusal.ERASED, "this volunteer was erased")
    if state.login is not None:
        raise LoginRefusedError(
            LoginRefusal.VOLUNTEER_ALREADY_BOUND,
            "this volunteer has a login already; an invitation would have nothing to bind",
        )
    return [
        VolunteerInvited(
            volunteer_id=state.volunteer_id, invitation_id=invitation_id, expires_at=expires_at
        )
    ]


def claim(
    state: Volunteer,
    invitation_id: str,
    login: str,
    now: datetime,
    login_speaks_for: str | None,
) -> list[DomainEvent]:
    """Bind `login` to the volunteer whose invitation `invitation_id` it presents.

    Args:
        login_speaks_for: the volunteer `login` is bound to already, if any.
    """
    if not state.exists:
        raise VolunteerRuleError("volunteer_id", "registered", "no such volunteer")
    if state.erased:
        raise LoginRefusedError(LoginRefusal.ERASED, "this volunteer was erased")
    if invitation_id == state.claimed_invitation_id:
        raise LoginRefusedError(
            LoginRefusal.INVITATION_USED, "this invitation has been claimed already"
        )
    if invitation_id != state.invitation_id:
        raise LoginRefusedError(
            LoginRefusal.INVITATION_SUPERSEDED,
            "a newer invitation replaced this one; ask the organiser for the latest code",
        )
    assert state.invitation_expires_at is not None
    if now >= state.invitation_expires_at:
        raise LoginRefusedError(
            LoginRefusal.INVITATION_EXPIRED,
            "this invitation has expired; ask the organiser for a new one",
        )
    if state.login is not None:
        raise LoginRefusedError(
            LoginRefusal.VOLUNTEER_ALREADY_BOUND, "this volunteer has another login already"
        )
    if login_speaks_for is not None:
        raise LoginRefusedError(
            LoginRefusal.LOGIN_ALREADY_BOUND,
            "your login speaks for another volunteer already; one login, one volunteer",
        )
    return [
        VolunteerLoginBound(
            volunteer_id=state.volunteer_id,
            subject=login,
            binding=LoginBinding.INVITATION,
            invitation_id=invitation_id,
        )
    ]


def erase(state: Volunteer, requested_by: str) -> list[DomainEvent]:
    if not state.exists:
        raise VolunteerRuleError("volunteer_id", "registered", "no such volunteer")
    if state.erased:
        return []
    unbound: list[DomainEvent] = (
        []
        if state.login is None
        else [
            VolunteerLoginUnbound(
                volunteer_id=state.volunteer_id, subject=state.login, reason="erased"
            )
        ]
    )
    return [
        *unbound,
        VolunteerErased(volunteer_id=state.volunteer_id, requested_by=requested_by),
    ]


def evolve(state: Volunteer, event: DomainEvent) -> Volunteer:
    if isinstance(event, VolunteerRegistered):
        return replace(state, version=state.version + 1, registered=event)
    if isinstance(event, VolunteerErased):
        return replace(
            state,
            version=state.version + 1,
            erased=True,
            invitation_id=None,
            login=None,
            email=None,
        )
    if isinstance(event, VolunteerInvited):
        return replace(
            state,
            version=state.version + 1,
            invitation_id=event.invitation_id,
            invitation_expires_at=event.expires_at,
        )
    if isinstance(event, VolunteerLoginBound):
        claimed = event.invitation_id or state.claimed_invitation_id
        return replace(
            state, version=state.version + 1, login=event.subject, claimed_invitation_id=claimed
        )
    if isinstance(event, VolunteerLoginUnbound):
        return replace(state, version=state.version + 1, login=None)
    if isinstance(event, VolunteerEmailSet):
        return replace(state, version=state.version + 1, email=event.email)
    if isinstance(event, VolunteerEmailRemoved):
        return replace(state, version=state.version + 1, email=None)
    return replace(state, version=state.version + 1)
