"""Tokens, scopes and event decoding: the pure parts of the runtime and contracts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

import pytest

from muster_auth.auth import TokenIssuer, TokenVerifier
from muster_contracts.areas import load_area_tree
from muster_contracts.envelope import Role
from muster_contracts.events import (
    DomainEvent,
    UnknownEventTypeError,
    decode_payload,
    register_upcaster,
)
from muster_runtime.errors import AuthenticationError

AREAS = load_area_tree()
SECRET = "a-test-secret-of-sufficient-length-0123456789"
ISSUER = TokenIssuer(SECRET)
VERIFIER = TokenVerifier(issuer="muster", audience="muster", hs256_secret=SECRET)


async def test_a_token_round_trips_subject_role_and_scope() -> None:
    principal = await VERIFIER.verify(ISSUER.issue("li", Role.ORGANISER, "130203001"))

    assert (principal.subject, principal.role, principal.area_id) == (
        "li",
        Role.ORGANISER,
        "130203001",
    )
    assert principal.token_id


@pytest.mark.parametrize(
    "token",
    [
        TokenIssuer("another-secret-of-sufficient-length-0123456789").issue(
            "li", Role.ADMIN, "1302"
        ),
        ISSUER.issue("li", Role.ADMIN, "1302", ttl=timedelta(seconds=-60)),
        TokenIssuer(SECRET, issuer="elsewhere").issue("li", Role.ADMIN, "1302"),
        TokenIssuer(SECRET, audience="another-system").issue("li", Role.ADMIN, "1302"),
        "not.a.token",
    ],
    ids=["forged", "expired", "wrong-issuer", "wrong-audience", "garbled"],
)
async def test_forged_expired_foreign_and_garbled_tokens_are_refused(token: str) -> None:
    with pytest.raises(AuthenticationError):
        await VERIFIER.verify(token)


async def test_scope_covers_the_area_and_everything_below_it_only() -> None:
    organiser = await VERIFIER.verify(ISSUER.issue("li", Role.ORGANISER, "130203001"))
    inside = AREAS.children(AREAS.children("130203001")[0].id)[0].id

    assert organiser.covers(inside, AREAS)
    assert organiser.covers("130203001", AREAS)
    assert not organiser.covers("130203002", AREAS)
    assert not organiser.covers("130203", AREAS)
    assert not organiser.covers("9999", AREAS)


class ParcelCounted(DomainEvent):
    event_type: ClassVar[str] = "test.parcel_counted"
    schema_version: ClassVar[int] = 3
    stream_type: ClassVar[str] = "parcel"
    parcels: int
    unit: str


@register_upcaster("test.parcel_counted", 1)
def _v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    return {"parcels": payload["count"]}


@register_upcaster("test.parcel_counted", 2)
def _v2_to_v3(payload: dict[str, Any]) -> dict[str, Any]:
    return payload | {"unit": "box"}


def test_old_payloads_are_upcast_to_the_current_version_on_read() -> None:
    assert decode_payload("test.parcel_counted", 1, {"count": 4}) == ParcelCounted(
        parcels=4, unit="box"
    )
    assert decode_payload("test.parcel_counted", 3, {"parcels": 2, "unit": "bag"}) == ParcelCounted(
        parcels=2, unit="bag"
    )


def test_unknown_types_and_future_versions_are_refused() -> None:
    with pytest.raises(UnknownEventTypeError):
        decode_payload("test.never_defined", 1, {})
    with pytest.raises(UnknownEventTypeError):
        decode_payload("test.parcel_counted", 4, {"parcels": 1, "unit": "box"})
