"""Email: a volunteer's address with consent (volunteer context, sealed), the requests
notify makes for a message to be emailed (notify context), and what became of each
(volunteer context). The address never leaves the volunteer service."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from muster_contracts.events.activities import UtcDatetime
from muster_contracts.events.registry import DomainEvent
from muster_contracts.events.volunteer import VOLUNTEER_STREAM, SealedPersonalData

EMAIL_REQUEST_STREAM = "email-request"
EMAIL_DELIVERY_STREAM = "email-delivery"


class VolunteerEmailSet(DomainEvent):
    """The volunteer gave an email address and consented to be emailed there."""

    event_type: ClassVar[str] = "volunteer.email_set"
    schema_version: ClassVar[int] = 1
    stream_type: ClassVar[str] = VOLUNTEER_STREAM

    volunteer_id: str
    email: SealedPersonalData = Field(description="The address, sealed with the volunteer's key.")
    consented_at: UtcDatetime


class VolunteerEmailRemoved(DomainEvent):
    """The volunteer withdrew their address and consent: no email is sent to them."""

    event_type: ClassVar[str] = "volunteer.email_removed"
    schema_version: ClassVar[int] = 1
    stream_type: ClassVar[str] = VOLUNTEER_STREAM

    volunteer_id: str


class EmailRequested(DomainEvent):
    """Notify asks for one message to be emailed to a volunteer (stream
    `email-request-<delivery id>`, one event: a request made twice is one request).
    The texts are rendered in the volunteer's language; no personal data is carried."""

    event_type: ClassVar[str] = "notify.email_requested"
    schema_version: ClassVar[int] = 1
    stream_type: ClassVar[str] = EMAIL_REQUEST_STREAM

    delivery_id: str
    volunteer_id: str
    kind: str = Field(description="The message's kind (drive_launched, activity_reminder, …).")
    language: str = Field(description="zh-CN or en: the texts' and the email's language.")
    subject: str
    text: str
    drive_id: str | None = None
    activity_id: str | None = None


class EmailOutcome(StrEnum):
    SENT = "sent"  # the SMTP server accepted it
    NO_ADDRESS = "no_address"  # no address, or consent withdrawn
    ERASED = "erased"  # the volunteer was erased: their address can no longer be opened
    FAILED = "failed"  # the SMTP server refused it, or could not be reached, every try


class EmailDeliveryRecorded(DomainEvent):
    """What became of an email request (stream `email-delivery-<delivery id>`, one event)."""

    event_type: ClassVar[str] = "volunteer.email_delivery_recorded"
    schema_version: ClassVar[int] = 1
    stream_type: ClassVar[str] = EMAIL_DELIVERY_STREAM

    delivery_id: str
    volunteer_id: str
    outcome: EmailOutcome
    attempts: int = Field(ge=0)
    detail: str = ""
    drive_id: str | None = None
    activity_id: str | None = None
