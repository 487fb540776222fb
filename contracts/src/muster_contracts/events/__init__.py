"""Domain event payloads shared by the services, with their stable names and versions."""

# Importing the modules registers every event type by its stable name.
from muster_contracts.events import activities, areas, contacts, drives
from muster_contracts.events.registry import (
    DomainEvent,
    UnknownEventTypeError,
    decode_payload,
    event_types,
    register_upcaster,
)
from muster_contracts.events.volunteer import (
    VOLUNTEER_STREAM,
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

__all__ = [
    "VOLUNTEER_STREAM",
    "DomainEvent",
    "LoginBinding",
    "SealedPersonalData",
    "Skill",
    "UnknownEventTypeError",
    "VolunteerCategory",
    "VolunteerErased",
    "VolunteerInvited",
    "VolunteerLoginBound",
    "VolunteerLoginUnbound",
    "VolunteerRegistered",
    "activities",
    "areas",
    "contacts",
    "decode_payload",
    "drives",
    "event_types",
    "register_upcaster",
]
