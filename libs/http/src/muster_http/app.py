"""The FastAPI application every service builds: errors, health, readiness, lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, Protocol
from uuid import UUID, uuid4

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import ORJSONResponse, Response
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError
from pymongo.errors import (
    ConnectionFailure,
    NetworkTimeout,
    PyMongoError,
    ServerSelectionTimeoutError,
)
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from muster_http.docs_pages import serve_api_docs
from muster_http.idempotency import IdempotencyKeys, RetrySafeRoute
from muster_http.openapi_errors import document_error_answers
from muster_runtime.adapters.mongodb import audit
from muster_runtime.adapters.mongodb.idempotency_records import StoredIdempotencyRecords
from muster_runtime.errors import MusterError
from muster_runtime.logs import CORRELATION_ID
from muster_runtime.metrics import HTTP_LATENCY, HTTP_REQUESTS
from muster_runtime.ports.event_store import ConcurrencyError
from muster_runtime.service import ServiceRuntime
from muster_runtime.tracing import instrument_app

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
# Polled by probes and scrapers: counted in the metrics but not logged.
UNLOGGED_ROUTES = {"/healthz", "/readyz", "/metrics"}
IDEMPOTENCY_SWEEP_SECONDS = 3600.0


class AccessControl(Protocol):
    """Who may call the app: wired in by the service's composition root
    (`muster_auth.access.Access`), so that the runtime itself verifies no token."""

    @property
    def admin(self) -> Callable[..., Awaitable[Any]]:
        """A FastAPI dependency admitting administrators only: it guards the runtime's own
        routes (the audit trail, the task dump)."""
        ...

    @property
    def routers(self) -> list[APIRouter]:
        """Routes of its own (revoking tokens), included before the service's."""
        ...

    def install(self, app: FastAPI) -> None:
        """Make `app` verify bearer tokens: `app.state.tokens.verify(token)`, which route
        dependencies and `RetrySafeRoute` ask for the caller."""
        ...


def error_body(code: str, message: str, **details: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **details}}


