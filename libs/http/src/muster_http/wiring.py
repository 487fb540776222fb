"""A service's collaborators, wired once into its app when it is built and handed to
handlers as typed FastAPI dependencies (each service names them in its
`entrypoints/dependencies.py`: `Drives = Annotated[DriveBook, Depends(part(Desks, "drives"))]`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import fields
from operator import attrgetter
from typing import Any, TypeVar

from fastapi import FastAPI, Request

Collaborators = TypeVar("Collaborators")


def wire(app: FastAPI, collaborators: object) -> None:
    """Give the app the collaborators its handlers depend on (once, at build)."""
    app.state.collaborators = collaborators


def wired(kind: type[Collaborators]) -> Callable[[Request], Awaitable[Collaborators]]:
    """The dependency giving the `kind` of collaborators wired into the request's app.

    Coroutines, like `part`'s: FastAPI runs a plain function dependency in a thread pool,
    a hop that costs more than reading an attribute."""

    async def collaborators(request: Request) -> Collaborators:
        found = request.app.state.collaborators
        if not isinstance(found, kind):
            raise TypeError(f"the app is wired with {type(found).__name__}, not {kind.__name__}")
        return found

    collaborators.__name__ = f"wired_{kind.__name__}"
    return collaborators


def part(kind: type[Any], path: str) -> Callable[[Request], Awaitable[Any]]:
    """The dependency giving one collaborator of the wired `kind`: a field's name, or a
    dotted path into it (`"channels.pushes"`), read at each request. A name the dataclass
    lacks fails at import."""
    field = path.partition(".")[0]
    if field not in {f.name for f in fields(kind)}:
        raise AttributeError(f"{kind.__name__} has no field {field!r}")
    whole, read = wired(kind), attrgetter(path)

    async def collaborator(request: Request) -> Any:
        return read(await whole(request))

    collaborator.__name__ = f"wired_{path.replace('.', '_')}"
    return collaborator
