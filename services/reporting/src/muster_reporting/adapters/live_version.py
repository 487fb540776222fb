"""The version of reporting's read models that serves: the pointer document decides it
(`muster_runtime.adapters.mongodb.live_read_models`); the as-of history is written into the live one."""

from __future__ import annotations

import asyncio
import logging

from muster_reporting.application.insights import Insights
from muster_runtime.adapters.mongodb.live_read_models import LiveReadModels

log = logging.getLogger(__name__)


class LiveInsights(LiveReadModels[Insights]):
    """Reporting's read models on the live version, built again when the version changes."""

    async def write_history(self, every_seconds: float) -> None:
        """Write the live version's as-of journal into its buckets, until cancelled."""
        while True:
            await asyncio.sleep(every_seconds)
            try:
                await (await self.follow()).history_writer.drain()
            except Exception:
                log.exception("writing the as-of history failed; trying again")
