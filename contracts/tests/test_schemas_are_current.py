"""The committed JSON Schemas and AsyncAPI document match the event models."""

from __future__ import annotations

from muster_contracts.schemagen import CONTRACTS_DIR, render


def test_committed_schemas_match_the_models() -> None:
    stale = [
        relative
        for relative, content in render().items()
        if not (CONTRACTS_DIR / relative).exists()
        or (CONTRACTS_DIR / relative).read_bytes() != content
    ]
    assert not stale, f"run `make schemas`: stale {stale}"


def test_no_schema_file_lingers_for_an_event_that_is_gone() -> None:
    wanted = {relative for relative in render() if relative.startswith("schemas/")}
    present = {f"schemas/{p.name}" for p in (CONTRACTS_DIR / "schemas").glob("*.json")}
    assert present <= wanted
