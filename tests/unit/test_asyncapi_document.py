"""The AsyncAPI document is valid: every reference resolves, the official validator
(`@asyncapi/cli`, installed by `make install` under tools/asyncapi) accepts it, and a
message as services write it validates against its payload schema."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest
from jsonschema.exceptions import ValidationError

from muster_contracts.access import TokenRevoked
from muster_contracts.envelope import Actor, Role
from muster_contracts.schemagen import CONTRACTS_DIR
from tests.asyncapi import document, refs, resolve, validator

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / "tools" / "asyncapi" / "node_modules" / ".bin" / "asyncapi"


def test_every_reference_in_the_document_resolves() -> None:
    found = sorted(set(refs(document())))
    unresolved = []
    for pointer in found:
        try:
            resolve(pointer)
        except (KeyError, AssertionError):
            unresolved.append(pointer)
    assert len(found) > 40
    assert unresolved == []


def test_the_official_validator_accepts_the_document(tmp_path: Path) -> None:
    if not CLI.exists():
        if shutil.which("npm") is None:
            pytest.skip("npm is not installed: the AsyncAPI CLI cannot be installed here")
        pytest.fail(f"{CLI} is missing: run `make install` (npm ci in tools/asyncapi)")
    result = subprocess.run(
        [str(CLI), "validate", str(CONTRACTS_DIR / "asyncapi.json"), "--fail-severity", "warn"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        # Its settings and analytics opt-out go to a home of its own, not the developer's.
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "CI": "true"},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_revocation_validates_and_a_wrong_one_does_not() -> None:
    now = datetime.now(UTC)
    revoked = TokenRevoked(
        token_id="jti-1",
        until=now,
        revoked_at=now,
        revoked_by=Actor(subject="admin-1", role=Role.ADMIN),
    )
    body = revoked.envelope(uuid4()).model_dump(mode="json")
    check = validator("access.token_revoked", "payload")
    check.validate(body)
    body["payload"]["revoked_by"]["role"] = "janitor"
    with pytest.raises(ValidationError):
        check.validate(body)
    with pytest.raises(ValidationError):
        check.validate({**body, "type": "volunteer.registered"})
