"""Which volunteer a login speaks for, told from the volunteer topic alone."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from muster_contracts.envelope import Actor, EventEnvelope, Role
from muster_contracts.events import (
    DomainEvent,
    LoginBinding,
    SealedPersonalData,
    VolunteerErased,
    VolunteerLoginBound,
    VolunteerLoginUnbound,
    VolunteerRegistered,
)
from muster_contracts.logins import LoginChange, login_change

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def by(subject: str, role: Role, event: DomainEvent) -> EventEnvelope:
    return EventEnvelope(
        event_id=uuid4(), type=event.event_type, schema_version=1, stream_id="volunteer-v1",
        stream_type="volunteer", stream_version=1, position=1, occurred_at=NOW,
        recorded_at=NOW, correlation_id=uuid4(), actor=Actor(subject=subject, role=role),
        payload=event.model_dump(mode="json"),
    )  # fmt: skip


def registered(volunteer_id: str) -> VolunteerRegistered:
    return VolunteerRegistered(
        volunteer_id=volunteer_id, home_area_id="130203001001", categories=("resident",),
        skills=("general",), personal=SealedPersonalData(key_id=volunteer_id, ciphertext="x"),
    )  # fmt: skip


def speaks_for(*events: tuple[str, Role, DomainEvent]) -> dict[str, str]:
    """The map a consumer keeps: login subject -> volunteer id."""
    bindings: dict[str, str] = {}
    for subject, role, event in events:
        change = login_change(by(subject, role, event), event)
        if change is None:
            continue
        if change.bound:
            assert change.subject is not None
            bindings[change.subject] = change.volunteer_id
        else:
            bindings = {
                s: v
                for s, v in bindings.items()
                if v != change.volunteer_id or (change.subject not in (None, s))
            }
    return bindings


def test_a_claimed_invitation_binds_the_claiming_login() -> None:
    bound = VolunteerLoginBound(
        volunteer_id="v1", subject="idp|a", binding=LoginBinding.INVITATION, invitation_id="i1"
    )

    assert login_change(by("idp|a", Role.VOLUNTEER, bound), bound) == LoginChange(
        "v1", "idp|a", bound=True
    )
    assert speaks_for(
        ("org", Role.ORGANISER, registered("v1")), ("idp|a", Role.VOLUNTEER, bound)
    ) == {"idp|a": "v1"}


def test_an_organisers_registration_binds_nobody() -> None:
    assert speaks_for(("org", Role.ORGANISER, registered("v1"))) == {}


def test_a_registration_by_the_volunteer_binds_them_with_or_without_its_binding_event() -> None:
    bound = VolunteerLoginBound(
        volunteer_id="v1", subject="idp|a", binding=LoginBinding.REGISTRATION
    )
    older = [("idp|a", Role.VOLUNTEER, registered("v1"))]

    assert (
        speaks_for(*older)
        == speaks_for(*older, ("idp|a", Role.VOLUNTEER, bound))
        == {"idp|a": "v1"}
    )


def test_erasure_unbinds_with_or_without_its_unbinding_event() -> None:
    self_registered = ("idp|a", Role.VOLUNTEER, registered("v1"))
    other = ("idp|b", Role.VOLUNTEER, registered("v2"))
    unbound = VolunteerLoginUnbound(volunteer_id="v1", subject="idp|a", reason="erased")
    erased = VolunteerErased(volunteer_id="v1", requested_by="admin")

    newer = speaks_for(
        self_registered, other, ("idp|a", Role.VOLUNTEER, unbound), ("adm", Role.ADMIN, erased)
    )
    older = speaks_for(self_registered, other, ("adm", Role.ADMIN, erased))

    assert newer == older == {"idp|b": "v2"}
