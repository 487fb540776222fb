"""The baseline a user could build instead: a plain CRUD check-in endpoint.

FastAPI writing one document per check-in (and updating it at check-out) in the same
document store, with the same bearer tokens — no events, no outbox, no Kafka.
Run: `python -m muster_cli.bench.crud_checkin` (MUSTER_HTTP_PORT, MUSTER_MONGO_URL,
MUSTER_MONGO_DB).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException

from muster_auth.auth import Principal, TokenVerifier, require_role
from muster_contracts.envelope import Role
from muster_http.app import serve
from muster_runtime.mongo import connect
from muster_runtime.settings import ServiceSettings

Volunteer = Annotated[Principal, Depends(require_role(Role.VOLUNTEER))]


def build_app(settings: ServiceSettings) -> FastAPI:
    client = connect(settings.mongo_url, settings.mongo_max_pool)
    attendances = client[settings.database_name]["attendances"]

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await client.close()

    app = FastAPI(title="plain CRUD check-in (benchmark baseline)", lifespan=lifespan)
    # The same verification as the services' (keys, claims; no revocation feed here).
    app.state.tokens = TokenVerifier.from_settings(settings)

    @app.post("/activities/{activity_id}/check-in")
    async def check_in(activity_id: str, principal: Volunteer) -> dict[str, Any]:
        at = datetime.now(UTC)
        await attendances.insert_one(
            {"_id": f"{activity_id}:{principal.subject}", "check_in_at": at}
        )
        return {"activity_id": activity_id, "check_in_at": at.isoformat()}

    @app.post("/activities/{activity_id}/check-out")
    async def check_out(activity_id: str, principal: Volunteer) -> dict[str, Any]:
        at = datetime.now(UTC)
        result = await attendances.update_one(
            {"_id": f"{activity_id}:{principal.subject}"}, {"$set": {"check_out_at": at}}
        )
        if not result.matched_count:
            raise HTTPException(404, "not checked in")
        return {"activity_id": activity_id, "check_out_at": at.isoformat()}

    return app


if __name__ == "__main__":
    settings = ServiceSettings(service_name="crud_baseline")
    serve(build_app(settings), settings.http_host, settings.http_port)
