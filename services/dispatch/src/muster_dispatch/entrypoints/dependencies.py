"""What dispatch's handlers depend on, as typed FastAPI dependencies: `bootstrap.build_app`
wires one `DispatchDesks` into the app, and a handler names what it needs (`book: Drives`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from muster_contracts.areas import AreaTree
from muster_dispatch.application.activities import ActivityBook
from muster_dispatch.application.activity_directory import ActivityDirectory
from muster_dispatch.application.area_tree import AreaTreeBook
from muster_dispatch.application.drives import DriveBook
from muster_dispatch.application.volunteer_pool import VolunteerPool
from muster_dispatch.domain.hours import HoursPolicy
from muster_runtime.wiring import wired


@dataclass(frozen=True)
class DispatchDesks:
    areas: AreaTree
    area_tree: AreaTreeBook
    pool: VolunteerPool
    drives: DriveBook
    activities: ActivityBook
    activity_directory: ActivityDirectory
    hours_policy: HoursPolicy
    volunteer_page_url: str


Desks = Annotated[DispatchDesks, Depends(wired(DispatchDesks))]


def _areas(desks: Desks) -> AreaTree:
    return desks.areas


def _area_tree(desks: Desks) -> AreaTreeBook:
    return desks.area_tree


def _pool(desks: Desks) -> VolunteerPool:
    return desks.pool


def _drives(desks: Desks) -> DriveBook:
    return desks.drives


def _activities(desks: Desks) -> ActivityBook:
    return desks.activities


def _activity_directory(desks: Desks) -> ActivityDirectory:
    return desks.activity_directory


def _hours_policy(desks: Desks) -> HoursPolicy:
    return desks.hours_policy


Areas = Annotated[AreaTree, Depends(_areas)]
AreaTreeEditor = Annotated[AreaTreeBook, Depends(_area_tree)]
Pool = Annotated[VolunteerPool, Depends(_pool)]
Drives = Annotated[DriveBook, Depends(_drives)]
Activities = Annotated[ActivityBook, Depends(_activities)]
Directory = Annotated[ActivityDirectory, Depends(_activity_directory)]
Policy = Annotated[HoursPolicy, Depends(_hours_policy)]
