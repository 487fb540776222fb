"""What reporting's handlers depend on, as typed FastAPI dependencies: `bootstrap.build_app`
wires one `ReportingDesks` into the app, and a handler names what it needs
(`rollup: Service`). The read models are those of the live read-model version: a switch
to a rebuilt version replaces `insights` (`bootstrap.build_app`'s `serve_from`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from muster_contracts.areas import AreaTree
from muster_reporting.application.drive_funnel import DriveFunnel
from muster_reporting.application.insights import Insights
from muster_reporting.application.service_rollup import ServiceRollup
from muster_reporting.application.volunteer_rollup import VolunteerRollup
from muster_runtime.volunteer_names import VolunteerNames
from muster_runtime.wiring import wired


@dataclass
class ReportingDesks:
    areas: AreaTree
    insights: Insights
    volunteer_names: VolunteerNames


Desks = Annotated[ReportingDesks, Depends(wired(ReportingDesks))]


def _areas(desks: Desks) -> AreaTree:
    return desks.areas


def _insights(desks: Desks) -> Insights:
    return desks.insights


def _volunteers(desks: Desks) -> VolunteerRollup:
    return desks.insights.volunteers


def _service(desks: Desks) -> ServiceRollup:
    return desks.insights.service


def _drive_funnel(desks: Desks) -> DriveFunnel:
    return desks.insights.drive_funnel


def _volunteer_names(desks: Desks) -> VolunteerNames:
    return desks.volunteer_names


Areas = Annotated[AreaTree, Depends(_areas)]
InsightsOf = Annotated[Insights, Depends(_insights)]
Volunteers = Annotated[VolunteerRollup, Depends(_volunteers)]
Service = Annotated[ServiceRollup, Depends(_service)]
Funnel = Annotated[DriveFunnel, Depends(_drive_funnel)]
Names = Annotated[VolunteerNames, Depends(_volunteer_names)]
