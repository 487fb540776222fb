"""What reporting's handlers depend on, as typed FastAPI dependencies: `bootstrap.build_app`
wires one `ReportingDesks` into the app, and a handler names what it needs
(`rollup: Service`). The read models are those of the live read-model version: a switch
to a rebuilt version replaces `live.current`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from muster_contracts.areas import AreaTree
from muster_http.wiring import part, wired
from muster_reporting.adapters.live_version import LiveInsights
from muster_reporting.application.drive_funnel import DriveFunnel
from muster_reporting.application.insights import Insights
from muster_reporting.application.service_rollup import ServiceRollup
from muster_reporting.application.volunteer_rollup import VolunteerRollup
from muster_reporting.entrypoints.heavy_queries import HeavyQueries
from muster_runtime.volunteer_names import VolunteerNames


@dataclass(frozen=True)
class ReportingDesks:
    areas: AreaTree
    # The live version's read models, read at each request: a rebuild's switch replaces
    # `live.current`.
    live: LiveInsights
    volunteer_names: VolunteerNames
    heavy_queries: HeavyQueries


Desks = Annotated[ReportingDesks, Depends(wired(ReportingDesks))]

Areas = Annotated[AreaTree, Depends(part(ReportingDesks, "areas"))]
InsightsOf = Annotated[Insights, Depends(part(ReportingDesks, "live.current"))]
Volunteers = Annotated[VolunteerRollup, Depends(part(ReportingDesks, "live.current.volunteers"))]
Service = Annotated[ServiceRollup, Depends(part(ReportingDesks, "live.current.service"))]
Funnel = Annotated[DriveFunnel, Depends(part(ReportingDesks, "live.current.drive_funnel"))]
Names = Annotated[VolunteerNames, Depends(part(ReportingDesks, "volunteer_names"))]
Heavy = Annotated[HeavyQueries, Depends(part(ReportingDesks, "heavy_queries"))]
