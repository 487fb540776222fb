"""Composition root of the pages service: its settings, the identity provider, the
services it forwards to, and the pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import ORJSONResponse
from pydantic import Field, SecretStr
from starlette.exceptions import HTTPException as StarletteHTTPException

from muster_contracts.areas import load_area_tree
from muster_pages.adapters.identity_provider import IdentityProvider
from muster_pages.entrypoints import console, pages, proxy, sign_in
from muster_runtime.errors import MusterError
from muster_runtime.http import error_body
from muster_runtime.logs import configure_logging
from muster_runtime.settings import ServiceSettings

CONTEXT = "pages"


class PagesSettings(ServiceSettings):
    service_name: str = CONTEXT
    http_port: int = 8005
    volunteer_service_url: str = Field(
        default="http://127.0.0.1:8001", description="Where `/api/volunteer/…` is forwarded."
    )
    dispatch_service_url: str = Field(
        default="http://127.0.0.1:8002", description="Where `/api/dispatch/…` is forwarded."
    )
    notify_service_url: str = Field(
        default="http://127.0.0.1:8004", description="Where `/api/notify/…` is forwarded."
    )
    reporting_service_url: str = Field(
        default="http://127.0.0.1:8003",
        description="Where `/api/reporting/…` is forwarded (the console's dashboard link).",
    )
    oidc_issuer: str = Field(
        default="",
        description="The organisation's OpenID provider (its `issuer`; discovery at "
        "`<issuer>/.well-known/openid-configuration`). Empty: no production sign-in.",
    )
    oidc_client_id: str = Field(default="muster-pages", description="This site's OIDC client id.")
    oidc_client_secret: SecretStr = Field(
        default=SecretStr(""),
        description="The client's secret, if the provider gives it one (PKCE is used either way).",
    )
    oidc_scope: str = Field(default="openid", description="Scopes asked for at sign-in.")
    oidc_resource: str = Field(
        default="",
        description="The resource indicator (RFC 8707) the access token is asked for; empty: "
        "the services' audience (`MUSTER_JWT_AUDIENCE`).",
    )
    public_url: str = Field(
        default="",
        description="This site's address as browsers reach it (e.g. `https://muster.example`): "
        "the OIDC redirect URI is `<it>/sign-in/callback`; empty: taken from each request.",
    )
    dev_sign_in_area: str = Field(
        default="1302",
        description="Development sign-in (MUSTER_DEV_MODE only): the area claim of its tokens.",
    )

    @property
    def upstreams(self) -> dict[str, str]:
        """The services the page talks to, by the name in `/api/<name>/…`."""
        return {
            "volunteer": self.volunteer_service_url,
            "dispatch": self.dispatch_service_url,
            "notify": self.notify_service_url,
            "reporting": self.reporting_service_url,
        }

    def secret_problems(self) -> list[str]:
        # Signs nothing itself outside development mode: the identity provider signs tokens.
        if self.oidc_issuer:
            return []
        return [
            "MUSTER_OIDC_ISSUER is not set: volunteers could not sign in / 未设置 "
            "MUSTER_OIDC_ISSUER：志愿者无法登录"
        ]


def build_app(settings: PagesSettings | None = None) -> FastAPI:
    settings = settings or PagesSettings()
    configure_logging(settings.service_name, settings.log_level, json=settings.log_json)
    settings.refuse_insecure_secrets()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=httpx.Timeout(30, connect=5)) as client:
            app.state.client = client
            app.state.identity_provider = (
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
    app.state.settings = settings
    app.state.root_area_id = load_area_tree().root.id

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
    async def readyz(request: Request) -> ORJSONResponse:
        """Ready when every service the page talks to answers its `/healthz`."""
        client: httpx.AsyncClient = request.app.state.client
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
