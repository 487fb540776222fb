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
from muster_reporting.entrypoints.heavy_queries import HeavyQueries
from muster_runtime.volunteer_names import VolunteerNames
from muster_runtime.wiring import part, wired


@dataclass
class ReportingDesks:
    areas: AreaTree
    insights: Insights
    volunteer_names: VolunteerNames
    heavy_queries: HeavyQueries


Desks = Annotated[ReportingDesks, Depends(wired(ReportingDesks))]

Areas = Annotated[AreaTree, Depends(part(ReportingDesks, "areas"))]
InsightsOf = Annotated[Insights, Depends(part(ReportingDesks, "insights"))]
Volunteers = Annotated[VolunteerRollup, Depends(part(ReportingDesks, "insights.volunteers"))]
Service = Annotated[ServiceRollup, Depends(part(ReportingDesks, "insights.service"))]
Funnel = Annotated[DriveFunnel, Depends(part(ReportingDesks, "insights.drive_funnel"))]
Names = Annotated[VolunteerNames, Depends(part(ReportingDesks, "volunteer_names"))]
Heavy = Annotated[HeavyQueries, Depends(part(ReportingDesks, "heavy_queries"))]
