"""Bearer tokens: signed JWTs carrying a role and an area scope, checked in every service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, ValidationError

from muster_contracts.areas import AreaTree
from muster_contracts.envelope import Actor, Role
from muster_runtime.errors import AuthenticationError, PermissionDeniedError

ALGORITHM = "HS256"


class Principal(BaseModel):
    """The verified caller: who, in which role, over which part of the area tree."""

    model_config = ConfigDict(frozen=True)

    subject: str
    role: Role
    area_id: str

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
            raise PermissionDeniedError(f"area {area_id} is outside your scope {self.area_id}")


class TokenIssuer:
    def __init__(self, secret: str, issuer: str = "muster") -> None:
        self._secret = secret
        self._issuer = issuer

    def issue(
        self, subject: str, role: Role, area_id: str, ttl: timedelta = timedelta(hours=12)
    ) -> str:
        now = datetime.now(UTC)
        claims = {
            "sub": subject,
            "role": role.value,
            "area": area_id,
            "iss": self._issuer,
            "iat": now,
            "exp": now + ttl,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                options={"require": ["sub", "exp", "iss"]},
            )
            return Principal(subject=claims["sub"], role=claims["role"], area_id=claims["area"])
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("token expired") from None
        except (jwt.InvalidTokenError, KeyError, ValidationError) as exc:
            raise AuthenticationError(f"invalid token: {exc}") from None


_bearer = HTTPBearer(auto_error=False)


def require_role(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency admitting only callers with one of `roles` (admins always)."""

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None:
            raise AuthenticationError("a bearer token is required")
        issuer: TokenIssuer = request.app.state.tokens
        principal = issuer.verify(credentials.credentials)
        if principal.role is not Role.ADMIN and principal.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise PermissionDeniedError(
                f"role {principal.role.value} may not do this (allowed: {allowed})"
            )
        return principal

    return dependency
