"""Drive commands and sign-up decisions: load the drive, decide, append, in one place.

Decisions for a drive are events on the drive's own stream, so the event store's
optimistic concurrency is what keeps every role within its head-count, however many
sign-ups arrive at once. Folded drives are cached per process and checked against the
stream head before use; a conflicting append drops the cache entry and retries.
"""

from __future__ import annotations

import copy
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence

from muster_contracts.areas import AreaTree
from muster_contracts.events import DomainEvent, decode_payload
from muster_contracts.events.drives import DRIVE_STREAM, SignUpSubmitted, SignUpWithdrawn
from muster_dispatch.application.ports import VolunteerProfiles
from muster_dispatch.domain.drive import (
    Drive,
    DriveRuleError,
    RecordWithdrawal,
    SignUpRequest,
    decide_sign_up,
    evolve,
    record_withdrawal,
)
from muster_runtime.errors import NotFoundError, RuleViolationError
from muster_runtime.ports.event_store import CommandContext, ConcurrencyError, EventStore
from muster_runtime.projections import ConsumedEvent
from muster_runtime.tracing import traced_command

log = logging.getLogger(__name__)

Decide = Callable[[Drive], list[DomainEvent]]
MAX_ATTEMPTS = 5


def drive_stream(drive_id: str) -> str:
    return f"drive-{drive_id}"


class RegistrationNotYetSeenError(LookupError):
    """A sign-up overtook its volunteer's registration on the way here."""


class DriveBook:
    """Loads, caches and saves drives; every change goes through `execute`."""

    def __init__(self, store: EventStore, areas: AreaTree) -> None:
        self._store = store
        self.areas = areas
        self._cache: dict[str, Drive] = {}

    async def load(self, drive_id: str) -> Drive:
        cached = self._cache.get(drive_id)
        head = await self._store.stream_version(drive_stream(drive_id))
        if cached is not None and cached.version == head:
            return cached
        stream = await self._store.read_stream(drive_stream(drive_id))
        drive = Drive(drive_id)
        for event in stream.decoded():
            evolve(drive, event)
        self._cache[drive_id] = drive
        return drive

    async def existing(self, drive_id: str) -> Drive:
        drive = await self.load(drive_id)
        if drive.launched is None:
            raise NotFoundError(f"no drive {drive_id}", field="drive_id")
        return drive

    @traced_command("drive")
    async def execute(
        self, drive_id: str, decide: Decide, context: CommandContext, *, expected: int | None = None
    ) -> tuple[Drive, list[DomainEvent]]:
        """Decide against the current drive and append; retried on a concurrent writer.

        With `expected` (an organiser's `If-Match`), a drive that moved on is a 409.
        """
        for _ in range(MAX_ATTEMPTS):
            drive = await self.load(drive_id)
            if expected is not None and drive.version != expected:
                raise ConcurrencyError(drive_stream(drive_id), expected, drive.version)
            try:
                events = decide(drive)
            except DriveRuleError as exc:
                raise RuleViolationError(str(exc), field=exc.field, rule=exc.rule) from None
            if not events:
                return drive, []
            version = drive.version
            try:
                await self._store.append(
                    drive_stream(drive_id), DRIVE_STREAM, version, events, context
                )
            except ConcurrencyError:
                self._cache.pop(drive_id, None)
                if expected is not None:
                    raise
                continue
            for event in events:
                evolve(drive, event)
            return drive, events
        raise ConcurrencyError(drive_stream(drive_id), -1)


class SignUpDesk:
    """Turns volunteers' sign-ups and withdrawals (volunteer events) into drive decisions."""

    def __init__(self, drives: DriveBook, pool: VolunteerProfiles) -> None:
        self._drives = drives
        self._pool = pool

    async def apply(self, events: list[ConsumedEvent]) -> None:
        by_drive: dict[str, list[ConsumedEvent]] = defaultdict(list)
        for consumed in events:
            if consumed.envelope.type in (SignUpSubmitted.event_type, SignUpWithdrawn.event_type):
                by_drive[consumed.envelope.payload["drive_id"]].append(consumed)
        for drive_id, requests in by_drive.items():
            await self._decide(drive_id, requests)

    async def _decide(self, drive_id: str, requests: Sequence[ConsumedEvent]) -> None:
        commands: list[SignUpRequest | RecordWithdrawal] = []
        for consumed in requests:
            envelope = consumed.envelope
            event = decode_payload(envelope.type, envelope.schema_version, envelope.payload)
            if isinstance(event, SignUpSubmitted):
                profile = await self._pool.profile(event.volunteer_id)
                if profile is None:
                    # The registration travels on another partition and is not here yet:
                    # fail the batch so it is redelivered shortly, rather than guess.
                    raise RegistrationNotYetSeenError(event.volunteer_id)
                commands.append(
                    SignUpRequest(
                        sign_up_id=event.sign_up_id,
                        volunteer_id=event.volunteer_id,
                        role_id=event.role_id,
                        profile=profile,
                        submitted_at=event.submitted_at or envelope.occurred_at,
                    )
                )
            elif isinstance(event, SignUpWithdrawn):
                commands.append(
                    RecordWithdrawal(
                        sign_up_id=event.sign_up_id,
                        volunteer_id=event.volunteer_id,
                        reason=event.reason,
                    )
                )

        def decide_all(drive: Drive) -> list[DomainEvent]:
            # Decisions of one batch build on each other: fold each into a scratch copy,
            # leaving the cached drive untouched should the append fail.
            scratch = copy.deepcopy(drive)
            decided: list[DomainEvent] = []
            for command in commands:
                try:
                    if isinstance(command, SignUpRequest):
                        new = decide_sign_up(scratch, command, self._drives.areas)
                    else:
                        new = record_withdrawal(scratch, command)
                except DriveRuleError as exc:
                    log.warning(
                        "sign-up request refused", extra={"drive_id": drive_id, "rule": exc.rule}
                    )
                    continue
                for event in new:
                    evolve(scratch, event)
                decided.extend(new)
            return decided

        context = CommandContext(
            requests[0].envelope.actor,
            correlation_id=requests[0].envelope.correlation_id,
            causation_id=requests[0].envelope.event_id,
        )
        try:
            await self._drives.execute(drive_id, decide_all, context)
        except NotFoundError:
            log.warning("sign-ups for an unknown drive ignored", extra={"drive_id": drive_id})
