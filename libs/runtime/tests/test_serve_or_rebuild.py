"""A service's command line: it serves by default, and `rebuild` runs the service's rebuild
with its settings and the options given, serving nothing."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from muster_runtime.adapters.mongodb.online_rebuild import OnlineRebuildResult
from muster_runtime.adapters.mongodb.service_rebuild import Rebuild, serve_or_rebuild
from muster_runtime.settings import ServiceSettings


class Calls:
    def __init__(self) -> None:
        self.built: list[ServiceSettings] = []
        self.served: list[tuple[FastAPI, str, int]] = []
        self.rebuilt: list[tuple[ServiceSettings, dict[str, Any]]] = []

    def build_app(self, settings: ServiceSettings) -> FastAPI:
        self.built.append(settings)
        return FastAPI()

    def rebuild(self, settings: ServiceSettings) -> Rebuild:
        async def rebuilding(**options: Any) -> OnlineRebuildResult:
            self.rebuilt.append((settings, options))
            return OnlineRebuildResult(
                version=2, events=10, caught_up=0, seconds=1.0, write_seconds=0.5
            )

        return rebuilding

    def serve(self, app: FastAPI, host: str, port: int) -> None:
        self.served.append((app, host, port))


@pytest.fixture
def calls() -> Calls:
    return Calls()


def run(calls: Calls, argv: list[str], settings: ServiceSettings) -> None:
    serve_or_rebuild(
        "muster-x", None, lambda: settings, calls.build_app, calls.serve, calls.rebuild, argv
    )


def test_a_service_serves_its_app_on_its_port_by_default(calls: Calls) -> None:
    settings = ServiceSettings(service_name="x", http_port=18123)

    run(calls, [], settings)

    assert calls.built == [settings]
    assert [(host, port) for _, host, port in calls.served] == [(settings.http_host, 18123)]
    assert calls.rebuilt == []


def test_rebuild_runs_the_services_rebuild_with_its_options_and_serves_nothing(
    calls: Calls, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = ServiceSettings(service_name="x")

    run(calls, ["rebuild", "--dry-run", "--no-progress"], settings)

    [(rebuilt_with, options)] = calls.rebuilt
    assert rebuilt_with is settings
    assert (options["dry_run"], options["show_progress"]) == (True, False)
    assert calls.built == calls.served == []
    assert "replayed 10 events" in capsys.readouterr().out
