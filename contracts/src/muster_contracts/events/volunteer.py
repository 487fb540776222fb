"""Events of the volunteer context: registration, logins and erasure."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from muster_contracts.events.activities import UtcDatetime
from muster_contracts.events.registry import DomainEvent

VOLUNTEER_STREAM = "volunteer"


class VolunteerCategory(StrEnum):
    """Who a volunteer is, as the district counts them."""

    PARTY_MEMBER = "party_member"
    # 双报到: an in-service party member reporting to the home community, with an employer unit.
    IN_SERVICE_PARTY_MEMBER = "in_service_party_member"
    RESIDENT = "resident"
    STUDENT = "student"
    COMPANY_STAFF = "company_staff"


class Skill(StrEnum):
    """The normalised skill taxonomy drives ask for and volunteers offer."""

    GENERAL = "general"
    FIRST_AID = "first_aid"
    MEDICAL = "medical"
    ELDERLY_CARE = "elderly_care"
    CHILD_CARE = "child_care"
    TUTORING = "tutoring"
    LEGAL_AID = "legal_aid"
    COUNSELLING = "counselling"
    ELECTRICAL_REPAIR = "electrical_repair"
    PLUMBING = "plumbing"
    HAIRCUT = "haircut"
    COOKING = "cooking"
    DRIVING = "driving"
    PHOTOGRAPHY = "photography"
    IT_SUPPORT = "it_support"
    SIGN_LANGUAGE = "sign_language"
    TRANSLATION = "translation"
    PATROL = "patrol"
    ENVIRONMENT = "environment"


class SealedPersonalData(BaseModel):
    """Personal data encrypted with the volunteer's own key (crypto-shredding on erasure).

    Only the volunteer service holds the keys; other contexts see an opaque blob.
    """

    model_config = ConfigDict(frozen=True)

    key_id: str
    ciphertext: str = Field(description="URL-safe base64 of nonce + AES-GCM ciphertext.")


class VolunteerRegistered(DomainEvent):
    """A person registered as a volunteer (one person, one record)."""

    event_type: ClassVar[str] = "volunteer.registered"
    schema_version: ClassVar[int] = 1
    stream_type: ClassVar[str] = VOLUNTEER_STREAM

    volunteer_id: str
    home_area_id: str
    categories: tuple[VolunteerCategory, ...]
    skills: tuple[Skill, ...]
    birth_year: int | None = None
    employer_unit: str | None = Field(
        default=None,
        description="Set only by registrations before the employer unit was sealed with the "
        "personal data; now always null (it travels in `personal`).",
    )
    personal: SealedPersonalData


class VolunteerErased(DomainEvent):
    """A volunteer's personal data was erased (their key destroyed); their service stays."""

    event_type: ClassVar[str] = "volunteer.erased"
    schema_version: ClassVar[int] = 1
    stream_type: ClassVar[str] = VOLUNTEER_STREAM

    volunteer_id: str
    requested_by: str = Field(description="volunteer (their own request) or admin")


class VolunteerInvited(DomainEvent):
    """An organiser invited a registered volunteer to bind their login with a one-time code.

    The code itself travels only in the organiser's answer: it is never published and is
    stored only as a keyed hash. A later invitation of the same volunteer supersedes this
    one; the code stops working at `expires_at` or once claimed.
    """

    event_type: ClassVar[str] = "volunteer.invited"
    schema_version: ClassVar[int] = 1
    stream_type: ClassVar[str] = VOLUNTEER_STREAM

    volunteer_id: str
    invitation_id: str
    expires_at: UtcDatetime


class LoginBinding(StrEnum):
    """How a login came to speak for a volunteer."""

    REGISTRATION = "registration"  # the volunteer registered themself with this login
    INVITATION = "invitation"  # the volunteer claimed an organiser's invitation


class VolunteerLoginBound(DomainEvent):
    """A login now speaks for this volunteer: a `volunteer` token whose `sub` is `subject`
    acts as `volunteer_id` (one login per volunteer, one volunteer per login).

    `subject` is the identity provider's subject (the token's `sub`), the same value the
    envelope's `actor.subject` carries for everything this login does: a pseudonymous
    account id, not a name, phone or ID number. The binding holds until a
    `volunteer.login_unbound` of the same volunteer. Volunteers who registered themselves
    before this event existed are bound to the `actor.subject` of their
    `volunteer.registered`.
    """

    event_type: ClassVar[str] = "volunteer.login_bound"
    schema_version: ClassVar[int] = 1
    stream_type: ClassVar[str] = VOLUNTEER_STREAM

    volunteer_id: str
    subject: str = Field(min_length=1, max_length=200)
    binding: LoginBinding
    invitation_id: str | None = Field(
        default=None, description="The invitation claimed (binding `invitation`)."
    )


class VolunteerLoginUnbound(DomainEvent):
    """A login no longer speaks for this volunteer (today: the volunteer was erased)."""

    event_type: ClassVar[str] = "volunteer.login_unbound"
    schema_version: ClassVar[int] = 1
    stream_type: ClassVar[str] = VOLUNTEER_STREAM

    volunteer_id: str
    subject: str = Field(min_length=1, max_length=200)
    reason: str = Field(description="`erased`")
