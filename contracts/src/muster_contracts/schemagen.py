"""Writes the JSON Schemas of every event and the AsyncAPI document into `contracts/`.

Run `python -m muster_contracts.schemagen` (or `make schemas`); a test fails when the
committed files differ from what the code would write.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from muster_contracts.access import TOKEN_REVOKED, TOKEN_REVOKED_VERSION, TokenRevoked
from muster_contracts.envelope import EventEnvelope
from muster_contracts.events import event_types
from muster_contracts.topology import CONTEXTS, context_of, event_topic, revocation_topic

CONTRACTS_DIR = Path(__file__).resolve().parents[2]


COMPONENT_REF = "#/components/schemas/{model}"


def _schema_name(event_type: str, version: int) -> str:
    return f"{event_type}.v{version}"


def _components(models: list[type[BaseModel]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The models' schemas and every definition they use, as `components/schemas` of the
    AsyncAPI document (every `$ref` points at `#/components/schemas/<name>`, which resolves
    from the document's root), and a `$ref` to each model's schema by model name. Two
    shapes with one name (a drive's `Role`, an actor's `Role`) get names that differ."""
    refs, schemas = models_json_schema(
        [(model, "validation") for model in models], ref_template=COMPONENT_REF
    )
    by_model = {model.__name__: refs[(model, "validation")] for model in models}
    return schemas.get("$defs", {}), by_model


def _message_headers(event_type: str, version: int) -> dict[str, Any]:
    """The Kafka headers every Muster message carries (traceparent when traced)."""
    return {
        "type": "object",
        "required": ["content-type", "event-type", "schema-version"],
        "properties": {
            "content-type": {"const": "application/json"},
            "event-type": {"const": event_type},
            "schema-version": {"const": str(version)},
            "stream-version": {"type": "string", "pattern": "^[1-9][0-9]*$"},
            "traceparent": {
                "type": "string",
                "description": "W3C trace context of the request that recorded the event",
            },
        },
    }


def _message(
    event_type: str,
    model: type[BaseModel],
    version: int,
    payload: dict[str, Any],
    key: str,
    envelope: dict[str, Any],
) -> dict[str, Any]:
    return {
        "name": event_type,
        "title": model.__name__,
        "summary": (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else "",
        "contentType": "application/json",
        "headers": _message_headers(event_type, version),
        "payload": {
            "allOf": [
                envelope,
                {
                    "properties": {
                        "type": {"const": event_type},
                        "schema_version": {"const": version},
                        "payload": payload,
                    }
                },
            ]
        },
        "bindings": {"kafka": {"key": {"type": "string", "description": key}}},
    }


def render() -> dict[str, bytes]:
    """Every generated file by path relative to `contracts/`, as bytes."""
    files: dict[str, bytes] = {}
    options = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE
    files["schemas/envelope.json"] = orjson.dumps(EventEnvelope.model_json_schema(), option=options)
    messages: dict[str, Any] = {}
    events = {n: m for n, m in sorted(event_types().items()) if not n.startswith("test.")}
    components, ref_to = _components([EventEnvelope, *events.values(), TokenRevoked])
    channels: dict[str, Any] = {
        c: {"address": event_topic("muster", c), "messages": {}} for c in CONTEXTS
    }
    for name, model in events.items():
        schema_name = _schema_name(name, model.schema_version)
        files[f"schemas/{schema_name}.json"] = orjson.dumps(
            model.model_json_schema(), option=options
        )
        message_id = schema_name.replace(".", "_")
        messages[message_id] = _message(
            name,
            model,
            model.schema_version,
            ref_to[model.__name__],
            "the stream id",
            ref_to["EventEnvelope"],
        )
        context = context_of(model.stream_type)
        channels[context]["messages"][message_id] = {"$ref": f"#/components/messages/{message_id}"}
    # Not an event of a context: an admin's revocation, read by every service process, in
    # the same envelope (stream `token-<jti>`) and with the same headers as every event.
    files["schemas/access.token_revoked.json"] = orjson.dumps(
        TokenRevoked.model_json_schema(), option=options
    )
    messages["access_token_revoked"] = _message(
        TOKEN_REVOKED,
        TokenRevoked,
        TOKEN_REVOKED_VERSION,
        ref_to[TokenRevoked.__name__],
        "the token id",
        ref_to["EventEnvelope"],
    )
    channels["access"] = {
        "address": revocation_topic("muster"),
        "messages": {
            "access_token_revoked": {"$ref": "#/components/messages/access_token_revoked"}
        },
    }
    document = {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Muster events",
            "version": "1.0.0",
            "description": "Events every Muster context publishes; key = stream id, per-stream order.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": {
            f"publish_{c}": {"action": "send", "channel": {"$ref": f"#/channels/{c}"}}
            for c in (*CONTEXTS, "access")
        },
        "components": {
            "schemas": dict(sorted(components.items())),
            "messages": messages,
        },
    }
    files["asyncapi.json"] = orjson.dumps(document, option=options)
    return files


def write(root: Path = CONTRACTS_DIR) -> list[Path]:
    written = []
    schemas = root / "schemas"
    schemas.mkdir(parents=True, exist_ok=True)
    wanted = render()
    for stale in schemas.glob("*.json"):
        if f"schemas/{stale.name}" not in wanted:
            stale.unlink()
    for relative, content in wanted.items():
        path = root / relative
        if not path.exists() or path.read_bytes() != content:
            path.write_bytes(content)
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=CONTRACTS_DIR)
    args = parser.parse_args(argv)
    changed = write(args.root)
    print(f"{len(changed)} file(s) updated under {args.root}")


if __name__ == "__main__":
    main()
