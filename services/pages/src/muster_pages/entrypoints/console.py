"""The organisers' console: one HTML shell for each of its screens under `/console` (the
script shows the screen the address names); its scripts and styles are served with the
phone page's assets, under `/assets/console/`, with the same security headers."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse

from muster_contracts.roles import Role
from muster_pages.domain.sign_in import SESSION_COOKIE, claims_shown
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
# Whom the console serves; the services decide what each call may do.
CONSOLE_ROLES = frozenset({Role.ORGANISER.value, Role.ADMIN.value})


def _shell(request: Request) -> FileResponse:
    """The shell; 403 to a session whose token claims another role (a volunteer's), where
    the script says in words that the console is for organisers."""
    token = request.cookies.get(SESSION_COOKIE)
    refused = token is not None and claims_shown(token).get("role") not in CONSOLE_ROLES
    return FileResponse(
        STATIC / "console" / "console.html",
        status_code=403 if refused else 200,
        headers=SECURITY_HEADERS | {"Cache-Control": "no-cache"},
    )


def mount(app: FastAPI) -> None:
    for path in SCREENS:
        app.add_api_route(
            path, _shell, methods=["GET"], include_in_schema=False, response_class=FileResponse
        )
