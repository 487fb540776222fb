"""The fault tests' `stack()` stops only the broker or store the tests were given, and only
when the stack script started it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.helpers import stack


@pytest.fixture
def empty_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state directory with nothing running (were the guard broken, nothing to stop)."""
    monkeypatch.setenv("MUSTER_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("MUSTER_KAFKA_PORT", "29999")
    monkeypatch.setenv("MUSTER_MONGO_PORT", "39999")
    monkeypatch.delenv("MUSTER_KAFKA_NODES", raising=False)
    monkeypatch.delenv("MUSTER_KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.delenv("MUSTER_MONGO_URL", raising=False)
    return tmp_path


def test_a_broker_given_by_address_elsewhere_is_not_stopped(
    empty_state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MUSTER_KAFKA_BOOTSTRAP", "10.0.0.7:9092")
    with pytest.raises(
        RuntimeError, match=r"given 10\.0\.0\.7:9092, while .* manages 127\.0\.0\.1:29999"
    ):
        stack("down", "kafka")


def test_a_store_given_by_url_elsewhere_is_not_stopped(
    empty_state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MUSTER_MONGO_URL", "mongodb://db.example:27017/")
    with pytest.raises(RuntimeError, match="refusing to down ferretdb"):
        stack("down", "ferretdb")


def test_a_component_the_stack_did_not_start_is_not_stopped(empty_state: Path) -> None:
    with pytest.raises(RuntimeError, match="did not start it"):
        stack("down", "kafka")
