"""Composition root of the dispatch service.

Dispatch's read models (`READ_MODELS`: the volunteer pool, the activity and drive
directories, the attendance log) are projections of the events it consumes, kept in versions a rebuild
replaces while the service runs (`python -m muster_dispatch rebuild`). Everything else in
its database is its own write-side state and never rebuilt: the event store and its
outbox, drives, activities, service days and the area tree (all event-sourced from the
store), idempotency records, dead-letter and dedupe bookkeeping.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Unpack

from fastapi import FastAPI
from pydantic import Field, field_validator

from muster_auth.access import Access
from muster_contracts.areas import AreaTree, load_area_tree
from muster_contracts.checkin import page_url_problem
from muster_contracts.topology import CONSUMERS
from muster_dispatch.adapters.attendance_log import AttendanceLog
from muster_dispatch.adapters.directory_pages import StoredActivityPages, StoredDrivePages
from muster_dispatch.application.activities import ActivityBook, HoursSettlement
from muster_dispatch.application.activity_directory import ActivityDirectory
from muster_dispatch.application.area_tree import AREA_TREE_REFRESH_SECONDS, AreaTreeBook
from muster_dispatch.application.drive_directory import DriveDirectory
from muster_dispatch.application.drives import DriveBook, SignUpDesk
from muster_dispatch.application.service_days import ServiceDays
from muster_dispatch.application.volunteer_pool import VolunteerPool
from muster_dispatch.domain.hours import HoursPolicy
from muster_dispatch.entrypoints import (
    activities_http,
    activity_directory_http,
    activity_series_http,
    areas_http,
    drive_directory_http,
    drives_http,
    http,
)
from muster_dispatch.entrypoints.dependencies import DispatchDesks
from muster_http.app import create_app
from muster_http.wiring import wire
from muster_runtime.adapters.mongodb.live_read_models import VERSION_POLL_SECONDS, LiveReadModels
from muster_runtime.adapters.mongodb.online_rebuild import OnlineRebuildResult
from muster_runtime.adapters.mongodb.service_rebuild import (
    RebuildOptions,
    RebuiltReadModels,
    read_model_versions,
    rebuild_service,
)
from muster_runtime.adapters.mongodb.versioned_documents import StoredVersionedDocuments
from muster_runtime.consumer import Stage
from muster_runtime.logs import configure_logging
from muster_runtime.mongo import Database
from muster_runtime.ports.event_store import EventStore
from muster_runtime.service import ServiceRuntime
from muster_runtime.settings import ServiceSettings

CONTEXT = "dispatch"
# Its own events too: approvals and corrections are settled again from them (`HoursSettlement`).
CONSUMES = CONSUMERS["dispatch"]
# Every collection dispatch derives from the log: what a rebuild writes in a new version.
ACTIVITY_DIRECTORY, DRIVE_DIRECTORY = "activity_directory", "drive_directory"
READ_MODELS = (
    VolunteerPool.COLLECTION,
    ACTIVITY_DIRECTORY,
    DRIVE_DIRECTORY,
    AttendanceLog.COLLECTION,
    # Retired (the attendance log's layout of one document per activity and volunteer;
    # hours counted per volunteer before service days; the mark of a one-off fill of the
    # drive directory from the store): a rebuild drops what an older version left.
    "attendance_log",
    "hour_ledgers",
    "projection_fills",
)


class DispatchSettings(ServiceSettings):
    service_name: str = CONTEXT
    http_port: int = 8002
    hours_policy: HoursPolicy = Field(
        default=HoursPolicy(),
        description="Rounding, daily cap, time zone, never-checked-out rule and grace, star thresholds (JSON).",
    )
    volunteer_page_url: str = Field(
        default="http://127.0.0.1:8005",
        description="The volunteer page's address (`https://`; plain `http://` only on this "
        "machine): the check-in QR code links to `<it>/check-in/<activity>?code=…`.",
    )
    sweep_seconds: float = Field(
        default=60.0,
        description="How often open attendances are checked against the never-checked-out rule.",
    )

    @field_validator("volunteer_page_url")
    @classmethod
    def _phones_can_open_it(cls, value: str) -> str:
        problem = page_url_problem(value)
        if problem:
            raise ValueError(problem)
        return value


@dataclass(frozen=True)
class DispatchReadModels:
    """Dispatch's read models on one version's database."""

    pool: VolunteerPool
    directory: ActivityDirectory
    drive_directory: DriveDirectory
    attendance: AttendanceLog

    @property
    def handlers(self) -> Sequence[Stage]:
        return (
            self.pool.apply,
            self.attendance.apply,
            self.directory.apply,
            self.drive_directory.apply,
        )

    async def create_indexes(self) -> None:
        await self.pool.create_indexes()
        await self.directory.create_indexes()
        await self.drive_directory.create_indexes()

    def rebuilt(self) -> RebuiltReadModels:
        """The read models as a rebuild fills them: the same handlers, folded in memory,
        nothing decided."""
        buffered = (
            self.pool.documents,
            self.directory.documents,
            self.drive_directory.documents,
            self.attendance,
        )
        return RebuiltReadModels(self.handlers, self.create_indexes, buffered)


def read_models_of(db: Database, areas: AreaTree) -> DispatchReadModels:
    return DispatchReadModels(
        VolunteerPool(StoredVersionedDocuments(db[VolunteerPool.COLLECTION]), areas),
        ActivityDirectory(
            StoredVersionedDocuments(db[ACTIVITY_DIRECTORY]),
            StoredActivityPages(db[ACTIVITY_DIRECTORY]),
            areas,
        ),
        DriveDirectory(
            StoredVersionedDocuments(db[DRIVE_DIRECTORY]),
            StoredDrivePages(db[DRIVE_DIRECTORY]),
            areas,
        ),
        AttendanceLog(db),
    )


@dataclass(frozen=True)
class Dispatching:
    """The live version's read models with what decides on them: sign-ups decided against
    the pool, activities against the attendance log."""

    read_models: DispatchReadModels
    desk: SignUpDesk
    activities: ActivityBook
    settlement: HoursSettlement

    @property
    def handlers(self) -> Sequence[Stage]:
        # The pool first: a sign-up in the same batch as the registration needs the profile.
        models = self.read_models
        return (
            models.pool.apply,
            self.desk.apply,
            models.attendance.apply,
            models.directory.apply,
            models.drive_directory.apply,
            self.settlement.apply,
        )


def dispatching(
    db: Database, store: EventStore, drives: DriveBook, settings: DispatchSettings
) -> Dispatching:
    areas = drives.areas
    models = read_models_of(db, areas)
    days = ServiceDays(store, settings.hours_policy)
    activities = ActivityBook(store, models.attendance, days, areas)
    return Dispatching(
        models, SignUpDesk(drives, models.pool), activities, HoursSettlement(activities)
    )


def build_app(settings: DispatchSettings | None = None) -> FastAPI:
    settings = settings or DispatchSettings()
    configure_logging(settings.service_name, settings.log_level, json=settings.log_json)
    areas = load_area_tree()
    runtime = ServiceRuntime(settings, produces=CONTEXT, consumes=CONSUMES)
    store = runtime.store
    assert store is not None
    drives = DriveBook(store, areas)
    live = LiveReadModels(
        read_model_versions(runtime.client, settings),
        lambda db: dispatching(db, store, drives, settings),
    )
    runtime.consume_with(live.apply)
    runtime.every(VERSION_POLL_SECONDS, live.refresh, "read-model-version")

    async def sweep() -> None:
        await live.current.activities.sweep_never_checked_out(settings.hours_policy)

    runtime.every(settings.sweep_seconds, sweep, "never-checked-out-sweep")

    # The packaged tree plus the admins' additions; other replicas' additions every few seconds.
    area_tree = AreaTreeBook(store, areas)
    runtime.every(AREA_TREE_REFRESH_SECONDS, area_tree.catch_up, "area-tree-refresh")

    async def on_start() -> None:
        await area_tree.catch_up()
        await (await live.follow()).read_models.create_indexes()

    app = create_app(
        runtime,
        access=Access(runtime),
        title="Muster dispatch service",
        routers=[
            http.router,
            drive_directory_http.router,
            drives_http.router,
            activities_http.router,
            activity_directory_http.router,
            activity_series_http.router,
            areas_http.router,
        ],
        on_start=on_start,
    )
    wire(
        app,
        DispatchDesks(
            areas=areas,
            area_tree=area_tree,
            drives=drives,
            hours_policy=settings.hours_policy,
            volunteer_page_url=settings.volunteer_page_url,
            live=live,
        ),
    )
    return app


async def rebuild_read_models(
    settings: DispatchSettings, **options: Unpack[RebuildOptions]
) -> OnlineRebuildResult:
    """Build the next version of dispatch's read models from the log beside the live one
    and switch to it, while the service may keep serving and consuming (with `dry_run`:
    say what would change instead). Nothing is decided: sign-ups and hours are not."""
    areas = load_area_tree()
    return await rebuild_service(
        settings, READ_MODELS, lambda db: read_models_of(db, areas).rebuilt(), CONSUMES, **options
    )
