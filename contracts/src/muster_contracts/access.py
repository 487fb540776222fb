"""Messages about access: a revoked bearer token, announced to every service.

On the wire a revocation travels like every event: an `EventEnvelope` of type
`access.token_revoked` (stream `token-<jti>`, version 1) whose payload is `TokenRevoked`,
with the same Kafka headers. Messages written before the envelope (a bare `TokenRevoked`)
are still read.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from muster_contracts.envelope import Actor, EventEnvelope

TOKEN_REVOKED = "access.token_revoked"
TOKEN_REVOKED_VERSION = 1
TOKEN_STREAM_TYPE = "token"


class TokenRevoked(BaseModel):
    """A token id (`jti`) no service may accept again before `until` (its expiry)."""

    model_config = ConfigDict(frozen=True)

    token_id: str = Field(min_length=1, max_length=200)
    until: datetime
    revoked_at: datetime
    revoked_by: Actor
    reason: str = Field(default="", max_length=200)

    def envelope(self, correlation_id: UUID) -> EventEnvelope:
        """The revocation as it is published: the first (and only) event of its token's
        stream; `position` 0, as it is in no service's store."""
        return EventEnvelope(
            event_id=uuid4(),
            type=TOKEN_REVOKED,
            schema_version=TOKEN_REVOKED_VERSION,
            stream_id=f"token-{self.token_id}",
            stream_type=TOKEN_STREAM_TYPE,
            stream_version=1,
            position=0,
            occurred_at=self.revoked_at,
            recorded_at=self.revoked_at,
            correlation_id=correlation_id,
            actor=self.revoked_by,
            payload=self.model_dump(mode="json"),
        )


class UnreadableRevocationError(ValueError):
    """Neither an enveloped revocation nor one in the format before the envelope."""


def read_revocation(raw: bytes) -> TokenRevoked:
    """The revocation in a message of the revocation topic, enveloped or bare (older)."""
    try:
        envelope = EventEnvelope.from_json(raw)
    except ValidationError:
        try:
            return TokenRevoked.model_validate_json(raw)
        except ValidationError as bare:
            raise UnreadableRevocationError(str(bare)) from None
    if envelope.type != TOKEN_REVOKED or envelope.schema_version != TOKEN_REVOKED_VERSION:
        raise UnreadableRevocationError(
            f"{envelope.type} v{envelope.schema_version} on the revocation topic"
        )
    try:
        return TokenRevoked.model_validate(envelope.payload)
    except ValidationError as error:
        raise UnreadableRevocationError(str(error)) from None
