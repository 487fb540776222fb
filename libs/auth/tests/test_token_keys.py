"""Verification keys: an identity provider's JWKS served over real HTTP and rotated, a
JWKS file rotated on disk, clock-skew leeway, algorithm confusion and revocation."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest

from muster_auth.auth import RevocationList, TokenVerifier
from muster_contracts.envelope import Role
from muster_runtime.errors import AuthenticationError, ServiceUnavailableError
from tests.signing_keys import ec_key, public_jwk, rsa_key, signed_token


class IdentityProvider:
    """A JWKS document served over HTTP on a free local port; `keys` can be swapped."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0
        self.up = True
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider.fetches += 1
                if not provider.up:
                    self.send_error(503)
                    return
                body = json.dumps({"keys": provider.keys}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/.well-known/jwks.json"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def idp() -> Iterator[IdentityProvider]:
    provider = IdentityProvider()
    yield provider
    provider.close()


def verifier(url: str = "", jwks_file: str = "", **options: Any) -> TokenVerifier:
    return TokenVerifier(
        issuer="https://idp.example",
        audience="muster",
        jwks_url=url,
        jwks_file=jwks_file,
        **({"jwks_min_refresh_seconds": 0} | options),
    )


async def test_tokens_signed_by_the_identity_provider_verify_through_its_jwks(
    idp: IdentityProvider,
) -> None:
    rsa_signer, ec_signer = rsa_key(), ec_key()
    idp.keys = [public_jwk("rsa-1", rsa_signer), public_jwk("ec-1", ec_signer)]
    tokens = verifier(idp.url)

    by_rsa = await tokens.verify(signed_token("rsa-1", rsa_signer))
    by_ec = await tokens.verify(signed_token("ec-1", ec_signer, role="leader"))

    assert (by_rsa.role, by_ec.role) == (Role.ORGANISER, Role.LEADER)
    assert idp.fetches == 1  # the second token used the cached key set


async def test_a_rotated_key_is_fetched_on_its_first_unknown_kid_and_a_retired_one_refused(
    idp: IdentityProvider,
) -> None:
    old, new = rsa_key(), rsa_key()
    idp.keys = [public_jwk("2026-10", old)]
    tokens = verifier(idp.url, jwks_cache_seconds=3600)
    await tokens.verify(signed_token("2026-10", old))

    # The provider rotates: the new key is published, the old one retired.
    idp.keys = [public_jwk("2026-11", new)]
    principal = await tokens.verify(signed_token("2026-11", new))

    assert principal.subject == "organiser-li"
    assert idp.fetches == 2
    # Keys are replaced on refresh, so the retired key no longer verifies anything.
    with pytest.raises(AuthenticationError, match="unknown signing key"):
        await tokens.verify(signed_token("2026-10", old))


async def test_made_up_key_ids_do_not_hammer_the_identity_provider(
    idp: IdentityProvider,
) -> None:
    key = rsa_key()
    idp.keys = [public_jwk("k1", key)]
    tokens = verifier(idp.url, jwks_min_refresh_seconds=60)
    await tokens.verify(signed_token("k1", key))

    for n in range(20):
        with pytest.raises(AuthenticationError):
            await tokens.verify(signed_token(f"made-up-{n}", ec_key()))

    assert idp.fetches == 1


async def test_an_unreachable_provider_is_a_503_only_while_no_keys_are_cached(
    idp: IdentityProvider,
) -> None:
    key = rsa_key()
    idp.keys = [public_jwk("k1", key)]
    idp.up = False
    tokens = verifier(idp.url, jwks_cache_seconds=0.01)
    with pytest.raises(ServiceUnavailableError):
        await tokens.verify(signed_token("k1", key))

    idp.up = True
    await tokens.verify(signed_token("k1", key))
    idp.up = False
    await asyncio.sleep(0.02)  # the cache is stale, the provider away: the cached keys still serve
    assert (await tokens.verify(signed_token("k1", key))).subject == "organiser-li"


async def test_keys_from_a_jwks_file_rotate_without_a_restart(tmp_path: Path) -> None:
    first, second = ec_key(), rsa_key()
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [public_jwk("a", first)]}))
    tokens = verifier(jwks_file=str(path))
    await tokens.verify(signed_token("a", first))

    path.write_text(json.dumps({"keys": [public_jwk("a", first), public_jwk("b", second)]}))

    assert (await tokens.verify(signed_token("b", second))).subject == "organiser-li"
    assert (await tokens.verify(signed_token("a", first))).subject == "organiser-li"


