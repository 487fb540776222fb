"""Composition root of the volunteer service.

The volunteer service's read models (`READ_MODELS`: the drive board, the activity board
and service records, teams and the leaders each volunteer was told of, each volunteer's
activities) are projections of the events it consumes, kept in versions a rebuild
replaces while the service runs (`python -m muster_volunteer rebuild`). Everything else in
its database is its own write-side state and never rebuilt: the event store and its
outbox, sealed personal data and data keys, phone and identity claims, logins,
invitation codes and claim attempts, sign-ups, open attendances, the email outbox,
idempotency records, the reference areas admins added, dedupe bookkeeping.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Literal, Unpack

from fastapi import FastAPI
from pydantic import Field, SecretStr

from muster_auth.access import Access
from muster_auth.keys import KeyEncryptionKeys, KeyUnavailableError, LocalKeyFile
from muster_contracts.areas import AreaTree, load_area_tree
from muster_contracts.topology import CONSUMERS
from muster_http.app import create_app
from muster_http.wiring import wire
from muster_runtime.adapters.mongodb.live_read_models import VERSION_POLL_SECONDS, LiveReadModels
from muster_runtime.adapters.mongodb.online_rebuild import OnlineRebuildResult
from muster_runtime.adapters.mongodb.reference_areas import ReferenceAreas
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
from muster_runtime.service import ServiceRuntime
from muster_runtime.settings import ServiceSettings
from muster_volunteer.adapters.activity_timetable import StoredActivityTimetable
from muster_volunteer.adapters.logins import ClaimAttempts, InvitationCodes, LoginLinks
from muster_volunteer.adapters.open_attendances import StoredOpenAttendances
from muster_volunteer.adapters.personal_data import IdentityClaims, PersonalDataVault
from muster_volunteer.adapters.smtp import SmtpMailer
from muster_volunteer.adapters.team_book import StoredTeamBook
from muster_volunteer.application.attendance import (
    VIEW_CACHE_SECONDS,
    ActivityBoard,
    AttendanceDesk,
)
from muster_volunteer.application.email import (
    Courier,
    EmailAddresses,
    EmailOutbox,
    Mailer,
    MailError,
)
from muster_volunteer.application.hours_statement import HoursStatements
from muster_volunteer.application.logins import LoginDesk
from muster_volunteer.application.my_activities import MyActivities
from muster_volunteer.application.registration import VolunteerRegistry
from muster_volunteer.application.roster_import import RosterImport
from muster_volunteer.application.sign_ups import DriveBoard, SignUpDesk
from muster_volunteer.application.team_leaders import TeamLeaders
from muster_volunteer.domain.email import Email
from muster_volunteer.entrypoints import (
    attendance_http,
    email_http,
    http,
    logins_http,
    my_activities_http,
    rosters_http,
    sign_ups_http,
)
from muster_volunteer.entrypoints.dependencies import VolunteerDesks

CONTEXT = "volunteer"
# notify: its email requests, fulfilled here where the addresses are.
CONSUMES = CONSUMERS["volunteer"]
# Every collection the volunteer service derives from the log: what a rebuild writes in a
# new version.
READ_MODELS = (
    DriveBoard.COLLECTION,
    *ActivityBoard.COLLECTIONS,
    *StoredTeamBook.COLLECTIONS,
    MyActivities.COLLECTION,
    # Retired (the mark of the one-off fill of `my_activities` from the activity board):
    # a rebuild drops what an older version left.
    "projection_fills",
)
log = logging.getLogger(__name__)


class VolunteerSettings(ServiceSettings):
    service_name: str = CONTEXT
    http_port: int = 8001
    invitation_valid_hours: float = Field(
        default=168.0, gt=0, description="How long an invitation's claim code works (7 days)."
    )
    claim_attempts_per_hour: int = Field(
        default=10,
        ge=1,
        description="Claim codes one login may try an hour (`POST /me/claim`; then 429).",
    )
    kek_provider: Literal["file", "kmip"] = Field(
        default="file",
        description="Where the key-encryption keys that wrap each volunteer's data key live: "
        "`file` (a local key file, `kek_file`) or `kmip` (a KMIP server, `kmip_*`).",
    )
    kek_file: str = Field(
        default="",
        description="The local key file (JSON, mode 0600), outside the database; "
        "`python -m muster_volunteer create-key-file PATH` writes one.",
    )
    kmip_host: str = Field(default="", description="KMIP server host (`kek_provider=kmip`).")
    kmip_port: int = Field(default=5696, ge=1, le=65535, description="KMIP server port.")
    kmip_certificate: str = Field(
        default="", description="Client certificate (PEM) for the KMIP server's mutual TLS."
    )
    kmip_private_key: str = Field(default="", description="The client certificate's key (PEM).")
    kmip_ca: str = Field(
        default="", description="CA certificate (PEM) the KMIP server's is checked against."
    )
    kmip_key_name: str = Field(
        default="muster-volunteer-kek",
        description="KMIP Name of the key-encryption keys; the most recent one is current, "
        "and the first is created on the server if none exists.",
    )
    data_key_cache_seconds: float = Field(
        default=60,
        ge=0,
        description="How long an unwrapped data key stays in memory (0: not at all).",
    )
    check_in_radius_metres: float = Field(
        default=200.0, description="How far from an activity's coordinates a phone may check in."
    )
    statement_issuer: str = Field(
        default="路北区志愿服务联合会", description="The issuing unit printed on hours statements."
    )
    smtp_host: str = Field(
        default="", description="The SMTP server notifications are emailed through (empty: none)."
    )
    smtp_port: int = Field(default=587, ge=1, le=65535, description="The SMTP server's port.")
    smtp_sender: str = Field(
        default="Muster <noreply@muster.local>", description="The emails' From address."
    )
    smtp_username: str = Field(default="", description="SMTP login (empty: none).")
    smtp_password: SecretStr = Field(default=SecretStr(""), description="SMTP password.")
    smtp_start_tls: bool | None = Field(
        default=None, description="STARTTLS: true, false, or unset (when the server offers it)."
    )
    email_max_attempts: int = Field(
        default=5, ge=1, description="Tries of an email before it is recorded as failed."
    )
    email_first_retry_seconds: float = Field(
        default=5.0, gt=0, description="Wait before an email's first retry; it doubles."
    )

    def secret_problems(self) -> list[str]:
        return super().secret_problems() + self.key_encryption_problems()

    def key_encryption_problems(self) -> list[str]:
        """Missing key-encryption settings: refused in development mode too."""
        if self.kek_provider == "file" and not self.kek_file:
            return [
                "MUSTER_KEK_FILE is not set: the key file that wraps the volunteers' data keys "
                "(create one with `python -m muster_volunteer create-key-file PATH`) / "
                "未设置 MUSTER_KEK_FILE：用于包装志愿者数据密钥的密钥文件"
            ]
        if self.kek_provider == "kmip" and not (
            self.kmip_host and self.kmip_certificate and self.kmip_private_key and self.kmip_ca
        ):
            return [
                "MUSTER_KMIP_HOST, MUSTER_KMIP_CERTIFICATE, MUSTER_KMIP_PRIVATE_KEY and "
                "MUSTER_KMIP_CA are all needed with MUSTER_KEK_PROVIDER=kmip / "
                "使用 KMIP 时需设置服务器地址、客户端证书、私钥与 CA 证书"
            ]
        return []

    def refuse_insecure_secrets(self) -> None:
        super().refuse_insecure_secrets()
        problems = self.key_encryption_problems()
        if self.dev_mode and problems:  # outside development mode, reported above already
            raise SystemExit(f"{self.service_name}: refusing to start:\n  - {problems[0]}")


def key_encryption_keys(settings: VolunteerSettings) -> KeyEncryptionKeys:
    """The configured key-management adapter."""
    if settings.kek_provider == "kmip":
        from muster_auth.kmip_keys import KmipKeys

        return KmipKeys(
            settings.kmip_host,
            settings.kmip_port,
            certificate=settings.kmip_certificate,
            private_key=settings.kmip_private_key,
            ca=settings.kmip_ca,
            key_name=settings.kmip_key_name,
        )
    try:
        return LocalKeyFile(Path(settings.kek_file))
    except KeyUnavailableError as error:
        raise SystemExit(f"{settings.service_name}: refusing to start: {error}") from None


class NoMailServer(Mailer):
    async def send(self, to: str, email: Email, message_id: str) -> None:
        raise MailError("no SMTP server is configured (MUSTER_SMTP_HOST)", permanent=True)


def mailer_of(settings: VolunteerSettings) -> Mailer:
    if not settings.smtp_host:
        return NoMailServer()
    return SmtpMailer(
        settings.smtp_host,
        settings.smtp_port,
        settings.smtp_sender,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value(),
        start_tls=settings.smtp_start_tls,
    )


@dataclass(frozen=True)
class VolunteerReadModels:
    """The volunteer service's read models on one version's database."""

    board: DriveBoard
    activity_board: ActivityBoard
    team_leaders: TeamLeaders
    my_activities: MyActivities

    @property
    def handlers(self) -> Sequence[Stage]:
        return (
            self.board.apply,
            self.activity_board.apply,
            self.team_leaders.apply,
            self.my_activities.apply,
        )

    async def create_indexes(self) -> None:
        await self.my_activities.create_indexes()
        await self.team_leaders.create_indexes()

    def rebuilt(self) -> RebuiltReadModels:
        """The read models as a rebuild fills them (sign-ups are not among them): folded
        in memory but the teams, which are read back as they are applied."""
        buffered = (
            self.board.drives,
            self.activity_board.activities,
            self.activity_board.records,
            self.my_activities.documents,
        )
        return RebuiltReadModels(self.handlers, self.create_indexes, buffered)


def read_models_of(
    db: Database, areas: AreaTree, own: Database | None = None
) -> VolunteerReadModels:
    """The read models on `db`; sign-ups, which the drive board moves, in `own` (the
    service's database) if given."""
    sign_ups = (db if own is None else own)[DriveBoard.SIGN_UPS]
    return VolunteerReadModels(
        DriveBoard(
            StoredVersionedDocuments(db[DriveBoard.COLLECTION]),
            StoredVersionedDocuments(sign_ups),
            areas,
        ),
        activity_board(db),
        TeamLeaders(StoredTeamBook(db)),
        my_activities(db),
    )


def my_activities(db: Database) -> MyActivities:
    """The activities each volunteer is assigned to, on `db`."""
    mine = db[MyActivities.COLLECTION]
    return MyActivities(StoredVersionedDocuments(mine), StoredActivityTimetable(mine))


def activity_board(db: Database, view_seconds: float = VIEW_CACHE_SECONDS) -> ActivityBoard:
    """Dispatch's activities and the service records, on `db`."""
    activities, records = ActivityBoard.COLLECTIONS
    return ActivityBoard(
        StoredVersionedDocuments(db[activities]),
        StoredVersionedDocuments(db[records]),
        view_seconds,
    )


@dataclass(frozen=True)
class Volunteering:
    """The live version's read models, with what answers from them, and dispatch's
    decisions on sign-ups applied onto the service's own sign-ups."""

    read_models: VolunteerReadModels
    sign_ups: SignUpDesk
    hours_statements: HoursStatements
    attendance: AttendanceDesk

    @property
    def handlers(self) -> Sequence[Stage]:
        return (*self.read_models.handlers, self.read_models.board.apply_decisions)


def build_app(settings: VolunteerSettings | None = None) -> FastAPI:
    settings = settings or VolunteerSettings()
    configure_logging(settings.service_name, settings.log_level, json=settings.log_json)
    runtime = ServiceRuntime(settings, produces=CONTEXT, consumes=CONSUMES)
    store = runtime.store
    assert store is not None
    vault = PersonalDataVault(
        runtime.db, key_encryption_keys(settings), cache_seconds=settings.data_key_cache_seconds
    )
    areas = load_area_tree()
    db = runtime.db
    pepper = settings.pii_pepper.get_secret_value().encode()
    phones = IdentityClaims(db, pepper, "phone_claims")
    logins = LoginLinks(db)
    invitation_codes = InvitationCodes(db, pepper)
    id_numbers = IdentityClaims(db, pepper, "id_number_claims")
    open_attendances = StoredOpenAttendances(db)

    registry = VolunteerRegistry(store, vault, phones, areas, logins, id_numbers, invitation_codes)
    rosters = RosterImport(registry, phones, areas)
    login_desk = LoginDesk(
        store,
        logins,
        invitation_codes,
        ClaimAttempts(db, settings.claim_attempts_per_hour, window_seconds=3600),
        timedelta(hours=settings.invitation_valid_hours),
    )
    email_addresses = EmailAddresses(store, vault)

    def volunteering(version: Database) -> Volunteering:
        models = read_models_of(version, areas, own=db)
        return Volunteering(
            models,
            SignUpDesk(store, models.board),
            HoursStatements(models.activity_board, models.board, areas, settings.statement_issuer),
            AttendanceDesk(
                store, models.activity_board, open_attendances, settings.check_in_radius_metres
            ),
        )

    live = LiveReadModels(read_model_versions(runtime.client, settings), volunteering)

    # The tree first: the packaged file, then the areas admins added (dispatch's events).
    reference_areas = ReferenceAreas(db, areas)
    email_outbox = EmailOutbox(
        db,
        store,
        vault,
        mailer_of(settings),
        Courier(
            max_attempts=settings.email_max_attempts,
            first_retry=timedelta(seconds=settings.email_first_retry_seconds),
        ),
    )
    runtime.consume_with(reference_areas.apply, live.apply, email_outbox.apply)
    runtime.alongside(email_outbox.run, "email-courier")
    runtime.every(VERSION_POLL_SECONDS, live.refresh, "read-model-version")

    async def on_start() -> None:
        await reference_areas.load()
        await email_outbox.create_indexes()
        await (await live.follow()).read_models.create_indexes()
        # Data keys stored in clear by versions before envelope encryption get wrapped.
        migrated = await vault.rewrap(clear_only=True)
        if migrated.rewrapped:
            log.info(
                "data keys wrapped",
                extra={"rewrapped": migrated.rewrapped, "kek_id": migrated.key_id},
            )

    app = create_app(
        runtime,
        access=Access(runtime),
        title="Muster volunteer service",
        routers=[
            http.router,
            sign_ups_http.router,
            attendance_http.router,
            logins_http.router,
            rosters_http.router,
            email_http.router,
            my_activities_http.router,
        ],
        on_start=on_start,
        larger_bodies={"/rosters/": rosters_http.MAX_ROSTER_BYTES},
    )
    wire(
        app,
        VolunteerDesks(
            areas=areas,
            registry=registry,
            rosters=rosters,
            logins=login_desk,
            email_addresses=email_addresses,
            live=live,
        ),
    )
    return app


async def rebuild_read_models(
    settings: VolunteerSettings, **options: Unpack[RebuildOptions]
) -> OnlineRebuildResult:
    """Build the next version of the volunteer service's read models from the log beside
    the live one and switch to it, while the service may keep serving and consuming (with
    `dry_run`: say what would change instead)."""
    areas = load_area_tree()
    return await rebuild_service(
        settings, READ_MODELS, lambda db: read_models_of(db, areas).rebuilt(), CONSUMES, **options
    )
