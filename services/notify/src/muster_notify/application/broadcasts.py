"""Broadcasting a launched drive to the volunteers it fits, a page of areas at a time.

The consumer only records that a broadcast is due (one document, by the launch event's
id) and goes on with other events; this worker walks the drive's scope area by area, so
no more than a page of volunteers is ever in memory, and records each page as done
together with how many it told. A restart resumes at the first page not recorded; a page
sent again writes nothing twice (message ids are deterministic).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from muster_contracts.areas import AreaTree
from muster_contracts.events.drives import DriveLaunched
from muster_notify.application.delivery import Delivery, utc_now
from muster_notify.application.ports import Broadcasts, Facts, Outcome
from muster_notify.domain.messages import Cause
from muster_notify.domain.rules import drive_fits, drive_launched_message, worth_broadcasting

log = logging.getLogger(__name__)

IDLE_SECONDS = 5.0
# Messages of a page written (and their streams woken) together.
DELIVERY_CHUNK = 200


def areas_within(areas: AreaTree, scope_area_id: str) -> list[str]:
    """The scope and every area below it, in id order (a stable page order)."""
    if scope_area_id not in areas:
        return []
    found: list[str] = []
    stack = [scope_area_id]
    while stack:
        area_id = stack.pop()
        found.append(area_id)
        stack.extend(child.id for child in areas.children(area_id))
    return sorted(found)


class Broadcaster:
    """Works through unfinished broadcasts, oldest first."""

    def __init__(
        self,
        broadcasts: Broadcasts,
        facts: Facts,
        delivery: Delivery,
        areas: AreaTree,
        *,
        areas_per_page: int = 100,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._broadcasts = broadcasts
        self._facts = facts
        self._delivery = delivery
        self._areas = areas
        self._areas_per_page = areas_per_page
        self._clock = clock
        self._due = asyncio.Event()

    async def start(self, cause: Cause, launched: DriveLaunched) -> None:
        """Record that the drive is to be broadcast (the worker does it)."""
        drive = launched.model_dump(mode="json") | {
            "cause_id": cause.cause_id,
            "cause_at": cause.at.isoformat(),
        }
        await self._broadcasts.start(cause.cause_id, drive)
        self._due.set()

    async def run(self) -> None:
        """Broadcast while the service runs (failures are logged and retried)."""
        while True:
            self._due.clear()
            try:
                await self.work()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("broadcast failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._due.wait(), IDLE_SECONDS)

    async def work(self) -> int:
        """Finish every unfinished broadcast; returns how many pages were sent."""
        pages = 0
        unfinished = await self._broadcasts.unfinished()
        for job in sorted(unfinished, key=lambda j: str(j["drive"].get("cause_at", ""))):
            pages += await self._continue(job)
        return pages

    async def _continue(self, job: dict[str, object]) -> int:
        drive = job["drive"]
        assert isinstance(drive, dict)
        launched = DriveLaunched.model_validate(
            {k: v for k, v in drive.items() if k in DriveLaunched.model_fields}
        )
        cause = Cause(str(drive["cause_id"]), datetime.fromisoformat(str(drive["cause_at"])))
        cursor = int(str(job["cursor"]))
        broadcast_id = str(job["_id"])
        known = await self._facts.drive(launched.drive_id) or {}
        if not worth_broadcasting(launched, bool(known.get("closed")), self._clock()):
            await self._broadcasts.advance(broadcast_id, cursor, cursor, 0, done=True)
            return 0
        area_ids = areas_within(self._areas, launched.scope_area_id)
        pages = 0
        while True:
            page = area_ids[cursor : cursor + self._areas_per_page]
            messages = [
                drive_launched_message(volunteer_id, launched, cause)
                for volunteer_id, profile in await self._facts.residents(page)
                if drive_fits(launched, profile, self._areas)
            ]
            told = 0
            # In chunks: each chunk's streams are woken as soon as it is written.
            for start in range(0, len(messages), DELIVERY_CHUNK):
                outcomes = await self._delivery.send(messages[start : start + DELIVERY_CHUNK])
                told += sum(1 for o in outcomes if o is not Outcome.NO_INBOX)
            next_cursor = cursor + len(page)
            done = next_cursor >= len(area_ids)
            if not await self._broadcasts.advance(broadcast_id, cursor, next_cursor, told, done):
                return pages  # another worker recorded this page: it carries on
            pages += 1
            cursor = next_cursor
            if done:
                return pages
            # Let the consumer and the timers have the store between pages.
            await asyncio.sleep(0)
