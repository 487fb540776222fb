"""Development bearer tokens (HS256), issued with the standard library alone.

`muster token` mints them in scripts, many at a time, so this module imports nothing
heavy: no PyJWT, no pydantic. Services verify them with PyJWT (`muster_auth.auth`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

from muster_contracts.roles import Role
from muster_contracts.tokens import DEFAULT_AUDIENCE, DEFAULT_ISSUER, DEV_JWT_SECRET

ALGORITHM = "HS256"


def _segment(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _json(value: dict[str, object]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


class TokenIssuer:
    """Issues HS256 development tokens (`muster token`); production tokens come from the IdP."""

    def __init__(
        self,
        secret: str,
        issuer: str = DEFAULT_ISSUER,
        audience: str = DEFAULT_AUDIENCE,
        kid: str = "",
    ) -> None:
        self._secret = secret.encode()
        self._issuer = issuer
        self._audience = audience
        self._kid = kid

    def issue(
        self,
        subject: str,
        role: Role,
        area_id: str,
        ttl: timedelta = timedelta(hours=12),
        *,
        token_id: str | None = None,
    ) -> str:
        now = int(datetime.now(UTC).timestamp())
        header: dict[str, object] = {"alg": ALGORITHM, "typ": "JWT"}
        if self._kid:
            header["kid"] = self._kid
        claims: dict[str, object] = {
            "sub": subject,
            "role": role.value,
            "area": area_id,
            "iss": self._issuer,
            "aud": self._audience,
            "iat": now,
            "exp": now + int(ttl.total_seconds()),
            "jti": token_id or uuid4().hex,
        }
        signed = _segment(_json(header)) + b"." + _segment(_json(claims))
        signature = hmac.new(self._secret, signed, hashlib.sha256).digest()
        return (signed + b"." + _segment(signature)).decode()


def local_stack_secret(name: str) -> str | None:
    """A secret the local stack generated once under `$MUSTER_STATE_DIR/secrets/` (default
    `.state/`), or None; `deploy/local/stack.sh` passes the same ones to the services."""
    path = Path(os.environ.get("MUSTER_STATE_DIR", ".state")) / "secrets" / name
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _environment() -> dict[str, str]:
    # Names in any case, as `ServiceSettings` reads them.
    return {name.lower(): value for name, value in os.environ.items()}


def development_jwt_secret() -> str:
    """The HS256 secret development tokens are signed with: `MUSTER_JWT_SECRET` when set,
    else the one the local stack generated (`.state/secrets/jwt-secret`), else the default."""
    secret = _environment().get("muster_jwt_secret")
    if secret is not None:
        return secret
    return local_stack_secret("jwt-secret") or DEV_JWT_SECRET


def issuer_from_environment() -> TokenIssuer:
    """The issuer the services' settings describe: `development_jwt_secret()`,
    `MUSTER_JWT_ISSUER` and `MUSTER_JWT_AUDIENCE` (else their defaults); read without
    pydantic-settings, which alone takes longer than a token."""
    environment = _environment()
    return TokenIssuer(
        development_jwt_secret(),
        environment.get("muster_jwt_issuer", DEFAULT_ISSUER),
        environment.get("muster_jwt_audience", DEFAULT_AUDIENCE),
    )


def issue_token(
    subject: str, role: Role, area_id: str, hours: float = 12, *, token_id: str | None = None
) -> str:
    """A development token for `subject`, signed as `issuer_from_environment` says."""
    issuer = issuer_from_environment()
    return issuer.issue(subject, role, area_id, ttl=timedelta(hours=hours), token_id=token_id)
