"""`/api/<service>/<path>`: the page's calls to the services' public HTTP APIs, forwarded
as they are with the session's token as the bearer token. The page and the APIs share one
origin, so no CORS is needed and the token never reaches a script."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import APIRouter, Path, Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from muster_pages.domain.cross_site import same_site_request
from muster_pages.domain.sign_in import SESSION_COOKIE
from muster_pages.entrypoints.answers import refusals
from muster_pages.entrypoints.dependencies import Client, Settings
from muster_runtime.errors import (
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    ServiceUnavailableError,
)

router = APIRouter(tags=["api"])

# What a page's request and a service's answer may carry through, and nothing else.
REQUEST_HEADERS = (
    "accept", "accept-language", "content-type", "idempotency-key", "if-match", "last-event-id",
)  # fmt: skip
ANSWER_HEADERS = (
    "content-type", "cache-control", "retry-after", "idempotent-replayed", "etag",
    "content-disposition", "www-authenticate",
)  # fmt: skip

ERRORS = refusals(
    {
        401: "Not signed in (`reason`: `missing`), or the service refused the token.",
        403: "A change sent by another site (`cross_site_request`), or the service refused it.",
        404: "No such service, or the service found nothing there.",
        503: "The service does not answer.",
    }
)


@router.api_route(
    "/api/{service}/{path:path}",
    methods=["GET", "POST", "PUT", "DELETE"],
    responses=ERRORS,
    response_class=StreamingResponse,
)
async def forward(
    request: Request,
    settings: Settings,
    client: Client,
    service: Annotated[str, Path(pattern="^[a-z]+$")],
    path: str,
) -> StreamingResponse:
    """Forward to the service's own path with `Authorization: Bearer <session token>`.
    Answers (and a Server-Sent Events stream) come back as the service gave them."""
    upstreams = settings.upstreams
    if service not in upstreams:
        raise NotFoundError(f"no service {service!r}")
    if not same_site_request(
        request.method, request.headers.get("origin"), request.headers.get("host")
    ):
        raise PermissionDeniedError("sent from another site", code="cross_site_request")
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise AuthenticationError("not signed in", reason="missing")
    headers = {k: v for k in REQUEST_HEADERS if (v := request.headers.get(k)) is not None}
    headers["authorization"] = f"Bearer {token}"
    outgoing = client.build_request(
        request.method,
        f"{upstreams[service]}/{path}" + (f"?{request.url.query}" if request.url.query else ""),
        headers=headers,
        content=await request.body(),
        # A notification stream stays open for minutes; everything else answers promptly.
        timeout=httpx.Timeout(30, read=None if path.endswith("/stream") else 30),
    )
    try:
        answer = await client.send(outgoing, stream=True)
    except httpx.HTTPError as exc:
        raise ServiceUnavailableError(
            f"the {service} service does not answer: {type(exc).__name__}"
        ) from None
    return StreamingResponse(
        answer.aiter_bytes(),
        status_code=answer.status_code,
        headers={k: v for k in ANSWER_HEADERS if (v := answer.headers.get(k)) is not None},
        background=BackgroundTask(answer.aclose),
    )
