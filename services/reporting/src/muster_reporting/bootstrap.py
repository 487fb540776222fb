"""Composition root of the reporting service."""

from __future__ import annotations

import gc
from typing import Unpack
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from pydantic import Field, field_validator

from muster_auth.access import Access
from muster_contracts.areas import AreaTree, load_area_tree
from muster_contracts.stars import DEFAULT_STAR_THRESHOLDS_HOURS, StarThresholds
from muster_contracts.topology import CONSUMERS
from muster_http.app import create_app
from muster_http.wiring import wire
from muster_reporting.adapters.live_version import LiveInsights
from muster_reporting.adapters.read_models import (
    INSIGHT_READ_MODELS,
    DocumentReportingStore,
    RebuiltInsights,
)
from muster_reporting.application.drive_funnel import DriveFunnel
from muster_reporting.application.insights import Insights
from muster_reporting.application.service_rollup import ServiceRollup
from muster_reporting.application.volunteer_rollup import VolunteerRollup
from muster_reporting.entrypoints import areas_http, dashboard, funnel, http, insights_http, series
from muster_reporting.entrypoints.dependencies import ReportingDesks
from muster_reporting.entrypoints.exports import SPREADSHEETS
from muster_reporting.entrypoints.heavy_queries import HeavyQueries
from muster_runtime.adapters.mongodb.live_read_models import VERSION_POLL_SECONDS
from muster_runtime.adapters.mongodb.online_rebuild import OnlineRebuildResult
from muster_runtime.adapters.mongodb.profile import DocumentStoreOptions
from muster_runtime.adapters.mongodb.reference_areas import ReferenceAreas
from muster_runtime.adapters.mongodb.service_rebuild import (
    RebuildOptions,
    read_model_versions,
    rebuild_service,
)
from muster_runtime.consumer import Stage
from muster_runtime.logs import configure_logging
from muster_runtime.mongo import Database
from muster_runtime.service import ServiceRuntime
from muster_runtime.settings import ServiceSettings
from muster_runtime.volunteer_names import VolunteerNames

CONSUMES = CONSUMERS["reporting"]
# Every collection reporting derives from the log: what a rebuild drops and replays.
READ_MODELS = (
    "volunteers_by_area",
    "service_by_area",
    "activity_facts",
    "pending_activities",
    "drive_funnel",
    "drive_funnel_facts",
    "drive_funnel_buckets",
    *INSIGHT_READ_MODELS,
    # Retired (the per-event journals of as-of figures before minute buckets): a rebuild
    # drops what an older version left.
    "drive_funnel_journal",
    "service_by_area_journal",
    "volunteers_by_area_journal",
)


class ReportingSettings(ServiceSettings):
    service_name: str = "reporting"
    http_port: int = 8003
    consumer_batch_size: int = Field(
        default=2000,
        ge=1,
        description="Most events reporting applies per batch: a batch writes each counter "
        "cell it touches once, so larger batches catch up faster.",
    )
    as_of_write_seconds: float = Field(
        default=1.0,
        gt=0,
        description="How often the as-of history journal is written into its buckets: the "
        "batches of that time share their busy buckets (figures as of an instant include "
        "what is not written yet).",
    )
    timezone: str = Field(
        default="Asia/Shanghai",
        description="Time zone (IANA name) of report periods: days, ISO weeks, months, years.",
    )
    star_thresholds_hours: StarThresholds = Field(
        default=DEFAULT_STAR_THRESHOLDS_HOURS,
        description="Cumulative approved hours for one to five stars (JSON list).",
    )
    heavy_report_limit: int = Field(
        default=4,
        ge=1,
        le=1000,
        description="Heavy report queries (spreadsheet exports, series of more than 31 "
        "points, figures `as_of`) one process answers at once; the next is refused with 503 "
        "`reports_busy` and `Retry-After`.",
    )
    spreadsheet_processes: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Worker processes that build spreadsheet exports (their CPU kept off the "
        "service's event loop).",
    )
    volunteer_service_url: str = Field(
        default="http://127.0.0.1:8001",
        description="Where reporting and notify ask for display names (with the caller's token).",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        ZoneInfo(value)  # raises for an unknown zone
        return value


def insights_of(db: Database, areas: AreaTree, settings: ReportingSettings) -> Insights:
    options = DocumentStoreOptions.of(settings.store_profile)
    store = DocumentReportingStore(db, pack=options.packed_counters)
    return Insights(
        areas,
        settings.timezone,
        settings.star_thresholds_hours,
        store,
    )


def projections(
    db: Database, areas: AreaTree, settings: ReportingSettings | None = None
) -> tuple[VolunteerRollup, ServiceRollup, DriveFunnel, list[Stage]]:
    """The read models and the stages of handlers that apply consumed events to them, in
    order."""
    insights = insights_of(db, areas, settings or ReportingSettings())
    return insights.volunteers, insights.service, insights.drive_funnel, insights.handlers


def build_app(settings: ReportingSettings | None = None) -> FastAPI:
    settings = settings or ReportingSettings()
    configure_logging(settings.service_name, settings.log_level, json=settings.log_json)
    areas = load_area_tree()
    runtime = ServiceRuntime(settings, consumes=CONSUMES)
    live = LiveInsights(
        read_model_versions(runtime.client, settings), lambda db: insights_of(db, areas, settings)
    )
    # Rollups follow an area's id prefixes, so they never wait for its AreaAdded; the tree
    # (the packaged file, then the areas admins added) gives names and children to reports.
    reference_areas = ReferenceAreas(runtime.db, areas)
    runtime.consume_with(reference_areas.apply, live.apply)
    runtime.alongside(lambda: live.write_history(settings.as_of_write_seconds), "as-of-history")
    runtime.every(
        settings.metrics_poll_seconds,
        lambda: live.current.history_writer.measure_backlog(),
        "as-of-journal",
    )
    runtime.every(VERSION_POLL_SECONDS, live.refresh, "read-model-version")
    SPREADSHEETS.processes = settings.spreadsheet_processes
    runtime.alongside(SPREADSHEETS.serve, "spreadsheet-workers")

    async def on_start() -> None:
        await reference_areas.load()
        await (await live.follow()).create_indexes()
        # What start-up made (modules, the area tree, clients) lives as long as the process:
        # kept out of the collector's full passes, which otherwise walk it all (about 50 ms
        # on a busy 2-core machine, in one turn of the event loop) while queries allocate.
        gc.freeze()

    app = create_app(
        runtime,
        access=Access(runtime),
        title="Muster reporting service",
        routers=[
            http.router,
            areas_http.router,
            funnel.router,
            series.router,
            insights_http.router,
        ],
        on_start=on_start,
    )
    dashboard.mount(app)
    wire(
        app,
        ReportingDesks(
            areas,
            live,
            VolunteerNames(settings.volunteer_service_url),
            HeavyQueries(settings.heavy_report_limit),
        ),
    )
    return app


async def rebuild_read_models(
    settings: ReportingSettings, **options: Unpack[RebuildOptions]
) -> OnlineRebuildResult:
    """Build the next version of every reporting read model from the log beside the live
    one and switch to it, while the service may keep serving and consuming (with
    `dry_run`: say what would change instead)."""
    areas = load_area_tree()
    return await rebuild_service(
        settings,
        READ_MODELS,
        lambda db: RebuiltInsights(insights_of(db, areas, settings)),
        CONSUMES,
        **options,
    )
