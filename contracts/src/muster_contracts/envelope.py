"""The message envelope every Muster event travels in, on the wire and in the event store."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from pydantic import BaseModel, ConfigDict, Field

from muster_contracts.roles import Role as Role  # where it has always been imported from


class Actor(BaseModel):
    """The authenticated caller (or a system process) on whose behalf events were recorded."""

    model_config = ConfigDict(frozen=True)

    subject: str = Field(min_length=1, max_length=200)
    role: Role


class EventEnvelope(BaseModel):
    """One stored event with everything a consumer needs to apply it exactly once.

    `type` is a stable name (never a Python import path) and `schema_version` the
    version of the payload's shape; old versions are upcast on read.
    """

    model_config = ConfigDict(frozen=True)

    event_id: UUID
    type: str
    schema_version: int = Field(ge=1)
    stream_id: str
    stream_type: str
    stream_version: int = Field(ge=1)
    position: int = Field(ge=0, description="Global order in the producing service's store.")
    occurred_at: datetime
    recorded_at: datetime
    correlation_id: UUID
    causation_id: UUID | None = None
    actor: Actor
    payload: dict[str, Any]

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_json(cls, raw: bytes | str) -> EventEnvelope:
        return cls.model_validate_json(raw)
