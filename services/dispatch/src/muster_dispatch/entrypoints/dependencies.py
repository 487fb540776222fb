"""What dispatch's handlers depend on, as typed FastAPI dependencies: `bootstrap.build_app`
wires one `DispatchDesks` into the app, and a handler names what it needs (`book: Drives`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends

from muster_contracts.areas import AreaTree
from muster_dispatch.application.activities import ActivityBook
from muster_dispatch.application.activity_directory import ActivityDirectory
from muster_dispatch.application.area_tree import AreaTreeBook
from muster_dispatch.application.drive_directory import DriveDirectory
from muster_dispatch.application.drives import DriveBook
from muster_dispatch.application.volunteer_pool import VolunteerPool
from muster_dispatch.domain.hours import HoursPolicy
from muster_http.wiring import part, wired
from muster_runtime.adapters.mongodb.live_read_models import LiveReadModels


@dataclass(frozen=True)
class DispatchDesks:
    areas: AreaTree
    area_tree: AreaTreeBook
    drives: DriveBook
    hours_policy: HoursPolicy
    volunteer_page_url: str
    # The live version's read models and what decides on them (`bootstrap.Dispatching`),
    # read at each request: a rebuild's switch replaces `live.current`.
    live: LiveReadModels[Any]


Desks = Annotated[DispatchDesks, Depends(wired(DispatchDesks))]

Areas = Annotated[AreaTree, Depends(part(DispatchDesks, "areas"))]
AreaTreeEditor = Annotated[AreaTreeBook, Depends(part(DispatchDesks, "area_tree"))]
Pool = Annotated[VolunteerPool, Depends(part(DispatchDesks, "live.current.read_models.pool"))]
Drives = Annotated[DriveBook, Depends(part(DispatchDesks, "drives"))]
Activities = Annotated[ActivityBook, Depends(part(DispatchDesks, "live.current.activities"))]
Directory = Annotated[
    ActivityDirectory, Depends(part(DispatchDesks, "live.current.read_models.directory"))
]
ListedDrives = Annotated[
    DriveDirectory, Depends(part(DispatchDesks, "live.current.read_models.drive_directory"))
]
Policy = Annotated[HoursPolicy, Depends(part(DispatchDesks, "hours_policy"))]
