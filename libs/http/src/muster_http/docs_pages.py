"""`/docs` (Swagger UI) and `/redoc` (ReDoc), their assets served by the service itself from
`api_docs/` (vendored from the npm registry by `tools/vendor_npm.py`): the pages work with
no internet and load nothing from a CDN, fonts included.

Their Content-Security-Policy admits only the service itself, so the browser requests
nothing elsewhere either: ReDoc shows Redocly's logo from its CDN, and hides it when the
image does not load."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(__file__).with_name("api_docs")
ASSETS_PATH = "/docs/assets"
NEEDED = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js")
# Inline scripts and styles: the pages' own bootstrap, and the styles ReDoc injects.
SAME_ORIGIN_ONLY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "frame-ancestors 'none'"
)

log = logging.getLogger(__name__)


def serve_api_docs(app: FastAPI) -> None:
    """Add `/docs` and `/redoc` to `app` (built with `docs_url=None, redoc_url=None`)."""
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS, check_dir=False), name="api-docs")
    favicon = f"{ASSETS_PATH}/favicon-32x32.png"
    openapi_url, title = app.openapi_url or "/openapi.json", f"{app.title} — API"
    swagger_ui = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=title,
        swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=favicon,
        # Swagger UI would send the document to its public validator otherwise.
        swagger_ui_parameters={"validatorUrl": None},
    )
    redoc = get_redoc_html(
        openapi_url=openapi_url,
        title=title,
        redoc_js_url=f"{ASSETS_PATH}/redoc.standalone.js",
        redoc_favicon_url=favicon,
        with_google_fonts=False,
    )
    for path, page in (("/docs", swagger_ui), ("/redoc", redoc)):
        page.headers["Content-Security-Policy"] = SAME_ORIGIN_ONLY
        app.add_api_route(path, _serving(page), methods=["GET"], include_in_schema=False)

    missing = [name for name in NEEDED if not (ASSETS / name).exists()]
    if missing:
        log.warning(
            "API docs assets missing: /docs and /redoc will not render "
            "(run `make install` or `python tools/vendor_npm.py`)",
            extra={"missing": missing},
        )


def _serving(page: HTMLResponse) -> Callable[[], Awaitable[HTMLResponse]]:
    async def serve() -> HTMLResponse:
        return page

    return serve
