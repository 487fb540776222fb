"""Every answer is counted and logged with its status, an unhandled error's 500 included."""

from __future__ import annotations

import logging

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from muster_auth.access import Access
from muster_http.app import create_app
from muster_runtime.service import ServiceRuntime
from muster_runtime.settings import ServiceSettings


def _client() -> TestClient:
    router = APIRouter()

    @router.get("/broken")
    async def broken() -> None:
        raise RuntimeError("a bug")

    settings = ServiceSettings(
        service_name="metrics", dev_mode=True, mongo_url="mongodb://127.0.0.1:1/"
    )
    runtime = ServiceRuntime(settings)
    app = create_app(runtime, access=Access(runtime), title="test", routers=[router])
    return TestClient(app, raise_server_exceptions=False)


def _served(route: str, status: str) -> float:
    value = REGISTRY.get_sample_value(
        "muster_http_requests_total", {"route": route, "method": "GET", "status": status}
    )
    return value or 0.0


def test_an_unhandled_error_is_counted_and_logged_as_a_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = _client()
    before = _served("/broken", "500")

    with caplog.at_level(logging.INFO):
        answer = client.get("/broken")

    assert answer.status_code == 500
    assert _served("/broken", "500") == before + 1
    logged = [r for r in caplog.records if r.getMessage() == "request"]
    assert [(r.__dict__["route"], r.__dict__["status"]) for r in logged] == [("/broken", 500)]
