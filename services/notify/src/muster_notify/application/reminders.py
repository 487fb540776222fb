"""Durable timers: reminders before activities and the check-in window's opening.

Timers are filed in 10-second buckets, one document each, keyed by the bucket's start; a
cursor document names the first bucket not yet wholly done. Each tick reads the buckets
from the cursor to now by their keys (no scan, however many timers there are), fires
what is due and not yet fired, marks each fired, and moves the cursor past buckets that
are done and older than the settling time (new timers are only ever filed at or after
the clock, so nothing lands behind the cursor). After a restart the walk resumes at the
cursor: whatever fell due meanwhile is sent then, saying it is late.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from muster_notify.application.delivery import Delivery, utc_now
from muster_notify.application.ports import Facts, Timers
from muster_notify.domain.rules import (
    BUCKET_SECONDS,
    bucket_of,
    bucket_start,
    buckets_from,
    timer_messages,
)

log = logging.getLogger(__name__)

# Buckets read per tick at most (an hour): a long outage is caught up over a few ticks.
BUCKETS_PER_TICK = 360


class TimerWalk:
    """Fires due timers, once each."""

    def __init__(
        self,
        timers: Timers,
        facts: Facts,
        delivery: Delivery,
        *,
        late_after: timedelta,
        settle: timedelta = timedelta(seconds=30),
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._timers = timers
        self._facts = facts
        self._delivery = delivery
        self._late_after = late_after
        self._settle = settle
        self._clock = clock

    async def begin(self) -> None:
        """Before the first event is consumed: a fresh store's walk starts now (an old
        activity replayed from the log has no timers left to fire)."""
        if await self._timers.cursor() is None:
            await self._timers.advance(bucket_of(self._clock() - self._settle))

    async def run(self, every_seconds: float) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("timer walk failed; retrying")
            await asyncio.sleep(every_seconds)

    async def tick(self) -> int:
        """Fire what is due; returns how many timers fired."""
        now = self._clock()
        cursor = await self._timers.cursor() or bucket_of(now - self._settle)
        keys = buckets_from(cursor, now, BUCKETS_PER_TICK)
        found = await self._timers.buckets(keys)
        fired_now = 0
        next_cursor: str | None = None
        settled = True
        for key in keys:
            timers, fired = found.get(key, ([], set()))
            pending = False
            for timer in sorted(timers, key=lambda t: t.due_at):
                if timer.timer_id in fired:
                    continue
                if timer.due_at > now:
                    pending = True
                    continue
                activity = await self._facts.activity(timer.activity_id)
                await self._delivery.send(
                    timer_messages(timer, activity, self._clock(), self._late_after)
                )
                await self._timers.fired(key, timer.timer_id)
                fired.add(timer.timer_id)
                fired_now += 1
            ends = bucket_start(key) + timedelta(seconds=BUCKET_SECONDS)
            if settled and not pending and ends <= now - self._settle:
                next_cursor = bucket_of(ends)
            else:
                settled = False
        if next_cursor is not None:
            await self._timers.advance(next_cursor)
        return fired_now
