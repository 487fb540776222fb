"""The roles a bearer token can carry (no dependencies: the `muster token` CLI imports it)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """Who is acting: the roles a bearer token can carry."""

    VOLUNTEER = "volunteer"
    ORGANISER = "organiser"
    LEADER = "leader"
    ADMIN = "admin"
    SYSTEM = "system"
