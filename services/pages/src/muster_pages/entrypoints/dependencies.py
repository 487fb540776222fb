"""What the pages' handlers depend on, as typed FastAPI dependencies: `bootstrap.build_app`
wires one `PagesDesks` into the app, whose lifespan opens the HTTP client (and the
identity provider on it), and a handler names what it needs (`settings: Settings`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import httpx
from fastapi import Depends

from muster_http.wiring import part, wired
from muster_pages.adapters.identity_provider import IdentityProvider
from muster_pages.settings import PagesSettings


@dataclass
class PagesDesks:
    settings: PagesSettings
    root_area_id: str
    client: httpx.AsyncClient | None = None
    identity_provider: IdentityProvider | None = None


Desks = Annotated[PagesDesks, Depends(wired(PagesDesks))]


async def _client(desks: Desks) -> httpx.AsyncClient:
    if desks.client is None:
        raise RuntimeError("the pages' HTTP client opens with the app (its lifespan)")
    return desks.client


Settings = Annotated[PagesSettings, Depends(part(PagesDesks, "settings"))]
Client = Annotated[httpx.AsyncClient, Depends(_client)]
Provider = Annotated[IdentityProvider | None, Depends(part(PagesDesks, "identity_provider"))]
