"""The rules of signing in: PKCE for the authorization-code flow, where a sign-in may
return to, and what the session cookie is."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

SESSION_COOKIE = "muster_session"
# Holds the state, nonce and PKCE verifier of a sign-in under way (ten minutes at most).
SIGN_IN_COOKIE = "muster_sign_in"
SIGN_IN_SECONDS = 600


def _base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def code_verifier() -> str:
    """A PKCE code verifier (RFC 7636): 43 characters from 32 random bytes."""
    return _base64url(secrets.token_bytes(32))


def code_challenge(verifier: str) -> str:
    """The S256 challenge of `verifier`: what the identity provider is shown first."""
    return _base64url(hashlib.sha256(verifier.encode()).digest())


def safe_return_path(candidate: str | None) -> str:
    """Where to go after signing in: a path on this site only, never another site
    (`//evil.example` and `https://…` are open redirects), else the home page."""
    if not candidate or not candidate.startswith("/") or candidate.startswith("//"):
        return "/"
    parts = urlsplit(candidate)
    if parts.scheme or parts.netloc or "\\" in candidate:
        return "/"
    return candidate


@dataclass(frozen=True)
class PendingSignIn:
    """A sign-in sent to the identity provider and not back yet."""

    state: str
    nonce: str
    verifier: str
    return_to: str

    @classmethod
    def start(cls, return_to: str | None) -> PendingSignIn:
        return cls(
            state=secrets.token_urlsafe(24),
            nonce=secrets.token_urlsafe(24),
            verifier=code_verifier(),
            return_to=safe_return_path(return_to),
        )

    def cookie_value(self) -> str:
        return " ".join((self.state, self.nonce, self.verifier, self.return_to))

    @classmethod
    def from_cookie(cls, value: str | None) -> PendingSignIn | None:
        parts = (value or "").split(" ")
        if len(parts) != 4:
            return None
        return cls(parts[0], parts[1], parts[2], safe_return_path(parts[3]))

    def answers(self, state: str | None) -> bool:
        """Whether the provider's redirect belongs to this sign-in (CSRF on the callback)."""
        return state is not None and secrets.compare_digest(state, self.state)


def claims_shown(token: str | None) -> dict[str, str]:
    """Who the session's token says it is (`sub`, `role`, `area`), for a page to greet and
    scope its screens by. Read, not verified: the services verify the token on every call,
    so nothing is decided on this."""
    try:
        payload = (token or "").split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    if not isinstance(claims, dict):
        return {}
    return {k: str(claims[k]) for k in ("sub", "role", "area") if isinstance(claims.get(k), str)}
