"""A volunteer's email address with consent, and the email a message request becomes:
zh-CN and English frames around notify's texts, each with a plain-text and an HTML part."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader
from pydantic import BaseModel, ConfigDict, Field, field_validator

from muster_contracts.events import DomainEvent, SealedPersonalData
from muster_contracts.events.contacts import VolunteerEmailRemoved, VolunteerEmailSet
from muster_volunteer.domain.volunteer import Volunteer, VolunteerRuleError

# Deliberately plain: one @, a dot in the domain, no spaces or angle brackets (the SMTP
# server is the final judge; this refuses what is surely not an address).
_ADDRESS = re.compile(r"[^@\s<>\"(),;:]{1,64}@[^@\s<>\"(),;:]+\.[^@\s<>\"(),;:.]{2,}")


class EmailContact(BaseModel):
    """The address, as sealed with the volunteer's key."""

    model_config = ConfigDict(frozen=True)

    email: str = Field(max_length=254)

    @field_validator("email")
    @classmethod
    def _address(cls, value: str) -> str:
        value = value.strip()
        if not _ADDRESS.fullmatch(value):
            raise ValueError("email must be an address like name@example.com")
        local, domain = value.rsplit("@", 1)
        return f"{local}@{domain.lower()}"


def set_email(
    state: Volunteer, sealed: SealedPersonalData, consent: bool, now: datetime
) -> list[DomainEvent]:
    """Give or change the address; only with consent to be emailed there."""
    _require_active(state)
    if not consent:
        raise VolunteerRuleError(
            "consent", "consent_required", "an address is kept only with consent to email it"
        )
    return [VolunteerEmailSet(volunteer_id=state.volunteer_id, email=sealed, consented_at=now)]


def remove_email(state: Volunteer) -> list[DomainEvent]:
    """Withdraw the address and the consent; nothing when there is none."""
    _require_active(state)
    if state.email is None:
        return []
    return [VolunteerEmailRemoved(volunteer_id=state.volunteer_id)]


def _require_active(state: Volunteer) -> None:
    if not state.exists or state.erased:
        raise VolunteerRuleError("volunteer_id", "active", "no such volunteer")


# --- the email's frame ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Email:
    subject: str
    text: str
    html: str


FRAMES = {
    "zh-CN": {
        "greeting": "您好：",
        "footer": (
            "此邮件由 Muster 志愿服务平台发送，因为您提供了邮箱并同意接收通知。"
            "如需退订或调整免打扰时段，请在应用的“通知设置”中修改，或删除您的邮箱。"
        ),
        "signature": "Muster 志愿服务平台",
    },
    "en": {
        "greeting": "Hello,",
        "footer": (
            "Muster sent you this email because you gave this address and agreed to "
            "notifications. To stop them or change your quiet hours, open Notification "
            "settings in the app, or remove your address."
        ),
        "signature": "Muster volunteer service",
    },
}


# The HTML part's frame (`templates/email.html`); every text is escaped.
_HTML = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True)


def compose(language: str, subject: str, text: str) -> Email:
    """The email in `language` (zh-CN unless en): plain text, and HTML with every text
    escaped."""
    frame = FRAMES.get(language, FRAMES["zh-CN"])
    plain = f"{frame['greeting']}\n\n{text}\n\n-- \n{frame['signature']}\n{frame['footer']}\n"
    lang = "en" if language == "en" else "zh-CN"
    markup = _HTML.get_template("email.html").render(
        lang=lang, subject=subject, text=text, frame=frame
    )
    return Email(subject=subject, text=plain, html=markup)
