"""Composition root of the reporting service."""

from __future__ import annotations

from fastapi import FastAPI

from muster_contracts.areas import load_area_tree
from muster_reporting.application.service_rollup import ServiceRollup
from muster_reporting.application.volunteer_rollup import VolunteerRollup
from muster_reporting.entrypoints import http
from muster_runtime.http import create_app
from muster_runtime.logs import configure_logging
from muster_runtime.projections import ConsumedEvent
from muster_runtime.service import ServiceRuntime
from muster_runtime.settings import ServiceSettings

CONSUMES = ("volunteer", "dispatch")


class ReportingSettings(ServiceSettings):
    service_name: str = "reporting"
    http_port: int = 8003


def build_app(settings: ReportingSettings | None = None) -> FastAPI:
    settings = settings or ReportingSettings()
    configure_logging(settings.service_name, settings.log_level, json=settings.log_json)
    areas = load_area_tree()
    runtime = ServiceRuntime(settings, consumes=CONSUMES)
    rollup = VolunteerRollup(runtime.db["volunteers_by_area"], areas)
    service = ServiceRollup(runtime.db, areas)

    async def on_events(events: list[ConsumedEvent]) -> None:
        await rollup.apply(events)
        await service.apply(events)

    runtime.consume_with(on_events)
    app = create_app(runtime, title="Muster reporting service", routers=[http.router])
    app.state.areas = areas
    app.state.volunteer_rollup = rollup
    app.state.service_rollup = service
    return app
