"""Volunteers' side of recruitment drives: the board of open drives (a projection of
dispatch's events), sign-ups and withdrawals, and the decisions as they come back."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

from muster_contracts.areas import AreaTree
from muster_contracts.eligibility import check_eligibility, fits_role
from muster_contracts.events import VolunteerRegistered, decode_payload
from muster_contracts.events.drives import (
    SIGNUP_STREAM,
    DriveAmended,
    DriveClosed,
    DriveLaunched,
    Role,
    SignUpAccepted,
    SignUpDeclined,
    SignUpPromoted,
    SignUpSubmitted,
    SignUpWaitlisted,
    SignUpWithdrawalRecorded,
    SignUpWithdrawn,
)
from muster_runtime.errors import ConflictError, NotFoundError, RuleViolationError
from muster_runtime.ports.event_store import CommandContext, ConcurrencyError, EventStore
from muster_runtime.ports.versioned_documents import Document, VersionedDocuments
from muster_runtime.projections import ConsumedEvent
from muster_runtime.tracing import traced_command

# What each dispatch decision means for the volunteer's view of the sign-up.
STATUS_OF = {
    SignUpAccepted.event_type: "accepted",
    SignUpWaitlisted.event_type: "waitlisted",
    SignUpDeclined.event_type: "declined",
    SignUpPromoted.event_type: "accepted",
    SignUpWithdrawalRecorded.event_type: "withdrawn",
}


def signup_stream(sign_up_id: str) -> str:
    return f"signup-{sign_up_id}"


class DriveBoard:
    """Open drives (a read model of dispatch's drive events, `drive_board`), and the state
    of every sign-up (`sign_ups`: written when a volunteer signs up, then moved by
    dispatch's decisions; the service's own record, which no rebuild replaces)."""

    COLLECTION = "drive_board"
    SIGN_UPS = "sign_ups"

    def __init__(
        self, drives: VersionedDocuments, sign_ups: VersionedDocuments, areas: AreaTree
    ) -> None:
        """`drives` are in a version of the read models, `sign_ups` in the service's own
        database."""
        self.drives = drives
        self.sign_ups = sign_ups
        self._areas = areas

    async def apply(self, events: list[ConsumedEvent]) -> None:
        """Drives as dispatch launches, amends and closes them."""
        for consumed in events:
            envelope = consumed.envelope
            if envelope.type not in (
                DriveLaunched.event_type,
                DriveAmended.event_type,
                DriveClosed.event_type,
            ):
                continue
            event = decode_payload(envelope.type, envelope.schema_version, envelope.payload)
            if isinstance(event, DriveLaunched):
                update: dict[str, Any] = {"$set": event.model_dump(mode="json") | {"closed": False}}
            elif isinstance(event, DriveAmended):
                changes = event.model_dump(
                    mode="json", exclude_none=True, exclude={"headcounts", "drive_id"}
                )
                changes |= {f"headcounts.{h.role_id}": h.headcount for h in event.headcounts}
                update = {"$set": changes}
            else:
                assert isinstance(event, DriveClosed)
                update = {"$set": {"closed": True}}
            await self.drives.apply(
                event.drive_id,
                envelope.stream_version,
                update,
                create=isinstance(event, DriveLaunched),
            )

    async def apply_decisions(self, events: list[ConsumedEvent]) -> None:
        """Dispatch's decisions on sign-ups, onto the volunteers' sign-ups."""
        for consumed in events:
            envelope = consumed.envelope
            if envelope.type not in STATUS_OF:
                continue
            payload = envelope.payload
            fields: dict[str, Any] = {
                "status": STATUS_OF[envelope.type],
                "decided_at": envelope.recorded_at,
            }
            if envelope.type == SignUpWaitlisted.event_type:
                fields["waitlist_position"] = payload["position"]
            if envelope.type == SignUpDeclined.event_type:
                fields["rule"] = payload["rule"]
            await self.sign_ups.apply(
                payload["sign_up_id"], envelope.stream_version, {"$set": fields}, create=False
            )

    async def drive(self, drive_id: str) -> Document:
        doc = await self.drives.get(drive_id)
        if doc is None or "title" not in doc:
            raise NotFoundError(f"no drive {drive_id}", field="drive_id")
        return doc

    async def drives_by_id(self, drive_ids: set[str]) -> dict[str, Document]:
        """The drives known of `drive_ids` (title, scope, …), read by `_id`."""
        if not drive_ids:
            return {}
        found = await self.drives.get_many(drive_ids)
        return {doc_id: doc for doc_id, doc in found.items() if "title" in doc}

    async def open_drives_for(
        self, volunteer: VolunteerRegistered, now: datetime
    ) -> list[dict[str, Any]]:
        """Drives whose window is open, whose scope holds my home and whose rules I meet."""
        fitting = []
        for doc in await self.drives.matching({"closed": False}):
            launched = DriveLaunched.model_validate(
                {k: v for k, v in doc.items() if k in DriveLaunched.model_fields}
            )
            if not (launched.signup_opens_at <= now < _closes_at(doc, launched)):
                continue
            if check_eligibility(
                launched.eligibility,
                launched.scope_area_id,
                volunteer,
                self._areas,
                launched.activity_starts_at.date(),
            ):
                continue
            roles = [r for r in _roles(doc, launched) if fits_role(r, volunteer.skills)]
            if roles:
                fitting.append(_drive_view(launched, roles))
        return sorted(fitting, key=lambda d: d["signup_closes_at"])


class SignUpDesk:
    """A volunteer's sign-ups: submit, withdraw, list."""

    def __init__(self, store: EventStore, board: DriveBoard) -> None:
        self._store = store
        self._board = board

    @traced_command("sign_up")
    async def submit(
        self,
        sign_up_id: str,
        volunteer: VolunteerRegistered,
        drive_id: str,
        role_id: str,
        context: CommandContext,
    ) -> Document:
        doc = await self._board.drive(drive_id)
        launched = DriveLaunched.model_validate(
            {k: v for k, v in doc.items() if k in DriveLaunched.model_fields}
        )
        if role_id not in {r.role_id for r in launched.roles}:
            raise RuleViolationError(
                f"drive {drive_id} has no role {role_id}", field="role_id", rule="unknown_role"
            )
        now = datetime.now(UTC)
        record = {
            "_id": sign_up_id,
            "_v": 0,
            "volunteer_id": volunteer.volunteer_id,
            "drive_id": drive_id,
            "drive_title": launched.title,
            "role_id": role_id,
            "status": "submitted",
            "submitted_at": now,
        }
        if not await self._board.sign_ups.insert(record):
            existing = await self.get(sign_up_id)
            if existing["volunteer_id"] != volunteer.volunteer_id:
                raise ConflictError("this sign-up id is taken", field="sign_up_id")
        event = SignUpSubmitted(
            sign_up_id=sign_up_id,
            drive_id=drive_id,
            volunteer_id=volunteer.volunteer_id,
            role_id=role_id,
            submitted_at=now,
        )
        with contextlib.suppress(ConcurrencyError):  # a retry: stored the first time
            await self._store.append(signup_stream(sign_up_id), SIGNUP_STREAM, 0, [event], context)
        return await self.get(sign_up_id)

    @traced_command("withdraw_sign_up")
    async def withdraw(
        self, sign_up_id: str, volunteer_id: str, reason: str | None, context: CommandContext
    ) -> Document:
        doc = await self.get(sign_up_id)
        if doc["volunteer_id"] != volunteer_id:
            raise NotFoundError(f"no sign-up {sign_up_id}")
        if doc["status"] in ("withdrawn", "declined") or doc.get("withdrawal_requested"):
            return doc  # nothing left to withdraw: the same answer as the first time
        event = SignUpWithdrawn(
            sign_up_id=sign_up_id,
            drive_id=doc["drive_id"],
            volunteer_id=volunteer_id,
            reason=reason,
        )
        with contextlib.suppress(ConcurrencyError):  # withdrawn already
            await self._store.append(signup_stream(sign_up_id), SIGNUP_STREAM, 1, [event], context)
        await self._board.sign_ups.set_fields(
            sign_up_id, {"withdrawal_requested": True}, where={"volunteer_id": volunteer_id}
        )
        return await self.get(sign_up_id)

    async def get(self, sign_up_id: str) -> Document:
        doc = await self._board.sign_ups.get(sign_up_id)
        if doc is None:
            raise NotFoundError(f"no sign-up {sign_up_id}")
        return doc

    async def of_volunteer(self, volunteer_id: str) -> list[Document]:
        signed_up = await self._board.sign_ups.matching({"volunteer_id": volunteer_id})
        return sorted(signed_up, key=lambda d: d["submitted_at"])


def _closes_at(doc: Document, launched: DriveLaunched) -> datetime:
    value = doc.get("signup_closes_at")
    return datetime.fromisoformat(value) if isinstance(value, str) else launched.signup_closes_at


def _roles(doc: Document, launched: DriveLaunched) -> list[Role]:
    headcounts = doc.get("headcounts", {})
    return [
        r.model_copy(update={"headcount": headcounts.get(r.role_id, r.headcount)})
        for r in launched.roles
    ]


def _drive_view(launched: DriveLaunched, roles: list[Role]) -> dict[str, Any]:
    return {
        "drive_id": launched.drive_id,
        "title": launched.title,
        "category": launched.category,
        "scope_area_id": launched.scope_area_id,
        "signup_closes_at": launched.signup_closes_at,
        "activity_starts_at": launched.activity_starts_at,
        "activity_ends_at": launched.activity_ends_at,
        "roles": [r.model_dump(mode="json") for r in roles],
    }
