"""The version of reporting's read models that serves: the pointer document decides it.

A consumed batch reads the pointer before it applies (one read by `_id`), so no batch
begun after a rebuild's switch writes the old version; reports follow the pointer within a
second (`follow`, run every second), so a rebuild drops the old version only after a grace.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from muster_reporting.application.insights import Insights
from muster_runtime.consumer import apply_stages
from muster_runtime.mongo import Database
from muster_runtime.projections import ConsumedEvent
from muster_runtime.read_model_versions import ReadModelVersions

log = logging.getLogger(__name__)


class LiveInsights:
    """Reporting's read models on the live version, built again when the version changes."""

    def __init__(
        self,
        versions: ReadModelVersions,
        build: Callable[[Database], Insights],
        on_switch: Callable[[Insights], None],
    ) -> None:
        self._versions = versions
        self._build = build
        self._on_switch = on_switch
        self.version = 0
        self.current = build(versions.database(0))
        on_switch(self.current)

    async def follow(self) -> Insights:
        """The live version's read models (built, and indexed, when the pointer moved)."""
        pointer = await self._versions.live()
        if pointer.version != self.version:
            insights = self._build(self._versions.database(pointer.version))
            await insights.create_indexes()
            log.info("reading and writing read models version %d", pointer.version)
            self.version, self.current = pointer.version, insights
            self._on_switch(insights)
        return self.current

    async def refresh(self) -> None:
        """Look at the pointer (reports switch with it)."""
        await self.follow()

    async def apply(self, events: list[ConsumedEvent]) -> None:
        await apply_stages((await self.follow()).handlers, events)

    async def write_history(self, every_seconds: float) -> None:
        """Write the live version's as-of journal into its buckets, until cancelled."""
        while True:
            await asyncio.sleep(every_seconds)
            try:
                await (await self.follow()).history_writer.drain()
            except Exception:
                log.exception("writing the as-of history failed; trying again")
