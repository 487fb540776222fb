"""Handlers get a service's collaborators as typed dependencies: wired once into the app,
read at each request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from muster_http.wiring import part, wire, wired


@dataclass
class Inner:
    greeting: str


@dataclass
class Desks:
    name: str
    inner: Inner = field(default_factory=lambda: Inner("你好"))


Name = Annotated[str, Depends(part(Desks, "name"))]
Greeting = Annotated[str, Depends(part(Desks, "inner.greeting"))]
Whole = Annotated[Desks, Depends(wired(Desks))]


def app_wired_with(collaborators: object) -> TestClient:
    app = FastAPI()

    @app.get("/hello")
    async def hello(name: Name, greeting: Greeting, desks: Whole) -> dict[str, str]:
        return {"name": name, "greeting": greeting, "same": str(desks.name == name)}

    wire(app, collaborators)
    return TestClient(app, raise_server_exceptions=False)


def test_a_handler_gets_the_wired_collaborators_and_their_parts() -> None:
    answer = app_wired_with(Desks("王芳")).get("/hello")
    assert answer.json() == {"name": "王芳", "greeting": "你好", "same": "True"}


def test_a_part_is_read_at_each_request_so_a_replaced_one_is_seen() -> None:
    desks = Desks("王芳")
    client = app_wired_with(desks)
    desks.inner = Inner("hello")
    assert client.get("/hello").json()["greeting"] == "hello"


def test_an_app_wired_with_other_collaborators_is_an_error_not_a_wrong_answer() -> None:
    assert app_wired_with(Inner("x")).get("/hello").status_code == 500


def test_a_part_the_collaborators_lack_fails_at_once() -> None:
    with pytest.raises(AttributeError, match="no field 'nmae'"):
        part(Desks, "nmae")