async def test_an_empty_jwks_file_is_no_key_and_a_garbled_one_keeps_the_keys_read(
    tmp_path: Path,
) -> None:
    key = rsa_key()
    path = tmp_path / "jwks.json"
    path.write_text('{"keys": []}')
    tokens = verifier(jwks_file=str(path))
    with pytest.raises(AuthenticationError, match="unknown signing key"):
        await tokens.verify(signed_token("k", key))

    path.write_text(json.dumps({"keys": [public_jwk("k", key)]}))
    await tokens.verify(signed_token("k", key))
    path.write_text('{"keys": [{"kty"')  # an edit under way

    assert (await tokens.verify(signed_token("k", key))).subject == "organiser-li"
    with pytest.raises(AuthenticationError):
        await tokens.verify(signed_token("other", key))


async def test_expiry_is_checked_with_the_configured_leeway(idp: IdentityProvider) -> None:
    key = rsa_key()
    idp.keys = [public_jwk("k", key)]
    tokens = verifier(idp.url, leeway_seconds=30)

    await tokens.verify(signed_token("k", key, exp=timedelta(seconds=-10)))  # within the skew
    with pytest.raises(AuthenticationError) as refused:
        await tokens.verify(signed_token("k", key, exp=timedelta(seconds=-45)))
    assert refused.value.details["reason"] == "expired"


async def test_foreign_issuer_audience_and_missing_claims_are_refused(
    idp: IdentityProvider,
) -> None:
    key = rsa_key()
    idp.keys = [public_jwk("k", key)]
    tokens = verifier(idp.url)

    for token in (
        signed_token("k", key, iss="https://other.example"),
        signed_token("k", key, aud="another-system"),
        signed_token("k", key, role="system"),
        signed_token("k", key, role="superuser"),
        jwt.encode({"sub": "x", "iss": "https://idp.example"}, key, "RS256", {"kid": "k"}),
    ):
        with pytest.raises(AuthenticationError):
            await tokens.verify(token)


async def test_a_token_cannot_choose_another_algorithm_than_its_key(
    idp: IdentityProvider,
) -> None:
    key = rsa_key()
    idp.keys = [public_jwk("k", key)]
    tokens = verifier(idp.url)
    # The classic confusion: an HS256 token naming the RSA key's kid, hoping the
    # verifier uses the public key as an HMAC secret.
    claims = {"sub": "x", "role": "admin", "area": "13", "iss": "https://idp.example"}
    forged = jwt.encode(
        claims | {"aud": "muster", "exp": int(time.time()) + 60},
        b"public-key-bytes-guessed-by-an-attacker",
        algorithm="HS256",
        headers={"kid": "k"},
    )

    with pytest.raises(AuthenticationError, match="algorithm"):
        await tokens.verify(forged)


async def test_a_revoked_token_is_refused_until_it_would_have_expired(
    idp: IdentityProvider,
) -> None:
    key = rsa_key()
    idp.keys = [public_jwk("k", key)]
    revocations = RevocationList()
    tokens = verifier(idp.url, revocations=revocations)
    leaked = signed_token("k", key, jti="leaked-1")
    other = signed_token("k", key, jti="other-1")

    revocations.revoke("leaked-1", datetime.now(UTC) + timedelta(minutes=10))

    with pytest.raises(AuthenticationError) as refused:
        await tokens.verify(leaked)
    assert refused.value.details["reason"] == "revoked"
    assert (await tokens.verify(other)).token_id == "other-1"
    revocations.revoke("old", datetime.now(UTC) - timedelta(seconds=1))
    assert set(revocations.entries()) == {"leaked-1"}
