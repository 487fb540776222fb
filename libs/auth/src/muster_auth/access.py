"""A service's access control, wired into its app by the composition root:
`create_app(runtime, access=Access(runtime), ...)`.

It verifies bearer tokens against the configured keys, keeps the process's revocation list
in step with the revocation topic (the service is not ready until it has read it to the
end) and serves the administrators' token-revocation routes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI

from muster_auth import revocations
from muster_auth.auth import Principal, RevocationList, TokenVerifier, require_role
from muster_auth.revocations import RevocationFeed
from muster_contracts.envelope import Role
from muster_contracts.topology import revocation_topic
from muster_runtime.service import ServiceRuntime


class Access:
    """The `AccessControl` of `muster_http.app.create_app`, for one service process."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        settings = runtime.settings
        self.revocations = RevocationList()
        self.topic = revocation_topic(settings.topic_prefix)
        self.feed = RevocationFeed(settings.kafka_bootstrap, self.topic, self.revocations)
        self.tokens = TokenVerifier.from_settings(settings, self.revocations)
        self.admin: Callable[..., Awaitable[Principal]] = require_role(Role.ADMIN)
        self.routers: list[APIRouter] = [revocations.router]
        runtime.once_connected(self.feed.run, "revocation-feed", topics=[self.topic])
        runtime.ready_when("revocations", self._revocations_read)

    def _revocations_read(self) -> str:
        return "ok" if self.feed.caught_up.is_set() else "reading"

    def install(self, app: FastAPI) -> None:
        app.state.tokens = self.tokens
        app.state.access = self
