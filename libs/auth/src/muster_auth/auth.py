"""Bearer tokens: signed JWTs carrying a role and an area scope, checked in every service.

Verification keys come from configuration: an HS256 secret for local development, a
JWKS document on disk (several keys by `kid`, RS256/ES256/HS256, re-read when a token
names a key it does not hold: rotation without a restart) and the JWKS URL of an
external identity provider (OIDC), cached and re-fetched on an unknown `kid`. Every
token must carry the configured issuer and audience, an expiry (checked with a leeway
for clock skew) and is refused once its `jti` is revoked.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, ValidationError

from muster_auth.dev_tokens import ALGORITHM
from muster_auth.dev_tokens import TokenIssuer as TokenIssuer  # the development issuer
from muster_contracts.areas import AreaTree
from muster_contracts.envelope import Actor, Role
from muster_runtime.errors import (
    AuthenticationError,
    PermissionDeniedError,
    ServiceUnavailableError,
)
from muster_runtime.settings import ServiceSettings

# Asymmetric keys for an identity provider, HMAC for local development; never "none".
ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "HS256")

log = logging.getLogger(__name__)


class Principal(BaseModel):
    """The verified caller: who, in which role, over which part of the area tree."""

    model_config = ConfigDict(frozen=True)

    subject: str
    role: Role
    area_id: str
    token_id: str | None = None
    expires_at: datetime | None = None

    @property
    def actor(self) -> Actor:
        return Actor(subject=self.subject, role=self.role)

    def covers(self, area_id: str, tree: AreaTree) -> bool:
        if area_id not in tree:
            return False
        return self.role is Role.ADMIN or (
            self.area_id in tree and tree.is_within(area_id, self.area_id)
        )

    def require_scope(self, area_id: str, tree: AreaTree) -> None:
        if not self.covers(area_id, tree):
            raise PermissionDeniedError(
                f"area {area_id} is outside your scope {self.area_id}", reason="outside_scope"
            )


class RevocationList:
    """Revoked token ids until the tokens would have expired anyway (then forgotten)."""

    def __init__(self) -> None:
        self._until: dict[str, datetime] = {}

    def revoke(self, token_id: str, until: datetime) -> None:
        self._until[token_id] = max(until, self._until.get(token_id, until))

    def is_revoked(self, token_id: str | None) -> bool:
        if token_id is None:
            return False
        until = self._until.get(token_id)
        if until is None:
            return False
        if until < datetime.now(UTC):
            del self._until[token_id]
            return False
        return True

    def entries(self) -> dict[str, datetime]:
        now = datetime.now(UTC)
        return {jti: until for jti, until in self._until.items() if until >= now}


class RemoteKeys:
    """The signing keys an identity provider publishes at its JWKS URL.

    Cached for `cache_seconds`; a token naming an unknown `kid` triggers a re-fetch (the
    provider rotated its keys), at most once per `min_refresh_seconds` so that tokens with
    made-up key ids cannot hammer the provider. A failed fetch keeps the cached keys.
    """

    def __init__(
        self, url: str, cache_seconds: float, min_refresh_seconds: float, timeout: float = 5
    ) -> None:
        self._client = jwt.PyJWKClient(url, cache_jwk_set=False, timeout=int(timeout))
        self._cache_seconds = cache_seconds
        self._min_refresh_seconds = min_refresh_seconds
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = -float("inf")
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> jwt.PyJWK | None:
        async with self._lock:
            age = time.monotonic() - self._fetched_at
            if age >= self._cache_seconds or (
                kid not in self._keys and age >= self._min_refresh_seconds
            ):
                await self._refresh()
            return self._keys.get(kid)

    async def _refresh(self) -> None:
        try:
            jwks = await asyncio.to_thread(self._client.get_jwk_set, True)
        except jwt.PyJWKClientError as exc:
            log.warning("could not fetch the identity provider's keys", extra={"error": str(exc)})
            if not self._keys:
                raise ServiceUnavailableError(
                    "the identity provider's keys cannot be fetched; retry shortly",
                    code="identity_provider_unavailable",
                ) from None
            return
        self._keys = {k.key_id: k for k in jwks.keys if k.key_id}
        self._fetched_at = time.monotonic()


class LocalKeys:
    """Verification keys from a JWKS file, re-read when a token names a key it lacks
    (rotation by `kid`; a small local file, so no rate limit is needed).

    A file that cannot be read at start stops the service; one that turns unreadable
    later (an edit under way) keeps the keys read before.
    """

    def __init__(self, path: str) -> None:
        self._path = Path(path)
        self._keys: dict[str, jwt.PyJWK] = {}
        self._load(at_start=True)

    def _load(self, *, at_start: bool = False) -> None:
        try:
            listed = json.loads(self._path.read_text()).get("keys", [])
            keys = jwt.PyJWKSet(listed).keys if listed else []
        except (OSError, ValueError, AttributeError, jwt.PyJWKSetError) as exc:
            if at_start:
                raise
            log.warning("could not re-read the JWKS file", extra={"error": repr(exc)})
            return
        self._keys = {k.key_id: k for k in keys if k.key_id}

    def key(self, kid: str) -> jwt.PyJWK | None:
        if kid not in self._keys:
            self._load()
        return self._keys.get(kid)


class TokenVerifier:
    """Checks a bearer token against the configured keys, claims and revocations."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        hs256_secret: str = "",
        jwks_file: str = "",
        jwks_url: str = "",
        leeway_seconds: float = 30,
        jwks_cache_seconds: float = 300,
        jwks_min_refresh_seconds: float = 5,
        revocations: RevocationList | None = None,
    ) -> None:
        self._issuer = issuer
        self._audience = audience
        self._secret = hs256_secret
        self._local = LocalKeys(jwks_file) if jwks_file else None
        self._remote = (
            RemoteKeys(jwks_url, jwks_cache_seconds, jwks_min_refresh_seconds) if jwks_url else None
        )
        self._leeway = leeway_seconds
        self.revocations = revocations or RevocationList()

    @classmethod
    def from_settings(
        cls, settings: ServiceSettings, revocations: RevocationList | None = None
    ) -> TokenVerifier:
        return cls(
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            hs256_secret=settings.jwt_secret.get_secret_value(),
            jwks_file=settings.jwt_jwks_file,
            jwks_url=settings.jwt_jwks_url,
            leeway_seconds=settings.jwt_leeway_seconds,
            jwks_cache_seconds=settings.jwt_jwks_cache_seconds,
            jwks_min_refresh_seconds=settings.jwt_jwks_min_refresh_seconds,
            revocations=revocations,
        )

    async def _key_for(self, header: dict[str, Any]) -> tuple[Any, str]:
        kid = header.get("kid")
        alg = header.get("alg")
        if not kid:
            # Only development tokens come without a key id: the shared HS256 secret.
            if not self._secret or alg != ALGORITHM:
                raise AuthenticationError("the token names no signing key", reason="invalid")
            return self._secret, ALGORITHM
        key = self._local.key(kid) if self._local else None
        if key is None and self._remote:
            key = await self._remote.key(kid)
        if key is None:
            raise AuthenticationError(f"unknown signing key {kid!r}", reason="invalid")
        # The key decides the algorithm, never the token (no HS256-with-a-public-key trick).
        if key.algorithm_name not in ALLOWED_ALGORITHMS or alg != key.algorithm_name:
            raise AuthenticationError(
                "the token's algorithm does not match its key", reason="invalid"
            )
        return key, key.algorithm_name

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
            key, algorithm = await self._key_for(header)
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": ["sub", "exp", "iss", "aud"]},
            )
            principal = Principal(
                subject=claims["sub"],
                role=claims["role"],
                area_id=claims["area"],
                token_id=claims.get("jti"),
                expires_at=datetime.fromtimestamp(claims["exp"], UTC),
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("token expired", reason="expired") from None
        except (jwt.InvalidTokenError, KeyError, ValidationError) as exc:
            raise AuthenticationError(f"invalid token: {exc}", reason="invalid") from None
        if principal.role is Role.SYSTEM:
            raise AuthenticationError("no token may carry the system role", reason="invalid")
        if self.revocations.is_revoked(principal.token_id):
            raise AuthenticationError("this token has been revoked", reason="revoked")
        return principal


_bearer = HTTPBearer(auto_error=False)


def require_role(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency admitting only callers with one of `roles`.

    Admins are admitted only where listed: an admin manages reference data and tokens and
    reads everything, but neither organises nor volunteers.
    """

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None:
            raise AuthenticationError("a bearer token is required", reason="missing")
        verifier: TokenVerifier = request.app.state.tokens
        principal = await verifier.verify(credentials.credentials)
        if principal.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise PermissionDeniedError(
                f"role {principal.role.value} may not do this (allowed: {allowed})",
                reason="wrong_role",
            )
        return principal

    return dependency
