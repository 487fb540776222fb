"""Composition root of the volunteer service."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from pydantic import Field, SecretStr

from muster_contracts.areas import load_area_tree
from muster_runtime.http import create_app
from muster_runtime.logs import configure_logging
from muster_runtime.reference_areas import ReferenceAreas
from muster_runtime.service import ServiceRuntime
from muster_runtime.settings import ServiceSettings
from muster_volunteer.adapters.logins import ClaimAttempts, InvitationCodes, LoginLinks
from muster_volunteer.adapters.personal_data import IdentityClaims, PersonalDataVault
from muster_volunteer.application.attendance import ActivityBoard, AttendanceDesk
from muster_volunteer.application.hours_statement import HoursStatements
from muster_volunteer.application.logins import LoginDesk
from muster_volunteer.application.registration import VolunteerRegistry
from muster_volunteer.application.sign_ups import DriveBoard, SignUpDesk
from muster_volunteer.entrypoints import attendance_http, http, logins_http, sign_ups_http

CONTEXT = "volunteer"


class VolunteerSettings(ServiceSettings):
    service_name: str = CONTEXT
    http_port: int = 8001
    pii_pepper: SecretStr = Field(
        default=SecretStr("muster-dev-pepper-change-me"),
        description=(
            "Keys the phone fingerprints and the hashes of invitation codes; rotating it "
            "means re-fingerprinting the claims (and open invitations stop working)."
        ),
    )
    invitation_valid_hours: float = Field(
        default=168.0, gt=0, description="How long an invitation's claim code works (7 days)."
    )
    claim_attempts_per_hour: int = Field(
        default=10,
        ge=1,
        description="Claim codes one login may try an hour (`POST /me/claim`; then 429).",
    )
    check_in_radius_metres: float = Field(
        default=200.0, description="How far from an activity's coordinates a phone may check in."
    )
    statement_issuer: str = Field(
        default="路北区志愿服务联合会", description="The issuing unit printed on hours statements."
    )


def build_app(settings: VolunteerSettings | None = None) -> FastAPI:
    settings = settings or VolunteerSettings()
    configure_logging(settings.service_name, settings.log_level, json=settings.log_json)
    runtime = ServiceRuntime(settings, produces=CONTEXT, consumes=("dispatch",))
    assert runtime.store is not None
    areas = load_area_tree()
    db = runtime.db
    pepper = settings.pii_pepper.get_secret_value().encode()
    phones = IdentityClaims(db, pepper, "phone_claims")
    logins = LoginLinks(db)
    invitation_codes = InvitationCodes(db, pepper)
    id_numbers = IdentityClaims(db, pepper, "id_number_claims")
    board = DriveBoard(db, areas)
    activity_board = ActivityBoard(db)

    # The tree first: the packaged file, then the areas admins added (dispatch's events).
    reference_areas = ReferenceAreas(db, areas)
    runtime.consume_with(reference_areas.apply, board.apply, activity_board.apply)
    app = create_app(
        runtime,
        title="Muster volunteer service",
        routers=[http.router, sign_ups_http.router, attendance_http.router, logins_http.router],
        on_start=reference_areas.load,
    )
    app.state.areas = areas
    app.state.registry = VolunteerRegistry(
        runtime.store, PersonalDataVault(db), phones, areas, logins, id_numbers, invitation_codes
    )
    app.state.logins = LoginDesk(
        runtime.store,
        logins,
        invitation_codes,
        ClaimAttempts(db, settings.claim_attempts_per_hour, window_seconds=3600),
        timedelta(hours=settings.invitation_valid_hours),
    )
    app.state.board = board
    app.state.sign_ups = SignUpDesk(runtime.store, board)
    app.state.activity_board = activity_board
    app.state.hours_statements = HoursStatements(
        activity_board, board, areas, settings.statement_issuer
    )
    app.state.attendance = AttendanceDesk(
        runtime.store, activity_board, db, settings.check_in_radius_metres
    )
    return app
