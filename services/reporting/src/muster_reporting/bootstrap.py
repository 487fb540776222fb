"""Composition root of the reporting service."""

from __future__ import annotations

from fastapi import FastAPI

from muster_contracts.areas import AreaTree, load_area_tree
from muster_contracts.topology import event_topic
from muster_reporting.application.drive_funnel import DriveFunnel
from muster_reporting.application.service_rollup import ServiceRollup
from muster_reporting.application.volunteer_rollup import VolunteerRollup
from muster_reporting.entrypoints import dashboard, funnel, http, series
from muster_runtime.http import create_app
from muster_runtime.logs import configure_logging
from muster_runtime.mongo import Database, connect
from muster_runtime.projections import ConsumedEvent
from muster_runtime.rebuild import RebuildResult, rebuild
from muster_runtime.service import EventHandler, ServiceRuntime, consumer_group
from muster_runtime.settings import ServiceSettings

CONSUMES = ("volunteer", "dispatch")
# Every collection reporting derives from the log: what a rebuild drops and replays.
READ_MODELS = (
    "volunteers_by_area",
    "service_by_area",
    "activity_facts",
    "drive_funnel",
    "drive_funnel_facts",
)


class ReportingSettings(ServiceSettings):
    service_name: str = "reporting"
    http_port: int = 8003


def projections(
    db: Database, areas: AreaTree
) -> tuple[VolunteerRollup, ServiceRollup, DriveFunnel, list[EventHandler]]:
    """The read models and the handlers that apply consumed events to them, in order."""
    volunteers = VolunteerRollup(db["volunteers_by_area"], areas)
    service = ServiceRollup(db, areas)
    drive_funnel = DriveFunnel(db, areas)
    return volunteers, service, drive_funnel, [volunteers.apply, service.apply, drive_funnel.apply]


def build_app(settings: ReportingSettings | None = None) -> FastAPI:
    settings = settings or ReportingSettings()
    configure_logging(settings.service_name, settings.log_level, json=settings.log_json)
    areas = load_area_tree()
    runtime = ServiceRuntime(settings, consumes=CONSUMES)
    volunteers, service, drive_funnel, handlers = projections(runtime.db, areas)
    runtime.consume_with(*handlers)
    app = create_app(
        runtime,
        title="Muster reporting service",
        routers=[http.router, funnel.router, series.router],
    )
    dashboard.mount(app)
    app.state.areas = areas
    app.state.volunteer_rollup = volunteers
    app.state.service_rollup = service
    app.state.drive_funnel = drive_funnel
    return app


async def rebuild_read_models(
    settings: ReportingSettings, *, show_progress: bool = True
) -> RebuildResult:
    """Drop every reporting read model and replay the topics into fresh ones."""
    client = connect(settings.mongo_url, settings.mongo_max_pool)
    try:
        db = client[settings.database_name]
        volunteers, service, drive_funnel, handlers = projections(db, load_area_tree())

        async def on_events(events: list[ConsumedEvent]) -> None:
            for apply in handlers:
                await apply(events)

        # Every document is new in a rebuild: count in memory, write each once at the end.
        buffered = (volunteers.cells, service.cells, service.activities, drive_funnel)
        for models in buffered:
            models.buffer()

        async def write_counted() -> None:
            for models in buffered:
                await models.flush()

        return await rebuild(
            db,
            READ_MODELS,
            settings.kafka_bootstrap,
            [event_topic(settings.topic_prefix, c) for c in CONSUMES],
            consumer_group(settings),
            on_events,
            event_types=volunteers.event_types | service.event_types | drive_funnel.event_types,
            finish=write_counted,
            show_progress=show_progress,
        )
    finally:
        await client.close()
