"""The version of a service's read models that serves and is written: the pointer
document (`read_model_versions`) decides it.

A consumed batch reads the pointer before it applies (one read by `_id`): no batch begun
after a rebuild's switch writes the old version, and while the rebuild completes the new
one the batch waits (past the pointer's deadline it puts the pointer back). Readers follow
the pointer within a second (`refresh`, run every second), so a rebuild drops the old
version only after a grace.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Generic, Protocol, TypeVar

from muster_runtime.adapters.mongodb.read_model_versions import ReadModelVersions
from muster_runtime.consumer import Stage, apply_stages
from muster_runtime.mongo import Database
from muster_runtime.projections import ConsumedEvent

log = logging.getLogger(__name__)
# How often a waiting batch looks at the pointer again.
SWITCH_POLL_SECONDS = 0.1
# How often readers look at which version is live (a rebuild waits longer than this,
# `online_rebuild.GRACE_SECONDS`, before it drops the old version).
VERSION_POLL_SECONDS = 1.0


class Staged(Protocol):
    """A service's read models on one version: the stages that apply consumed events."""

    @property
    def handlers(self) -> Sequence[Stage]: ...


M = TypeVar("M", bound=Staged)


class LiveReadModels(Generic[M]):
    """A service's read models on the live version, built again when the version changes.
    Readers reach them through `current` at each request, so a switch needs no telling
    (`on_switch`, if given, is told too)."""

    def __init__(
        self,
        versions: ReadModelVersions,
        build: Callable[[Database], M],
        on_switch: Callable[[M], None] | None = None,
    ) -> None:
        self._versions = versions
        self._build = build
        self._on_switch = on_switch
        self.version = 0
        self.current = build(versions.database(0))
        if on_switch is not None:
            on_switch(self.current)

    def _on(self, version: int) -> M:
        if version != self.version:
            log.info("reading and writing read models version %d", version)
            self.version, self.current = version, self._build(self._versions.database(version))
            if self._on_switch is not None:
                self._on_switch(self.current)
        return self.current

    async def follow(self) -> M:
        """The read models readers read now (the previous version while a switched one is
        being completed)."""
        return self._on((await self._versions.live()).serving)

    async def writable(self) -> M:
        """The read models a batch applies to: it waits while a switched version is being
        completed, and past its deadline goes back to the previous one."""
        while True:
            pointer = await self._versions.live()
            if pointer.complete:
                return self._on(pointer.version)
            if pointer.deadline is not None and pointer.deadline < datetime.now(UTC):
                log.warning("read models version %d was never completed", pointer.version)
                await self._versions.revert(pointer)
                continue
            await asyncio.sleep(SWITCH_POLL_SECONDS)

    async def refresh(self) -> None:
        """Look at the pointer (readers switch with it)."""
        await self.follow()

    async def apply(self, events: list[ConsumedEvent]) -> None:
        await apply_stages((await self.writable()).handlers, events)
