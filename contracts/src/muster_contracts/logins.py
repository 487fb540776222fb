"""Which volunteer a login speaks for, as any consumer of the volunteer topic can tell.

A service that serves volunteers with their own tokens (an inbox, a volunteer's page)
keeps a map from login subject to volunteer id by applying `login_change` to every event
of the volunteer topic, in order per stream.
"""

from __future__ import annotations

from dataclasses import dataclass

from muster_contracts.envelope import EventEnvelope, Role
from muster_contracts.events.registry import DomainEvent
from muster_contracts.events.volunteer import (
    VolunteerErased,
    VolunteerLoginBound,
    VolunteerLoginUnbound,
    VolunteerRegistered,
)


@dataclass(frozen=True)
class LoginChange:
    """`subject` now speaks for `volunteer_id` (`bound`), or no longer does.

    An unbinding with `subject` None means: whatever login speaks for the volunteer.
    """

    volunteer_id: str
    subject: str | None
    bound: bool


def login_change(envelope: EventEnvelope, event: DomainEvent) -> LoginChange | None:
    """How one event changes the bindings of logins to volunteers (None: it does not)."""
    if isinstance(event, VolunteerLoginBound):
        return LoginChange(event.volunteer_id, event.subject, bound=True)
    if isinstance(event, VolunteerLoginUnbound):
        return LoginChange(event.volunteer_id, event.subject, bound=False)
    if isinstance(event, VolunteerRegistered) and envelope.actor.role is Role.VOLUNTEER:
        # Registered by the volunteer: their login speaks for them. Newer registrations
        # also carry a `volunteer.login_bound` saying the same; older ones only this.
        return LoginChange(event.volunteer_id, envelope.actor.subject, bound=True)
    if isinstance(event, VolunteerErased):
        # Newer erasures are preceded by `volunteer.login_unbound`; older ones only this.
        return LoginChange(event.volunteer_id, None, bound=False)
    return None
