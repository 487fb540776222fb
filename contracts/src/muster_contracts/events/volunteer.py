"""Events of the volunteer context: registration and profile."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

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
    employer_unit: str | None = None
    personal: SealedPersonalData


class VolunteerErased(DomainEvent):
    """A volunteer's personal data was erased (their key destroyed); their service stays."""

    event_type: ClassVar[str] = "volunteer.erased"
    schema_version: ClassVar[int] = 1
    stream_type: ClassVar[str] = VOLUNTEER_STREAM

    volunteer_id: str
    requested_by: str = Field(description="volunteer (their own request) or admin")
