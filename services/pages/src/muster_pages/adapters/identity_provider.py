"""The organisation's OpenID provider: its discovery document, where to send a browser to
sign in (authorization code with PKCE), and the exchange of the code for tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from muster_runtime.errors import AuthenticationError, ServiceUnavailableError


@dataclass(frozen=True)
class SignInRequest:
    """What the authorization endpoint is asked for."""

    client_id: str
    redirect_uri: str
    scope: str
    state: str
    nonce: str
    code_challenge: str
    resource: str


@dataclass(frozen=True)
class Tokens:
    access_token: str
    expires_in: int


class IdentityProvider:
    """One OpenID provider, found by its issuer (`/.well-known/openid-configuration`)."""

    def __init__(self, client: httpx.AsyncClient, issuer: str) -> None:
        self._client = client
        self._issuer = issuer.rstrip("/")
        self._metadata: dict[str, Any] | None = None

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            try:
                answer = await self._client.get(
                    f"{self._issuer}/.well-known/openid-configuration", timeout=5
                )
                answer.raise_for_status()
            except httpx.HTTPError as exc:
                raise ServiceUnavailableError(
                    f"the identity provider is unavailable: {exc!r}", code="idp_unavailable"
                ) from None
            metadata: dict[str, Any] = answer.json()
            if metadata.get("issuer", "").rstrip("/") != self._issuer:
                raise ServiceUnavailableError(
                    "the identity provider names another issuer", code="idp_misconfigured"
                )
            self._metadata = metadata
        return self._metadata

    async def authorization_url(self, request: SignInRequest) -> str:
        endpoint = (await self.metadata())["authorization_endpoint"]
        query = {
            "response_type": "code",
            "client_id": request.client_id,
            "redirect_uri": request.redirect_uri,
            "scope": request.scope,
            "state": request.state,
            "nonce": request.nonce,
            "code_challenge": request.code_challenge,
            "code_challenge_method": "S256",
        }
        if request.resource:
            query["resource"] = request.resource
        return f"{endpoint}?{urlencode(query)}"

    async def exchange(
        self,
        *,
        code: str,
        verifier: str,
        redirect_uri: str,
        client_id: str,
        client_secret: str,
        resource: str,
    ) -> Tokens:
        """Trade the authorization code and its PKCE verifier for an access token."""
        endpoint = (await self.metadata())["token_endpoint"]
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": redirect_uri,
            "client_id": client_id,
        }
        if resource:
            form["resource"] = resource
        # A confidential client also authenticates; a public one has only its PKCE verifier.
        auth = httpx.BasicAuth(client_id, client_secret) if client_secret else None
        try:
            answer = await self._client.post(
                endpoint, data=form, auth=auth or httpx.USE_CLIENT_DEFAULT, timeout=10
            )
        except httpx.HTTPError as exc:
            raise ServiceUnavailableError(
                f"the identity provider is unavailable: {exc!r}", code="idp_unavailable"
            ) from None
        body = answer.json() if answer.content else {}
        if answer.status_code != 200 or "access_token" not in body:
            raise AuthenticationError(
                f"the identity provider refused the sign-in: {body.get('error', answer.status_code)}",
                code="sign_in_refused",
                reason="invalid",
            )
        return Tokens(str(body["access_token"]), int(body.get("expires_in", 3600)))
