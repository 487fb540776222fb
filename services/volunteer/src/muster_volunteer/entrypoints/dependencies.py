"""What the volunteer service's handlers depend on, as typed FastAPI dependencies:
`bootstrap.build_app` wires one `VolunteerDesks` into the app, and a handler names what it
needs (`registry: Registry`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from muster_contracts.areas import AreaTree
from muster_runtime.wiring import wired
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
    board: DriveBoard
    sign_ups: SignUpDesk
    activity_board: ActivityBoard
    team_leaders: TeamLeaders
    my_activities: MyActivities
    hours_statements: HoursStatements
    attendance: AttendanceDesk


desks_of = wired(VolunteerDesks)
Desks = Annotated[VolunteerDesks, Depends(desks_of)]


def _areas(desks: Desks) -> AreaTree:
    return desks.areas


def _registry(desks: Desks) -> VolunteerRegistry:
    return desks.registry


def _rosters(desks: Desks) -> RosterImport:
    return desks.rosters


def _logins(desks: Desks) -> LoginDesk:
    return desks.logins


def _email_addresses(desks: Desks) -> EmailAddresses:
    return desks.email_addresses


def _board(desks: Desks) -> DriveBoard:
    return desks.board


def _sign_ups(desks: Desks) -> SignUpDesk:
    return desks.sign_ups


def _activity_board(desks: Desks) -> ActivityBoard:
    return desks.activity_board


def _team_leaders(desks: Desks) -> TeamLeaders:
    return desks.team_leaders


def _my_activities(desks: Desks) -> MyActivities:
    return desks.my_activities


def _hours_statements(desks: Desks) -> HoursStatements:
    return desks.hours_statements


def _attendance(desks: Desks) -> AttendanceDesk:
    return desks.attendance


Areas = Annotated[AreaTree, Depends(_areas)]
Registry = Annotated[VolunteerRegistry, Depends(_registry)]
Rosters = Annotated[RosterImport, Depends(_rosters)]
Logins = Annotated[LoginDesk, Depends(_logins)]
Addresses = Annotated[EmailAddresses, Depends(_email_addresses)]
Drives = Annotated[DriveBoard, Depends(_board)]
SignUps = Annotated[SignUpDesk, Depends(_sign_ups)]
Activities = Annotated[ActivityBoard, Depends(_activity_board)]
Leaders = Annotated[TeamLeaders, Depends(_team_leaders)]
Mine = Annotated[MyActivities, Depends(_my_activities)]
Statements = Annotated[HoursStatements, Depends(_hours_statements)]
Attendance = Annotated[AttendanceDesk, Depends(_attendance)]
