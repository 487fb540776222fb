"""Which context publishes which stream types (one event topic per context), and which
contexts' events each service consumes (each consuming service has a dead-letter topic)."""

from __future__ import annotations

# A stream type belongs to the context whose service appends to it.
STREAM_CONTEXTS: dict[str, str] = {
    "volunteer": "volunteer",
    "signup": "volunteer",
    "attendance": "volunteer",
    "drive": "dispatch",
    "team": "dispatch",
    "activity": "dispatch",
    "area-tree": "dispatch",
    "service-day": "dispatch",
    "email-delivery": "volunteer",
    "email-request": "notify",
}
CONTEXTS = ("volunteer", "dispatch", "notify")
# Each consuming service and the contexts whose events it reads (its bootstrap's `CONSUMES`).
CONSUMERS: dict[str, tuple[str, ...]] = {
    "volunteer": ("dispatch", "notify"),
    "dispatch": ("volunteer", "dispatch"),
    "reporting": ("volunteer", "dispatch"),
    "notify": ("volunteer", "dispatch"),
}


def context_of(stream_type: str) -> str:
    return STREAM_CONTEXTS[stream_type]


def event_topic(prefix: str, context: str) -> str:
    """The topic a context's events are relayed to (`muster.volunteer.events`)."""
    return f"{prefix}.{context}.events"


def revocation_topic(prefix: str) -> str:
    """Where revoked bearer tokens are announced to every service (`muster.access.revocations`)."""
    return f"{prefix}.access.revocations"
