"""Stable event names, schema versions and upcasting of old payloads on read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]

_EVENT_TYPES: dict[str, type[DomainEvent]] = {}
_UPCASTERS: dict[tuple[str, int], Upcaster] = {}


class UnknownEventTypeError(LookupError):
    """An event type this code base has never defined (a poison message for consumers)."""


class DomainEvent(BaseModel):
    """Base of every event payload.

    Subclasses set `event_type` (stable across renames of the Python class) and
    `schema_version`; they register themselves so consumers can decode by name.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1
    stream_type: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("event_type")
        if name is None:
            return
        if name in _EVENT_TYPES and _EVENT_TYPES[name].__qualname__ != cls.__qualname__:
            raise TypeError(f"event type {name!r} is defined twice")
        _EVENT_TYPES[name] = cls


E = TypeVar("E", bound=DomainEvent)


def event_types() -> dict[str, type[DomainEvent]]:
    """Every registered event type by stable name."""
    return dict(_EVENT_TYPES)


def register_upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register a function turning a `from_version` payload into a `from_version + 1` one."""

    def decorator(upcaster: Upcaster) -> Upcaster:
        _UPCASTERS[(event_type, from_version)] = upcaster
        return upcaster

    return decorator


def decode_payload(event_type: str, schema_version: int, payload: Payload) -> DomainEvent:
    """Validate a stored payload as the current version of its event type.

    Raises:
        UnknownEventTypeError: the type is not defined here.
        pydantic.ValidationError: the payload does not match its schema.
    """
    try:
        model = _EVENT_TYPES[event_type]
    except KeyError:
        raise UnknownEventTypeError(event_type) from None
    version = schema_version
    while version < model.schema_version:
        try:
            payload = _UPCASTERS[(event_type, version)](payload)
        except KeyError:
            raise UnknownEventTypeError(f"{event_type} v{version} has no upcaster") from None
        version += 1
    if version != model.schema_version:
        raise UnknownEventTypeError(f"{event_type} v{schema_version} is newer than this code")
    return model.model_validate(payload)
