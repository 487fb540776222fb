"""Who the calling volunteer is, decided in one place: every operation a volunteer does
for themself takes the volunteer their login speaks for from one dependency
(`OwnVolunteer`), asked once per request; no handler finds the caller by itself."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from muster_auth.auth import Principal
from muster_contracts.areas import load_area_tree
from muster_contracts.envelope import Role
from muster_http.wiring import wire
from muster_runtime.errors import NotFoundError, PermissionDeniedError
from muster_volunteer import entrypoints
from muster_volunteer.application.registration import VolunteerRegistry
from muster_volunteer.domain.volunteer import VolunteerId
from muster_volunteer.entrypoints import dependencies
from muster_volunteer.entrypoints.dependencies import (
    OwnVolunteer,
    OwnVolunteerIfAny,
    VolunteerDesks,
    VolunteerLogin,
    acts_as,
    own_volunteer,
    own_volunteer_if_volunteer,
)

# Every module of the service's entrypoints that has a router.
HANDLER_MODULES = [
    module
    for module in (
        importlib.import_module(f"{entrypoints.__name__}.{found.name}")
        for found in pkgutil.iter_modules(entrypoints.__path__)
    )
    if hasattr(module, "router")
]
# What a volunteer does for themself: each answers `not_registered` for a login that
# speaks for no volunteer.
FOR_THE_CALLER = {
    "GET /me",
    "GET /me/email",
    "PUT /me/email",
    "DELETE /me/email",
    "GET /me/activities",
    "GET /me/teams",
    "GET /me/service-record",
    "GET /me/hours-statement",
    "GET /me/sign-ups",
    "POST /activities/{activity_id}/check-in",
    "POST /activities/{activity_id}/check-out",
    "GET /drives",
    "POST /drives/{drive_id}/sign-ups",
    "GET /sign-ups/{sign_up_id}",
    "POST /sign-ups/{sign_up_id}/withdraw",
    "GET /volunteers/names",
}


def calls(dependant: Dependant) -> Iterator[Any]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from calls(dependency)


def test_every_operation_a_volunteer_does_for_themself_takes_the_one_dependency() -> None:
    taking = {
        f"{method} {route.path}"
        for module in HANDLER_MODULES
        for route in module.router.routes
        if isinstance(route, APIRoute)
        and {own_volunteer, own_volunteer_if_volunteer} & set(calls(route.dependant))
        for method in route.methods or ()
    }
    assert taking == FOR_THE_CALLER


def test_no_handler_finds_the_caller_by_itself() -> None:
    assert len(HANDLER_MODULES) >= 7
    for module in HANDLER_MODULES:
        source = inspect.getsource(module)
        assert "own_volunteer_id(" not in source, module.__name__
        assert "account_of(" not in source, module.__name__
    assert "own_volunteer_id(" in inspect.getsource(dependencies)


@dataclass
class Registry:
    """The registry's answers about logins: `links` from login to volunteer."""

    links: dict[str, str]
    asked: list[str] = field(default_factory=list)

    async def own_volunteer_id(self, subject: str) -> VolunteerId:
        self.asked.append(subject)
        if subject not in self.links:
            raise NotFoundError("this login speaks for no volunteer", code="not_registered")
        return VolunteerId(self.links[subject])

    async def account_of(self, subject: str) -> str | None:
        self.asked.append(subject)
        return self.links.get(subject)


@dataclass
class Tokens:
    """Bearer tokens `<role>:<subject>`, each verification counted."""

    verified: int = 0

    async def verify(self, token: str) -> Principal:
        self.verified += 1
        role, _, subject = token.partition(":")
        return Principal(subject=subject, role=Role(role), area_id="130203")


@dataclass
class Caller:
    client: TestClient
    registry: Registry
    tokens: Tokens

    def get(self, path: str, role: str, subject: str) -> Any:
        answer = self.client.get(path, headers={"Authorization": f"Bearer {role}:{subject}"})
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture
def caller() -> Caller:
    app = FastAPI()

    @app.get("/mine")
    async def mine(principal: VolunteerLogin, me: OwnVolunteer) -> dict[str, str]:
        return {"subject": principal.subject, "volunteer_id": me}

    @app.get("/names")
    async def names(me: OwnVolunteerIfAny) -> dict[str, str | None]:
        return {"volunteer_id": me}

    registry, tokens = Registry({"login-1": "v-1"}), Tokens()
    desks = VolunteerDesks(
        areas=load_area_tree(),
        registry=cast(VolunteerRegistry, registry),
        rosters=cast(Any, None),
        logins=cast(Any, None),
        email_addresses=cast(Any, None),
        live=cast(Any, None),
    )
    wire(app, desks)
    app.state.tokens = tokens
    return Caller(TestClient(app), registry, tokens)


def test_the_caller_is_the_volunteer_their_login_speaks_for_asked_once(caller: Caller) -> None:
    answer = caller.get("/mine", "volunteer", "login-1")

    assert answer == {"subject": "login-1", "volunteer_id": "v-1"}
    # The handler and the dependency share one verified principal and one lookup.
    assert (caller.tokens.verified, caller.registry.asked) == (1, ["login-1"])


def test_a_login_that_speaks_for_no_volunteer_is_not_registered(caller: Caller) -> None:
    with pytest.raises(NotFoundError) as refused:
        caller.client.get("/mine", headers={"Authorization": "Bearer volunteer:login-2"})
    assert refused.value.code == "not_registered"


def test_another_role_is_refused_before_any_login_is_looked_up(caller: Caller) -> None:
    with pytest.raises(PermissionDeniedError) as refused:
        caller.client.get("/mine", headers={"Authorization": "Bearer organiser:org-1"})
    assert refused.value.details["reason"] == "wrong_role"
    assert caller.registry.asked == []


def test_other_roles_act_by_area_not_as_a_volunteer(caller: Caller) -> None:
    assert caller.get("/names", "organiser", "org-1") == {"volunteer_id": None}
    assert caller.get("/names", "volunteer", "login-1") == {"volunteer_id": "v-1"}
    assert caller.registry.asked == ["login-1"]


async def test_a_volunteer_acts_as_themself_only() -> None:
    registry = Registry({"login-1": "v-1"})
    as_registry = cast(VolunteerRegistry, registry)

    def principal(role: Role, subject: str) -> Principal:
        return Principal(subject=subject, role=role, area_id="130203")

    assert await acts_as(principal(Role.VOLUNTEER, "login-1"), "v-1", as_registry)
    assert not await acts_as(principal(Role.VOLUNTEER, "login-1"), "v-2", as_registry)
    assert not await acts_as(principal(Role.VOLUNTEER, "login-2"), "v-1", as_registry)
    # An organiser or admin never acts as a volunteer, whatever their subject.
    assert not await acts_as(principal(Role.ADMIN, "login-1"), "v-1", as_registry)
    assert registry.asked == ["login-1", "login-1", "login-2"]
