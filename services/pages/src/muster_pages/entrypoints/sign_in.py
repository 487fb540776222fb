"""Signing in: the organisation's OpenID provider (authorization code with PKCE), and in
development mode only a local sign-in page. Either way the browser ends with the access
token in an HttpOnly cookie that scripts cannot read; `/api/…` presents it to the services."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from muster_auth.dev_tokens import TokenIssuer
from muster_contracts.roles import Role
from muster_pages.adapters.identity_provider import SignInRequest
from muster_pages.domain.cross_site import same_site_request
from muster_pages.domain.sign_in import (
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    SIGN_IN_SECONDS,
    PendingSignIn,
    claims_shown,
    code_challenge,
    safe_return_path,
)
from muster_pages.entrypoints.answers import refusals
from muster_pages.entrypoints.dependencies import Desks, Provider, Settings
from muster_pages.entrypoints.pages import SECURITY_HEADERS, STATIC
from muster_pages.settings import PagesSettings
from muster_runtime.errors import (
    AuthenticationError,
    PermissionDeniedError,
    RuleViolationError,
    ServiceUnavailableError,
)

router = APIRouter(tags=["sign-in"])
development_router = APIRouter(tags=["sign-in"])

DEVELOPMENT_SESSION = timedelta(hours=12)
# Whom the development sign-in speaks as: a volunteer (the phone page) or an organiser
# (the console), of an area given by its code.
DEVELOPMENT_ROLES = (Role.VOLUNTEER.value, Role.ORGANISER.value)
AREA_CODE = re.compile(r"^[0-9]{4,16}$")
# A development login: what an identity provider's opaque subject looks like.
DEVELOPMENT_SUBJECT = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

ERRORS = refusals(
    {
        401: "The provider refused the sign-in, or it was not this browser's.",
        503: "No identity provider is configured, or it does not answer.",
    }
)


def _secure(request: Request, public_url: str) -> bool:
    return request.url.scheme == "https" or public_url.startswith("https://")


def _redirect_uri(request: Request, public_url: str) -> str:
    base = public_url.rstrip("/") if public_url else str(request.base_url).rstrip("/")
    return f"{base}/sign-in/callback"


def signed_in(
    request: Request, settings: PagesSettings, token: str, seconds: int, return_to: str
) -> Response:
    """Go back where the sign-in began, holding the token in the session cookie."""
    response = RedirectResponse(return_to, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=seconds,
        httponly=True,
        secure=_secure(request, settings.public_url),
        # Lax: a QR link opened from the camera app (another site) still carries it.
        samesite="lax",
        path="/",
    )
    response.delete_cookie(SIGN_IN_COOKIE, path="/sign-in")
    return response


@router.get("/sign-in", status_code=302, responses=ERRORS)
async def sign_in(
    request: Request,
    settings: Settings,
    provider: Provider,
    next: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """Send the browser to the organisation's identity provider (or, in development
    mode without one, to the local sign-in page); `next` is where to come back to."""
    if provider is None:
        if settings.dev_mode:
            return RedirectResponse(f"/sign-in/dev?next={safe_return_path(next)}", status_code=302)
        raise ServiceUnavailableError("no identity provider is configured", code="no_idp")
    pending = PendingSignIn.start(next)
    url = await provider.authorization_url(
        SignInRequest(
            client_id=settings.oidc_client_id,
            redirect_uri=_redirect_uri(request, settings.public_url),
            scope=settings.oidc_scope,
            state=pending.state,
            nonce=pending.nonce,
            code_challenge=code_challenge(pending.verifier),
            resource=settings.oidc_resource or settings.jwt_audience,
        )
    )
    response = RedirectResponse(url, status_code=302)
    response.set_cookie(
        SIGN_IN_COOKIE,
        pending.cookie_value(),
        max_age=SIGN_IN_SECONDS,
        httponly=True,
        secure=_secure(request, settings.public_url),
        samesite="lax",
        path="/sign-in",
    )
    return response


@router.get("/sign-in/callback", status_code=303, responses=ERRORS)
async def callback(
    request: Request,
    settings: Settings,
    provider: Provider,
    code: Annotated[str | None, Query(max_length=2000)] = None,
    state: Annotated[str | None, Query(max_length=200)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Where the identity provider sends the browser back: the code is exchanged, with the
    PKCE verifier only this browser holds, for the access token the services accept."""
    pending = PendingSignIn.from_cookie(request.cookies.get(SIGN_IN_COOKIE))
    if provider is None:
        raise ServiceUnavailableError("no identity provider is configured", code="no_idp")
    if pending is None or not pending.answers(state):
        raise AuthenticationError(
            "this sign-in was not started in this browser",
            code="sign_in_mismatch",
            reason="invalid",
        )
    if error or not code:
        raise AuthenticationError(
            f"the identity provider refused the sign-in: {error}",
            code="sign_in_refused",
            reason="invalid",
        )
    tokens = await provider.exchange(
        code=code,
        verifier=pending.verifier,
        redirect_uri=_redirect_uri(request, settings.public_url),
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret.get_secret_value(),
        resource=settings.oidc_resource or settings.jwt_audience,
    )
    return signed_in(request, settings, tokens.access_token, tokens.expires_in, pending.return_to)


