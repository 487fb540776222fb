"""Revocations travel in the event envelope; those written before it are still read."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from muster_contracts.access import (
    TOKEN_REVOKED,
    TokenRevoked,
    UnreadableRevocationError,
    read_revocation,
)
from muster_contracts.envelope import Actor, EventEnvelope, Role

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
REVOKED = TokenRevoked(
    token_id="jti-7",
    until=NOW,
    revoked_at=NOW,
    revoked_by=Actor(subject="admin-wang", role=Role.ADMIN),
    reason="posted in a group chat",
)


def test_a_revocation_is_the_first_event_of_its_token_stream() -> None:
    correlation = uuid4()
    envelope = REVOKED.envelope(correlation)
    assert (envelope.type, envelope.schema_version) == (TOKEN_REVOKED, 1)
    assert (envelope.stream_id, envelope.stream_version) == ("token-jti-7", 1)
    assert envelope.actor == REVOKED.revoked_by
    assert envelope.correlation_id == correlation
    assert read_revocation(envelope.to_json()) == REVOKED


def test_a_revocation_written_before_the_envelope_is_still_read() -> None:
    assert read_revocation(REVOKED.model_dump_json().encode()) == REVOKED


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b'{"token_id": "jti-7"}',
        REVOKED.envelope(uuid4()).model_copy(update={"type": "volunteer.registered"}).to_json(),
        REVOKED.envelope(uuid4()).model_copy(update={"schema_version": 2}).to_json(),
        EventEnvelope.model_validate(
            {**REVOKED.envelope(uuid4()).model_dump(), "payload": {"token_id": "x"}}
        ).to_json(),
    ],
)
def test_anything_else_is_unreadable(raw: bytes) -> None:
    with pytest.raises(UnreadableRevocationError):
        read_revocation(raw)
