"""The committed AsyncAPI document as a validator of messages read from Kafka."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import orjson
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from muster_contracts.schemagen import CONTRACTS_DIR

DOCUMENT_URI = "urn:muster:asyncapi"


@functools.cache
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads((CONTRACTS_DIR / "asyncapi.json").read_bytes())
    return loaded


def refs(node: Any) -> Iterator[str]:
    """Every `$ref` in a JSON document, depth first."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def resolve(pointer: str) -> Any:
    """What a local `$ref` (`#/a/b`) points at in the document; KeyError if nothing."""
    assert pointer.startswith("#/"), f"not a local reference: {pointer}"
    node: Any = document()
    for part in pointer[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def message_id(event_type: str) -> str:
    """The id of the document's message whose `name` is the `event-type` header's value."""
    messages = document()["components"]["messages"]
    found = [key for key, message in messages.items() if message["name"] == event_type]
    assert len(found) == 1, f"{len(found)} messages named {event_type} in the AsyncAPI document"
    return str(found[0])


@functools.cache
def _registry() -> Registry[Any]:
    resource: Resource[Any] = DRAFT7.create_resource(document())
    registry: Registry[Any] = Registry().with_resource(DOCUMENT_URI, resource)
    return registry


def validator(event_type: str, part: str) -> Draft7Validator:
    """Validates a message's `payload` or `headers` (AsyncAPI schemas are JSON Schema
    draft 7 with extensions) against the document's message for `event_type`."""
    # Through the document: its local references (`#/components/...`) resolve against it.
    schema = {"$ref": f"{DOCUMENT_URI}#/components/messages/{message_id(event_type)}/{part}"}
    return Draft7Validator(schema, registry=_registry())