@router.post(
    "/sign-out",
    status_code=303,
    responses=refusals({403: "Sent by another site (`cross_site_request`)."}),
)
async def sign_out(request: Request) -> Response:
    """Forget the session in this browser."""
    if not same_site_request("POST", request.headers.get("origin"), request.headers.get("host")):
        raise PermissionDeniedError("sent from another site", code="cross_site_request")
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@development_router.get(
    "/sign-in/dev",
    response_model=None,
    responses=refusals(
        {422: "Not a login name (`invalid_login`), role (`invalid_role`) or area (`invalid_area`)."}
    ),
)
async def development_sign_in(
    request: Request,
    settings: Settings,
    subject: Annotated[str | None, Query(max_length=64)] = None,
    next: Annotated[str | None, Query(max_length=500)] = None,
    role: Annotated[str, Query(max_length=20)] = Role.VOLUNTEER.value,
    area: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    """Development mode only (MUSTER_DEV_MODE): sign in as any login, no password. Without
    `subject`, the page asking for one; with it, a token for that login: a volunteer's, or
    with `role=organiser` an organiser's of `area` (default `MUSTER_DEV_SIGN_IN_AREA`)."""
    if subject is None:
        return FileResponse(STATIC / "dev-sign-in.html", headers=SECURITY_HEADERS)
    if not DEVELOPMENT_SUBJECT.match(subject):
        raise RuleViolationError(
            "a login is 1–64 letters, digits, dots, hyphens or underscores",
            code="invalid_login",
            field="subject",
        )
    if role not in DEVELOPMENT_ROLES:
        raise RuleViolationError(
            "the development sign-in speaks as a volunteer or an organiser",
            code="invalid_role",
            field="role",
        )
    if area is not None and not AREA_CODE.match(area):
        raise RuleViolationError("an area is 4–16 digits", code="invalid_area", field="area")
    issuer = TokenIssuer(
        settings.jwt_secret.get_secret_value(), settings.jwt_issuer, settings.jwt_audience
    )
    token = issuer.issue(
        subject, Role(role), area or settings.dev_sign_in_area, DEVELOPMENT_SESSION
    )
    return signed_in(
        request, settings, token, int(DEVELOPMENT_SESSION.total_seconds()), safe_return_path(next)
    )


@router.get("/session")
async def session(request: Request, desks: Desks) -> dict[str, object]:
    """What the page needs before it asks a service: whether this browser holds a session
    (the cookie is out of the script's reach), the sign-in available and the area tree's
    root (where the home-area picker starts)."""
    settings = desks.settings
    return {
        "signed_in": SESSION_COOKIE in request.cookies,
        "development_sign_in": settings.dev_mode,
        "identity_provider": bool(settings.oidc_issuer),
        "root_area_id": desks.root_area_id,
        # What the token claims, unverified (the services verify it): the console's scope.
        "claims": claims_shown(request.cookies.get(SESSION_COOKIE)),
    }
