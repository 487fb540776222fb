"""`muster token`: development tokens the services accept, minted without heavy imports."""

from __future__ import annotations

from pathlib import Path

import pytest

from muster_auth.auth import TokenVerifier
from muster_auth.dev_tokens import issuer_from_environment
from muster_contracts.envelope import Role
from muster_runtime.settings import ServiceSettings


@pytest.mark.parametrize(
    "environment",
    [
        {},
        {"MUSTER_JWT_SECRET": "another-secret-of-sufficient-length-0123456789"},
        {"muster_jwt_issuer": "https://idp.example", "MUSTER_JWT_AUDIENCE": "muster-test"},
    ],
)
async def test_a_token_from_the_environment_verifies_with_the_services_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, environment: dict[str, str]
) -> None:
    monkeypatch.setenv("MUSTER_STATE_DIR", str(tmp_path))  # no local stack secret
    for name in ("MUSTER_JWT_SECRET", "MUSTER_JWT_ISSUER", "MUSTER_JWT_AUDIENCE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    token = issuer_from_environment().issue("li", Role.ORGANISER, "130203001", token_id="t-1")

    verifier = TokenVerifier.from_settings(ServiceSettings())
    principal = await verifier.verify(token)

    assert (principal.subject, principal.role, principal.area_id, principal.token_id) == (
        "li",
        Role.ORGANISER,
        "130203001",
        "t-1",
    )


async def test_without_a_configured_secret_tokens_use_the_local_stacks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("MUSTER_JWT_SECRET", raising=False)
    monkeypatch.setenv("MUSTER_STATE_DIR", str(tmp_path))
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "jwt-secret").write_text("a-generated-secret-0123456789abcdef\n")
    token = issuer_from_environment().issue("li", Role.LEADER, "130203")

    verifier = TokenVerifier(
        issuer="muster", audience="muster", hs256_secret="a-generated-secret-0123456789abcdef"
    )
    assert (await verifier.verify(token)).subject == "li"