class BodySizeLimit:
    """Refuses a request body over `limit` bytes with 413 and a machine-readable body.

    A declared `Content-Length` is refused before anything is read; a chunked body is
    counted as it arrives and refused once it passes the limit. Paths under a prefix of
    `larger` (an upload, say) have that prefix's limit instead.
    """

    def __init__(self, app: ASGIApp, limit: int, larger: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.limit = limit
        self.larger = dict(larger or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = next(
            (n for prefix, n in self.larger.items() if scope["path"].startswith(prefix)),
            self.limit,
        )
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await self._refuse(send, limit)
            return
        received = 0
        too_large = False

        async def counted_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise ValueError("request body too large")
            return message

        async def guarded_send(message: Message) -> None:
            if not too_large:  # whatever the app made of the aborted read is not sent
                await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not too_large:
                raise
        if too_large:
            await self._refuse(send, limit)

    @staticmethod
    async def _refuse(send: Send, limit: int) -> None:
        body = orjson.dumps(
            error_body(
                "payload_too_large",
                f"the request body is larger than {limit} bytes",
                limit_bytes=limit,
            )
        )
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class RequestMetrics:
    """Counts, times and logs every request by its route, and gives it its correlation id
    (the caller's `X-Request-ID`, echoed in the response). A plain ASGI middleware: no
    task or stream per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        header = next((v for k, v in scope["headers"] if k == b"x-request-id"), None)
        correlation = request_id(header.decode("latin-1") if header else None)
        echoed = (REQUEST_ID_HEADER.lower().encode(), str(correlation).encode())
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), echoed]
            await send(message)

        token = CORRELATION_ID.set(correlation)
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Unhandled: Starlette's error middleware, outside this one, answers 500.
            status = 500
            log.exception("request failed", extra={"method": scope["method"], "status": 500})
            raise
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            seconds = time.perf_counter() - started
            HTTP_LATENCY.labels(path, scope["method"], str(status)).observe(seconds)
            HTTP_REQUESTS.labels(path, scope["method"], str(status)).inc()
            if path not in UNLOGGED_ROUTES:
                # The route's template, never the path: no identifiers or personal data.
                log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "route": path,
                        "status": status,
                        "ms": round(seconds * 1000, 1),
                    },
                )
            CORRELATION_ID.reset(token)


def create_app(
    runtime: ServiceRuntime,
    *,
    access: AccessControl,
    title: str,
    routers: list[APIRouter],
    on_start: Callable[[], Awaitable[None]] | None = None,
    larger_bodies: Mapping[str, int] | None = None,
) -> FastAPI:
    """Build a service's app; `access` says who may call it; `on_start` runs after the store
    is reachable (e.g. indexes); `larger_bodies` gives paths under a prefix a body limit
    above the service's own."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with runtime.running():
            if runtime.store:
                await app.state.audit.create_indexes()
            await idempotency.records.create_indexes()
            if on_start:
                await on_start()
            log.info("service started", extra={"port": runtime.settings.http_port})
            yield
            log.info("service stopping")

    app = FastAPI(
        title=title,
        lifespan=lifespan,
        default_response_class=ORJSONResponse,
        docs_url=None,
        redoc_url=None,
    )
    serve_api_docs(app)
    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_error_answers(build_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.state.runtime = runtime
    access.install(app)
    admin_only = [Depends(access.admin)]
    idempotency = IdempotencyKeys(
        StoredIdempotencyRecords(runtime.db),
        runtime.settings.pii_pepper.get_secret_value().encode(),
        retention=timedelta(hours=runtime.settings.idempotency_retention_hours),
    )
    app.state.idempotency = idempotency
    runtime.every(IDEMPOTENCY_SWEEP_SECONDS, idempotency.forget_expired, "expired-idempotency-keys")

    app.add_middleware(
        BodySizeLimit, limit=runtime.settings.http_max_body_bytes, larger=larger_bodies
    )
    app.add_middleware(RequestMetrics)

    @app.get("/metrics", tags=["operations"], include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(MusterError)
    async def muster_error(_: Request, exc: MusterError) -> ORJSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
        # TooManyRequestsError, request_in_progress: when to try again.
        if "retry_after_seconds" in exc.details:
            headers["Retry-After"] = str(exc.details["retry_after_seconds"])
        return ORJSONResponse(
            error_body(exc.code, exc.message, **exc.details), exc.status, headers=headers
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> ORJSONResponse:
        # Unknown paths (404) and methods (405) answer in the same format as every error.
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return ORJSONResponse(
            error_body(code, str(exc.detail)), exc.status_code, headers=exc.headers
        )

    @app.exception_handler(ConcurrencyError)
    async def concurrency_error(_: Request, exc: ConcurrencyError) -> ORJSONResponse:
        return ORJSONResponse(
            error_body(
                "concurrency_conflict",
                str(exc),
                stream_id=exc.stream_id,
                expected_version=exc.expected,
            ),
            409,
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> ORJSONResponse:
        fields = [
            {
                "field": ".".join(str(p) for p in e["loc"][1:]) or str(e["loc"][0]),
                "rule": e["type"],
                "message": e["msg"],
            }
            for e in exc.errors()
        ]
        return ORJSONResponse(
            error_body("validation_failed", "the request is not valid", fields=fields), 422
        )

    @app.exception_handler(PyMongoError)
    async def store_unavailable(request: Request, exc: PyMongoError) -> ORJSONResponse:
        # The store is away (or refused the write): nothing was acknowledged, retry later.
        log.warning("document store error", extra={"path": request.url.path, "error": repr(exc)})
        if isinstance(exc, ConnectionFailure | ServerSelectionTimeoutError | NetworkTimeout):
            return ORJSONResponse(
                error_body("store_unavailable", "the document store is unavailable; retry shortly"),
                503,
                headers={"Retry-After": "5"},
            )
        # E.g. interrupted by the store shutting down: as temporary for the caller.
        return ORJSONResponse(
            error_body("store_error", "the document store refused the request; retry shortly"),
            503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> ORJSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return ORJSONResponse(error_body("internal", "an unexpected error occurred"), 500)

    @app.exception_handler(ValidationError)
    async def model_error(_: Request, exc: ValidationError) -> ORJSONResponse:
        # A command model built inside a handler refused its input: still the caller's error.
        fields = [
            {"field": ".".join(str(p) for p in e["loc"]), "rule": e["type"], "message": e["msg"]}
            for e in exc.errors()
        ]
        return ORJSONResponse(
            error_body("validation_failed", "the request is not valid", fields=fields), 422
        )

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": runtime.settings.service_name}

    @app.get("/readyz", tags=["operations"])
    async def readyz() -> ORJSONResponse:
        checks = await runtime.readiness()
        ready = runtime.ready(checks)
        body = {"ready": ready, "service": runtime.settings.service_name, "checks": checks}
        return ORJSONResponse(body, 200 if ready else 503)

    @app.get("/debug/tasks", tags=["operations"], dependencies=admin_only)
    async def debug_tasks() -> dict[str, list[str]]:
        """Where every asyncio task of this process is waiting (for a stuck consumer)."""
        return {
            task.get_name(): [
                f"{f.f_code.co_filename.rsplit('/', 2)[-1]}:{f.f_lineno} {f.f_code.co_name}"
                for f in task.get_stack(limit=25)
            ]
            for task in asyncio.all_tasks()
        }

    for router in access.routers:
        require_retry_safe_posts(router)
        app.include_router(router)
    if runtime.store:
        app.state.audit = audit.AuditTrail(runtime.store)
        app.include_router(audit.router, dependencies=admin_only)
    for router in routers:
        require_retry_safe_posts(router)
        app.include_router(router)
    instrument_app(app)
    return app


def require_retry_safe_posts(router: APIRouter) -> None:
    """Every POST takes an `Idempotency-Key`: refuse a router whose POST routes do not."""
    for route in router.routes:
        posts = isinstance(route, APIRoute) and "POST" in (route.methods or ())
        if posts and not isinstance(route, RetrySafeRoute):
            raise TypeError(
                f"POST {getattr(route, 'path', route)} is not retry-safe: declare its router "
                "with APIRouter(route_class=RetrySafeRoute) (muster_http.idempotency)"
            )


def request_id(header: str | None) -> UUID:
    """The caller's `X-Request-ID` if it is a UUID, else a new one: the correlation id."""
    if header:
        with contextlib.suppress(ValueError):
            return UUID(header.strip())
    return uuid4()


def serve(app: FastAPI, host: str, port: int) -> None:
    """Run with uvicorn; SIGTERM triggers a graceful shutdown through the lifespan."""
    import uvicorn

    uvicorn.run(
        app, host=host, port=port, log_config=None, access_log=False, timeout_graceful_shutdown=10
    )
