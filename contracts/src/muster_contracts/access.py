"""Messages about access: a revoked bearer token, announced to every service."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from muster_contracts.envelope import Actor


class TokenRevoked(BaseModel):
    """A token id (`jti`) no service may accept again before `until` (its expiry)."""

    model_config = ConfigDict(frozen=True)

    token_id: str = Field(min_length=1, max_length=200)
    until: datetime
    revoked_at: datetime
    revoked_by: Actor
    reason: str = Field(default="", max_length=200)
