"""Composition root of the pages service: its settings, the identity provider, the
services it forwards to, and the pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import ORJSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from muster_contracts.areas import load_area_tree
from muster_http.app import error_body
from muster_http.wiring import wire
from muster_pages.adapters.identity_provider import IdentityProvider
from muster_pages.entrypoints import console, pages, proxy, sign_in
from muster_pages.entrypoints.dependencies import Client, PagesDesks
from muster_pages.settings import PagesSettings
from muster_runtime.errors import MusterError
from muster_runtime.logs import configure_logging


def build_app(settings: PagesSettings | None = None) -> FastAPI:
    settings = settings or PagesSettings()
    configure_logging(settings.service_name, settings.log_level, json=settings.log_json)
    settings.refuse_insecure_secrets()

    desks = PagesDesks(settings, load_area_tree().root.id)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=httpx.Timeout(30, connect=5)) as client:
            desks.client = client
            desks.identity_provider = (
                IdentityProvider(client, settings.oidc_issuer) if settings.oidc_issuer else None
            )
            yield

    app = FastAPI(
        title="Muster pages",
        description="The volunteer's phone page and its sign-in; `/api/<service>/…` forwards "
        "to the services' public HTTP APIs with the session's token.",
        lifespan=lifespan,
        default_response_class=ORJSONResponse,
    )
    wire(app, desks)

    @app.exception_handler(MusterError)
    async def muster_error(_: Request, exc: MusterError) -> ORJSONResponse:
        return ORJSONResponse(error_body(exc.code, exc.message, **exc.details), exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> ORJSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return ORJSONResponse(
            error_body(code, str(exc.detail)), exc.status_code, headers=exc.headers
        )

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": settings.service_name}

    @app.get("/readyz", tags=["operations"])
    async def readyz(client: Client) -> ORJSONResponse:
        """Ready when every service the page talks to answers its `/healthz`."""
        checks: dict[str, str] = {}
        for name, url in settings.upstreams.items():
            try:
                answer = await client.get(f"{url}/healthz", timeout=2)
                checks[name] = "ok" if answer.status_code == 200 else f"http {answer.status_code}"
            except httpx.HTTPError as exc:
                checks[name] = type(exc).__name__
        ready = all(v == "ok" for v in checks.values())
        body = {"ready": ready, "service": settings.service_name, "checks": checks}
        return ORJSONResponse(body, 200 if ready else 503)

    app.include_router(sign_in.router)
    if settings.dev_mode:
        app.include_router(sign_in.development_router)
    app.include_router(proxy.router)
    console.mount(app)
    pages.mount(app)
    return app
