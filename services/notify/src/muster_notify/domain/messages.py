"""A message to one volunteer, caused by one event (or one timer), with a deterministic id."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

# Fixed forever: message ids derived from it are stored.
MESSAGE_NAMESPACE = uuid.UUID("6f1c1d52-8e0b-4d4e-9a57-5b7c2f0e9d31")


class MessageKind(StrEnum):
    """What a message tells."""

    DRIVE_LAUNCHED = "drive_launched"
    SIGN_UP_ACCEPTED = "sign_up_accepted"
    SIGN_UP_WAITLISTED = "sign_up_waitlisted"
    SIGN_UP_PROMOTED = "sign_up_promoted"
    SIGN_UP_DECLINED = "sign_up_declined"
    SIGN_UP_WITHDRAWN = "sign_up_withdrawn"
    TEAM_ASSIGNED = "team_assigned"
    ACTIVITY_AMENDED = "activity_amended"
    ACTIVITY_CANCELLED = "activity_cancelled"
    ACTIVITY_REMINDER = "activity_reminder"
    CHECK_IN_OPEN = "check_in_open"
    HOURS_APPROVED = "hours_approved"
    STAR_REACHED = "star_reached"


class Language(StrEnum):
    """The languages a message reads in; a volunteer chooses one (default zh-CN)."""

    ZH_CN = "zh-CN"
    EN = "en"


def message_id(recipient: str, cause: str, kind: MessageKind) -> str:
    """The same recipient, cause and kind always give the same id: a redelivered event, a
    restart or a replay rewrites nothing and never makes a second copy."""
    return str(uuid.uuid5(MESSAGE_NAMESPACE, f"{recipient}\n{cause}\n{kind.value}"))


@dataclass(frozen=True)
class Cause:
    """What a message answers to: an event's id and when it happened, or a timer's."""

    cause_id: str
    at: datetime


@dataclass(frozen=True)
class Message:
    """One message for one volunteer. `params` fill its text in either language."""

    volunteer_id: str
    kind: MessageKind
    cause: Cause
    params: dict[str, Any] = field(default_factory=dict)
    drive_id: str | None = None
    activity_id: str | None = None

    @property
    def message_id(self) -> str:
        return message_id(self.volunteer_id, self.cause.cause_id, self.kind)


def addressed(
    recipients: list[str] | tuple[str, ...],
    kind: MessageKind,
    cause: Cause,
    params: dict[str, Any],
    *,
    drive_id: str | None = None,
    activity_id: str | None = None,
) -> list[Message]:
    """The same message to each recipient, each once, in the order given."""
    seen: dict[str, None] = dict.fromkeys(recipients)
    return [
        Message(v, kind, cause, params, drive_id=drive_id, activity_id=activity_id) for v in seen
    ]
