"""The organisers' console: one HTML shell for each of its screens under `/console` (the
script shows the screen the address names); its scripts and styles are served with the
phone page's assets, under `/assets/console/`, with the same security headers."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import FileResponse

from muster_pages.entrypoints.pages import SECURITY_HEADERS, STATIC

# Each screen the address can name; `qr` fills the screen for a projector at the gate.
SCREENS = (
    "/console",
    "/console/drives/{drive_id}",
    "/console/activities",
    "/console/activities/{activity_id}",
    "/console/activities/{activity_id}/qr",
    "/console/roster",
)


def _shell() -> FileResponse:
    return FileResponse(
        STATIC / "console" / "console.html",
        headers=SECURITY_HEADERS | {"Cache-Control": "no-cache"},
    )


def mount(app: FastAPI) -> None:
    for path in SCREENS:
        app.add_api_route(
            path, _shell, methods=["GET"], include_in_schema=False, response_class=FileResponse
        )
