"""What the volunteer service's handlers depend on, as typed FastAPI dependencies:
`bootstrap.build_app` wires one `VolunteerDesks` into the app, and a handler names what it
needs (`registry: Registry`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends

from muster_contracts.areas import AreaTree
from muster_http.wiring import part, wired
from muster_runtime.adapters.mongodb.live_read_models import LiveReadModels
from muster_volunteer.application.attendance import ActivityBoard, AttendanceDesk
from muster_volunteer.application.email import EmailAddresses
from muster_volunteer.application.hours_statement import HoursStatements
from muster_volunteer.application.logins import LoginDesk
from muster_volunteer.application.my_activities import MyActivities
from muster_volunteer.application.registration import VolunteerRegistry
from muster_volunteer.application.roster_import import RosterImport
from muster_volunteer.application.sign_ups import DriveBoard, SignUpDesk
from muster_volunteer.application.team_leaders import TeamLeaders


@dataclass(frozen=True)
class VolunteerDesks:
    areas: AreaTree
    registry: VolunteerRegistry
    rosters: RosterImport
    logins: LoginDesk
    email_addresses: EmailAddresses
    # The live version's read models and what answers from them (`bootstrap.Volunteering`),
    # read at each request: a rebuild's switch replaces `live.current`.
    live: LiveReadModels[Any]


desks_of = wired(VolunteerDesks)
Desks = Annotated[VolunteerDesks, Depends(desks_of)]


Areas = Annotated[AreaTree, Depends(part(VolunteerDesks, "areas"))]
Registry = Annotated[VolunteerRegistry, Depends(part(VolunteerDesks, "registry"))]
Rosters = Annotated[RosterImport, Depends(part(VolunteerDesks, "rosters"))]
Logins = Annotated[LoginDesk, Depends(part(VolunteerDesks, "logins"))]
Addresses = Annotated[EmailAddresses, Depends(part(VolunteerDesks, "email_addresses"))]
Drives = Annotated[DriveBoard, Depends(part(VolunteerDesks, "live.current.read_models.board"))]
SignUps = Annotated[SignUpDesk, Depends(part(VolunteerDesks, "live.current.sign_ups"))]
Activities = Annotated[
    ActivityBoard, Depends(part(VolunteerDesks, "live.current.read_models.activity_board"))
]
Leaders = Annotated[
    TeamLeaders, Depends(part(VolunteerDesks, "live.current.read_models.team_leaders"))
]
Mine = Annotated[
    MyActivities, Depends(part(VolunteerDesks, "live.current.read_models.my_activities"))
]
Statements = Annotated[
    HoursStatements, Depends(part(VolunteerDesks, "live.current.hours_statements"))
]
Attendance = Annotated[AttendanceDesk, Depends(part(VolunteerDesks, "live.current.attendance"))]
