"""Writes the JSON Schemas of every event and the AsyncAPI document into `contracts/`.

Run `python -m muster_contracts.schemagen` (or `make schemas`); a test fails when the
committed files differ from what the code would write.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import orjson

from muster_contracts.access import TokenRevoked
from muster_contracts.envelope import EventEnvelope
from muster_contracts.events import event_types
from muster_contracts.topology import CONTEXTS, context_of, event_topic, revocation_topic

CONTRACTS_DIR = Path(__file__).resolve().parents[2]


def _schema_name(event_type: str, version: int) -> str:
    return f"{event_type}.v{version}"


def render() -> dict[str, bytes]:
    """Every generated file by path relative to `contracts/`, as bytes."""
    files: dict[str, bytes] = {}
    options = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE
    files["schemas/envelope.json"] = orjson.dumps(EventEnvelope.model_json_schema(), option=options)
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {
        c: {"address": event_topic("muster", c), "messages": {}} for c in CONTEXTS
    }
    for name, model in sorted(event_types().items()):
        if name.startswith("test."):
            continue
        schema_name = _schema_name(name, model.schema_version)
        schema = model.model_json_schema()
        files[f"schemas/{schema_name}.json"] = orjson.dumps(schema, option=options)
        message_id = schema_name.replace(".", "_")
        messages[message_id] = {
            "name": name,
            "title": model.__name__,
            "summary": (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else "",
            "contentType": "application/json",
            "headers": {
                "type": "object",
                "properties": {
                    "event-type": {"const": name},
                    "schema-version": {"const": str(model.schema_version)},
                },
            },
            "payload": {
                "allOf": [
                    {"$ref": "#/components/schemas/EventEnvelope"},
                    {"properties": {"type": {"const": name}, "payload": schema}},
                ]
            },
            "bindings": {"kafka": {"key": {"type": "string", "description": "the stream id"}}},
        }
        context = context_of(model.stream_type)
        channels[context]["messages"][message_id] = {"$ref": f"#/components/messages/{message_id}"}
    # Not an event of a context: an admin's revocation, read by every service process.
    revoked = TokenRevoked.model_json_schema()
    files["schemas/access.token_revoked.json"] = orjson.dumps(revoked, option=options)
    messages["access_token_revoked"] = {
        "name": "access.token_revoked",
        "title": "TokenRevoked",
        "summary": (TokenRevoked.__doc__ or "").strip().splitlines()[0],
        "contentType": "application/json",
        "payload": revoked,
        "bindings": {"kafka": {"key": {"type": "string", "description": "the token id"}}},
    }
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
            "schemas": {"EventEnvelope": EventEnvelope.model_json_schema()},
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
