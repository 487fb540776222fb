"""Append→report probes: records sent at a fixed rate, each timed until a report shows it.

Each probe activity sits alone at its grid, so the grid's beneficiaries are that activity's
last recorded total. A probe records the next total (1, 2, 3, …) at an idle activity every
1/rate seconds, without waiting for earlier records to be seen: a slow consumer makes the
probes wait longer, not fewer. One watcher polls the grids with records outstanding; a
report showing total n resolves every outstanding record up to n (records of one activity
are sent one at a time, so they are applied in that order).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass
class ProbeRecord:
    activity_id: str
    total: int
    acknowledged_at: float  # wall clock (s) when the record's 2xx came back
    phase: str


@dataclass
class ProbeLedger:
    """Records not yet seen in a report, per activity, in the order they were sent."""

    outstanding: dict[str, deque[ProbeRecord]] = field(default_factory=dict)
    seen: list[tuple[ProbeRecord, float]] = field(default_factory=list)  # (record, lag s)
    last_total: dict[str, int] = field(default_factory=dict)

    def sent(self, record: ProbeRecord) -> None:
        if record.total <= self.last_total.get(record.activity_id, 0):
            raise ValueError("an activity's probe totals must rise")
        self.last_total[record.activity_id] = record.total
        self.outstanding.setdefault(record.activity_id, deque()).append(record)

    def shown(self, activity_id: str, total: int, at: float) -> list[float]:
        """A report showed `total` at `at`: resolve the records it includes; their lags."""
        queue = self.outstanding.get(activity_id)
        lags: list[float] = []
        while queue and queue[0].total <= total:
            record = queue.popleft()
            lag = max(0.0, at - record.acknowledged_at)
            self.seen.append((record, lag))
            lags.append(lag)
        return lags

    def waiting(self) -> list[str]:
        """Activities with records a report does not show yet."""
        return [a for a, queue in self.outstanding.items() if queue]

    def lags(self, phase: str | None = None) -> list[float]:
        return [lag for record, lag in self.seen if phase is None or record.phase == phase]


Record = Callable[[str, int], Awaitable[bool]]  # (activity, total) → accepted
Shown = Callable[[str], Awaitable[int]]  # activity → the total its grid's report shows


@dataclass
class FreshnessProbe:
    """Sends probe records at `rate` per second over `activities`; a watcher times them."""

    activities: list[str]
    record: Record
    shown: Shown
    rate: float = 2.0
    poll_seconds: float = 0.01
    phase: str = "steady"
    ledger: ProbeLedger = field(default_factory=ProbeLedger)
    totals: dict[str, int] = field(default_factory=dict)  # last accepted total per activity
    _busy: set[str] = field(default_factory=set)
    _in_flight: set[asyncio.Task[None]] = field(default_factory=set)
    _next: int = 0

    def _idle_activity(self) -> str | None:
        for n in range(len(self.activities)):
            activity = self.activities[(self._next + n) % len(self.activities)]
            if activity not in self._busy:
                self._next = (self._next + n + 1) % len(self.activities)
                return activity
        return None

    async def _send(self, activity: str) -> None:
        total = self.totals.get(activity, 0) + 1
        phase = self.phase
        try:
            if await self.record(activity, total):
                self.totals[activity] = total
                self.ledger.sent(ProbeRecord(activity, total, time.time(), phase))
        finally:
            self._busy.discard(activity)

    async def run(self, stop: asyncio.Event) -> None:
        """Send until `stop`, then wait for the records in flight (each answered record is
        in `totals`, so the ground truth can count it)."""
        started = time.perf_counter()
        try:
            for n in itertools.count():
                due = started + n / self.rate
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), max(0.0, due - time.perf_counter()))
                if stop.is_set():
                    break
                activity = self._idle_activity()
                if activity is None:
                    continue  # every activity has a record in flight: this one is skipped
                self._busy.add(activity)
                task = asyncio.create_task(self._send(activity))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)
        finally:
            if self._in_flight:
                await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def watch(self, stop: asyncio.Event) -> None:
        """Poll the grids with records outstanding until `stop` and every sent record is
        seen (the caller bounds the wait: a record never shown stays outstanding)."""
        while not (stop.is_set() and not self._in_flight and not self.ledger.waiting()):
            waiting = self.ledger.waiting()
            if waiting:
                totals = await asyncio.gather(
                    *(self.shown(a) for a in waiting), return_exceptions=True
                )
                now = time.time()
                for activity, total in zip(waiting, totals, strict=True):
                    if isinstance(total, int):
                        self.ledger.shown(activity, total, now)
            await asyncio.sleep(self.poll_seconds)
