"""Every operation's OpenAPI names each error status the runtime can answer on it, each with
the one error body, so a client (or schemathesis) finds every answer documented."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends

from muster_auth.access import Access
from muster_auth.auth import Principal, require_role
from muster_contracts.envelope import Role
from muster_http.app import create_app
from muster_http.idempotency import RetrySafeRoute
from muster_runtime.service import ServiceRuntime
from muster_runtime.settings import ServiceSettings

ERROR_BODY = {"$ref": "#/components/schemas/ErrorAnswer"}


def document() -> dict[str, Any]:
    router = APIRouter(route_class=RetrySafeRoute)
    organiser = Depends(require_role(Role.ORGANISER))

    @router.get("/drives/{drive_id}")
    async def drive(drive_id: str, _: Principal = organiser) -> dict[str, str]:
        return {"drive_id": drive_id}

    @router.post("/drives", status_code=201)
    async def launch(title: str = Body(embed=True), _: Principal = organiser) -> dict[str, str]:
        return {"title": title}

    @router.get("/open")
    async def open_to_all() -> dict[str, str]:
        return {}

    settings = ServiceSettings(
        service_name="docs", dev_mode=True, mongo_url="mongodb://127.0.0.1:1/"
    )
    runtime = ServiceRuntime(settings)
    app = create_app(runtime, access=Access(runtime), title="test", routers=[router])
    return app.openapi()


def test_each_operation_documents_the_runtime_errors_with_the_error_body() -> None:
    paths = document()["paths"]
    read, launch, open_ = (
        paths["/drives/{drive_id}"]["get"],
        paths["/drives"]["post"],
        paths["/open"]["get"],
    )

    assert {"200", "401", "403", "404", "422", "503"} <= set(read["responses"])
    assert {"201", "400", "401", "403", "409", "413", "422", "503"} <= set(launch["responses"])
    assert set(open_["responses"]) == {"200", "503"}
    for operation in (read, launch, open_):
        for status, answer in operation["responses"].items():
            if status >= "400":
                assert answer["content"]["application/json"]["schema"] == ERROR_BODY, status
    assert "WWW-Authenticate" in read["responses"]["401"]["headers"]
    assert "Retry-After" in launch["responses"]["503"]["headers"]
    assert "Retry-After" in launch["responses"]["409"]["headers"]


def test_the_error_body_is_a_component_and_fastapi_s_own_validation_body_is_not_used() -> None:
    schema = document()
    assert "ErrorAnswer" in schema["components"]["schemas"]
    assert "HTTPValidationError" not in repr(schema["paths"])
