"""Importing a roster: preview every row's fate, then register the rows that can be.

A row's volunteer id is derived from a keyed hash of its phone number, so uploading the
same file again registers nobody twice (and a run cut short is finished by running it
again); a phone registered by other means is `already_registered`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Literal
from uuid import NAMESPACE_URL, uuid5

from muster_contracts.areas import AreaTree
from muster_runtime.errors import ConflictError, RuleViolationError
from muster_runtime.ports.event_store import CommandContext
from muster_volunteer.application.ports import IdentityClaimIndex
from muster_volunteer.application.registration import VolunteerRegistry
from muster_volunteer.domain.roster import (
    RosterCheck,
    RosterRow,
    RowError,
    RowProblem,
    check_roster,
)
from muster_volunteer.domain.volunteer import Volunteer

REGISTRATIONS_IN_FLIGHT = 8
PROGRESS_EVERY = 50  # rows between two progress reports


@dataclass(frozen=True)
class RowOutcome:
    number: int
    volunteer_id: str | None
    outcome: Literal["registered", "already_registered", "refused"]
    errors: tuple[RowError, ...] = ()


@dataclass(frozen=True)
class ImportProgress:
    done: int
    of: int
    outcomes: tuple[RowOutcome, ...] | None = None  # set on the last report only


class RosterImport:
    def __init__(self, registry: VolunteerRegistry, phones: IdentityClaimIndex, areas: AreaTree):
        self._registry = registry
        self._phones = phones
        self._areas = areas

    def volunteer_id(self, phone: str) -> str:
        """The id a roster row with this phone registers under (stable, not guessable)."""
        return str(uuid5(NAMESPACE_URL, f"muster:roster:{self._phones.fingerprint(phone)}"))

    async def preview(self, table: list[list[str]], scope: str) -> RosterCheck:
        """Every row's form or errors; nothing is registered."""
        check = check_roster(table, self._areas, scope)
        phones = [row.form.phone for row in check.valid if row.form is not None]
        holders = await self._phones.holders(phones)
        slots = asyncio.Semaphore(REGISTRATIONS_IN_FLIGHT)

        async def load(volunteer_id: str) -> tuple[str, Volunteer]:
            async with slots:
                return volunteer_id, await self._registry.load(volunteer_id)

        states = dict(await asyncio.gather(*(load(v) for v in set(holders.values()))))
        rows = []
        for row in check.rows:
            holder = holders.get(row.form.phone) if row.form is not None else None
            state = None if holder is None else states[holder]
            if state is not None and state.registered is not None:
                error = RowError(
                    "phone",
                    RowProblem.ALREADY_REGISTERED,
                    "a volunteer with this phone number is registered already",
                )
                # Named only inside the area: elsewhere, who holds a phone is not yours to see.
                inside = self._areas.is_within(state.registered.home_area_id, scope)
                row = replace(row, errors=(error,), registered_as=holder if inside else None)
            rows.append(row)
        return replace(check, rows=tuple(rows))

    async def register(
        self, table: list[list[str]], scope: str, context: CommandContext
    ) -> AsyncIterator[ImportProgress]:
        """Register every row that can be, reporting progress as it goes; the last report
        holds each row's outcome."""
        check = await self.preview(table, scope)
        outcomes: dict[int, RowOutcome] = {}
        for row in check.rows:
            if row.errors:
                registered = row.errors[0].code is RowProblem.ALREADY_REGISTERED
                outcomes[row.number] = RowOutcome(
                    row.number,
                    row.registered_as,
                    "already_registered" if registered else "refused",
                    row.errors,
                )
        pending = [row for row in check.rows if row.number not in outcomes]
        total = len(check.rows)
        slots = asyncio.Semaphore(REGISTRATIONS_IN_FLIGHT)

        async def one(row: RosterRow) -> RowOutcome:
            async with slots:
                return await self._register_row(row, context)

        yield ImportProgress(len(outcomes), total)
        for done, outcome in enumerate(asyncio.as_completed([one(r) for r in pending]), 1):
            result = await outcome
            outcomes[result.number] = result
            if done % PROGRESS_EVERY == 0:
                yield ImportProgress(len(outcomes), total)
        yield ImportProgress(total, total, tuple(outcomes[n] for n in sorted(outcomes)))

    async def _register_row(self, row: RosterRow, context: CommandContext) -> RowOutcome:
        assert row.form is not None
        volunteer_id = self.volunteer_id(row.form.phone)
        try:
            await self._registry.register(volunteer_id, row.form, context)
        except ConflictError as exc:
            field = str(exc.details.get("field", "phone"))
            error = RowError(field, RowProblem.ALREADY_REGISTERED, str(exc))
            return RowOutcome(row.number, None, "already_registered", (error,))
        except RuleViolationError as exc:
            field = str(exc.details.get("field", "row"))
            return RowOutcome(
                row.number, None, "refused", (RowError(field, RowProblem.INVALID, str(exc)),)
            )
        return RowOutcome(row.number, volunteer_id, "registered")
