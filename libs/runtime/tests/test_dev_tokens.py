"""`muster token`: development tokens the services accept, minted without heavy imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

from muster_contracts.envelope import Role
from muster_runtime.auth import TokenVerifier
from muster_runtime.dev_tokens import issuer_from_environment
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
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str]
) -> None:
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


def test_muster_token_imports_neither_pydantic_nor_pyjwt_nor_the_web_framework() -> None:
    probe = (
        "import sys\n"
        "from muster_runtime.cli import main\n"
        "assert main(['token', '--subject', 'li', '--role', 'leader']) == 0\n"
        "print(sorted(m for m in ('pydantic', 'jwt', 'fastapi', 'asyncio') if m in sys.modules))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    token, loaded = run.stdout.splitlines()
    assert token.count(".") == 2
    assert loaded == "[]"
