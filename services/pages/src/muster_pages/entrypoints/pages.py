"""The pages themselves: one HTML shell for every screen of the volunteer's page (the
script shows the screen the address names), its script, styles and icon, all from this
service, with a content security policy that admits nothing from anywhere else."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).with_name("static")

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # The location is asked for by this site only; the camera is the phone's own app.
    "Permissions-Policy": "geolocation=(self), camera=(), microphone=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# Each screen the address can name; the script decides what to show.
SCREENS = ("/", "/register", "/drives", "/record", "/inbox", "/check-in/{activity_id}")


class Assets(StaticFiles):
    """The script, styles and icon, cached a day, with the same security headers."""

    async def get_response(self, path: str, scope: Scope):  # type: ignore[no-untyped-def]
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        response.headers["Cache-Control"] = "public, max-age=86400"
        return response


def _shell() -> FileResponse:
    return FileResponse(
        STATIC / "volunteer.html",
        headers=SECURITY_HEADERS | {"Cache-Control": "no-cache"},
    )


def mount(app: FastAPI) -> None:
    """Serve every screen's address with the shell, and the assets under `/assets/`."""
    for path in SCREENS:
        app.add_api_route(
            path, _shell, methods=["GET"], include_in_schema=False, response_class=FileResponse
        )
    app.mount("/assets", Assets(directory=STATIC), name="assets")
