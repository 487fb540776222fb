"""The published request schemas say what the server requires, so a schema-driven fuzzer
sends conforming bodies as positive cases and the rest as negative ones.

Generated from each service's OpenAPI document, offline (the apps are built, not started).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from muster_auth.keys import LocalKeyFile
from muster_dispatch.bootstrap import build_app as build_dispatch
from muster_volunteer.bootstrap import VolunteerSettings
from muster_volunteer.bootstrap import build_app as build_volunteer

IN_SERVICE = "in_service_party_member"


def positive_bodies(document: dict[str, Any], path: str, examples: int = 150) -> list[Any]:
    operation = schemathesis.openapi.from_dict(document)[path]["POST"]
    bodies: list[Any] = []

    @settings(max_examples=examples, suppress_health_check=list(HealthCheck), database=None)
    @given(operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
    def collect(case: Any) -> None:
        bodies.append(case.body)

    collect()
    return bodies


@pytest.fixture(scope="module")
def dispatch_document() -> dict[str, Any]:
    return build_dispatch().openapi()


@pytest.fixture(scope="module")
def volunteer_document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    key_file = tmp_path_factory.mktemp("keys") / "kek.json"
    LocalKeyFile.create(key_file)
    return build_volunteer(VolunteerSettings(kek_file=str(key_file))).openapi()


def test_every_conforming_activity_belongs_to_a_drive_or_a_team(
    dispatch_document: dict[str, Any],
) -> None:
    bodies = positive_bodies(dispatch_document, "/activities")

    assert len(bodies) > 50
    orphans = [b for b in bodies if b.get("drive_id") is None and b.get("team_id") is None]
    assert orphans == []


def test_every_conforming_in_service_party_member_names_an_employer_unit(
    volunteer_document: dict[str, Any],
) -> None:
    bodies = positive_bodies(volunteer_document, "/volunteers", examples=300)

    in_service = [b for b in bodies if IN_SERVICE in b.get("categories", [])]
    assert in_service, "the generator never drew an in-service party member"
    assert [b for b in in_service if not b.get("employer_unit")] == []


def test_the_schemas_state_the_rules(
    dispatch_document: dict[str, Any], volunteer_document: dict[str, Any]
) -> None:
    schemas = dispatch_document["components"]["schemas"]
    activity = schemas["ActivityForm"]
    assert [branch["required"] for branch in activity["anyOf"]] == [["drive_id"], ["team_id"]]
    registration = volunteer_document["components"]["schemas"]["RegisterVolunteer"]
    assert registration["if"]["properties"]["categories"] == {"contains": {"const": IN_SERVICE}}
    assert registration["then"]["required"] == ["employer_unit"]
