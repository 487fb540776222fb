"""A service's collaborators, wired once into its app when it is built and handed to
handlers as typed FastAPI dependencies (each service names them in its
`entrypoints/dependencies.py`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fastapi import FastAPI, Request

Collaborators = TypeVar("Collaborators")


def wire(app: FastAPI, collaborators: object) -> None:
    """Give the app the collaborators its handlers depend on (once, at build)."""
    app.state.collaborators = collaborators


def wired(kind: type[Collaborators]) -> Callable[[Request], Collaborators]:
    """The dependency giving the `kind` of collaborators wired into the request's app."""

    def collaborators(request: Request) -> Collaborators:
        found = request.app.state.collaborators
        if not isinstance(found, kind):
            raise TypeError(f"the app is wired with {type(found).__name__}, not {kind.__name__}")
        return found

    collaborators.__name__ = f"wired_{kind.__name__}"
    return collaborators
