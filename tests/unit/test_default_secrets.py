"""Outside development mode a service refuses to start when a secret is missing or is one
of the defaults published in this repository."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from muster_auth.keys import LocalKeyFile
from muster_runtime.settings import (
    DEV_JWT_SECRET,
    InsecureSecretsError,
    ServiceSettings,
)
from muster_volunteer.bootstrap import VolunteerSettings

RANDOM = "q3J0m5r1dF7kYb8wZ2xP9sTn4vLc6hGe"
PUBLISHED_JWT = [DEV_JWT_SECRET, "change-me-in-production", "REPLACE_ME-jwt-signing-secret", ""]
PUBLISHED_PEPPERS = ["muster-dev-pepper-change-me", "REPLACE_ME-pii-pepper", ""]


@pytest.mark.parametrize("secret", PUBLISHED_JWT)
def test_a_missing_or_published_jwt_secret_is_refused(secret: str) -> None:
    settings = ServiceSettings(dev_mode=False, jwt_secret=SecretStr(secret))
    with pytest.raises(InsecureSecretsError, match="MUSTER_JWT_SECRET"):
        settings.refuse_insecure_secrets()


def test_the_settings_default_is_refused_and_development_mode_accepts_it() -> None:
    with pytest.raises(InsecureSecretsError):
        ServiceSettings(dev_mode=False).refuse_insecure_secrets()
    ServiceSettings(dev_mode=True).refuse_insecure_secrets()


def test_random_secrets_pass_and_an_empty_jwt_secret_with_an_identity_provider() -> None:
    pepper = SecretStr(RANDOM + "-pepper")
    ServiceSettings(
        dev_mode=False, jwt_secret=SecretStr(RANDOM), pii_pepper=pepper
    ).refuse_insecure_secrets()
    ServiceSettings(
        dev_mode=False,
        jwt_secret=SecretStr(""),
        jwt_jwks_url="https://id.example.org/.well-known/jwks.json",
        pii_pepper=pepper,
    ).refuse_insecure_secrets()


@pytest.mark.parametrize("pepper", PUBLISHED_PEPPERS)
def test_every_service_refuses_a_published_pepper(pepper: str) -> None:
    """It keys the stored Idempotency-Keys of every service."""
    settings = ServiceSettings(
        dev_mode=False, jwt_secret=SecretStr(RANDOM), pii_pepper=SecretStr(pepper)
    )
    with pytest.raises(InsecureSecretsError, match="MUSTER_PII_PEPPER"):
        settings.refuse_insecure_secrets()


@pytest.mark.parametrize("pepper", PUBLISHED_PEPPERS)
def test_the_volunteer_service_refuses_a_published_pepper(pepper: str, tmp_path: Path) -> None:
    LocalKeyFile.create(tmp_path / "kek.json")
    settings = VolunteerSettings(
        dev_mode=False,
        jwt_secret=SecretStr(RANDOM),
        pii_pepper=SecretStr(pepper),
        kek_file=str(tmp_path / "kek.json"),
    )
    with pytest.raises(InsecureSecretsError, match="MUSTER_PII_PEPPER"):
        settings.refuse_insecure_secrets()
    settings.pii_pepper = SecretStr(RANDOM + "-pepper")
    settings.refuse_insecure_secrets()


def test_the_volunteer_service_needs_its_key_encryption_key_in_development_too() -> None:
    with pytest.raises(SystemExit, match="MUSTER_KEK_FILE"):
        VolunteerSettings(dev_mode=True, kek_file="").refuse_insecure_secrets()
    with pytest.raises(SystemExit, match="MUSTER_KMIP_HOST"):
        VolunteerSettings(dev_mode=True, kek_provider="kmip").refuse_insecure_secrets()


@pytest.mark.parametrize("service", ["volunteer", "dispatch", "reporting", "notify"])
def test_each_service_process_stops_with_the_reason(service: str, tmp_path: Path) -> None:
    LocalKeyFile.create(tmp_path / "kek.json")
    environment = {
        k: v for k, v in os.environ.items() if k not in {"MUSTER_JWT_SECRET", "MUSTER_PII_PEPPER"}
    } | {"MUSTER_DEV_MODE": "0", "MUSTER_KEK_FILE": str(tmp_path / "kek.json")}
    result = subprocess.run(
        [sys.executable, "-m", f"muster_{service}"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "refusing to start" in result.stderr
    assert "MUSTER_JWT_SECRET" in result.stderr
    assert "MUSTER_PII_PEPPER" in result.stderr
    assert "Traceback" not in result.stderr
