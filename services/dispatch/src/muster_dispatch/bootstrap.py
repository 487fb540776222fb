"""Composition root of the dispatch service."""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI
from pydantic import Field, field_validator

from muster_contracts.areas import load_area_tree
from muster_contracts.checkin import page_url_problem
from muster_dispatch.adapters.attendance_log import AttendanceLog
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
from muster_runtime.http import create_app
from muster_runtime.logs import configure_logging
from muster_runtime.service import ServiceRuntime
from muster_runtime.settings import ServiceSettings

log = logging.getLogger(__name__)

CONTEXT = "dispatch"
# Its own events too: approvals and corrections are settled again from them (`HoursSettlement`).
CONSUMES = ("volunteer", "dispatch")


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


def build_app(settings: DispatchSettings | None = None) -> FastAPI:
    settings = settings or DispatchSettings()
    configure_logging(settings.service_name, settings.log_level, json=settings.log_json)
    areas = load_area_tree()
    runtime = ServiceRuntime(settings, produces=CONTEXT, consumes=CONSUMES)
    assert runtime.store is not None
    store = runtime.store
    pool = VolunteerPool(runtime.db["volunteer_pool"], areas)
    directory = ActivityDirectory(runtime.db["activity_directory"], areas)
    drive_directory = DriveDirectory(runtime.db["drive_directory"], areas)
    drives = DriveBook(runtime.store, areas)
    desk = SignUpDesk(drives, pool)

    attendance = AttendanceLog(runtime.db)
    days = ServiceDays(runtime.store, settings.hours_policy)
    activities = ActivityBook(runtime.store, attendance, days, areas)

    # The pool first: a sign-up in the same batch as the registration needs the profile.
    runtime.consume_with(
        pool.apply,
        desk.apply,
        attendance.apply,
        directory.apply,
        drive_directory.apply,
        HoursSettlement(activities).apply,
    )

    async def sweep() -> None:
        await activities.sweep_never_checked_out(settings.hours_policy)

    runtime.every(settings.sweep_seconds, sweep, "never-checked-out-sweep")

    async def fill_drive_directory() -> None:
        # Drives launched before the directory existed are in the store, behind the
        # consumer's offsets: read once from there, alongside (a district's store is large).
        while True:
            try:
                read = await drive_directory.fill_once(store.read_all(), "drive_directory")
            except Exception:
                log.exception("the drive directory could not be filled; trying again")
                await asyncio.sleep(30)
                continue
            if read:
                log.info("drive directory filled from the store", extra={"events": read})
            return

    runtime.alongside(fill_drive_directory, "drive-directory-fill")
    # The packaged tree plus the admins' additions; other replicas' additions every few seconds.
    area_tree = AreaTreeBook(runtime.store, areas)
    runtime.every(AREA_TREE_REFRESH_SECONDS, area_tree.catch_up, "area-tree-refresh")

    async def on_start() -> None:
        await area_tree.catch_up()
        await pool.create_indexes()
        await directory.create_indexes()
        await drive_directory.create_indexes()
        await attendance.migrate_legacy()

    app = create_app(
        runtime,
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
    app.state.areas = areas
    app.state.area_tree = area_tree
    app.state.pool = pool
    app.state.drives = drives
    app.state.activities = activities
    app.state.activity_directory = directory
    app.state.drive_directory = drive_directory
    app.state.hours_policy = settings.hours_policy
    app.state.volunteer_page_url = settings.volunteer_page_url
    return app
