"""Stages of projections: in order, a stage's handlers together, failures raised whole."""

from __future__ import annotations

import asyncio

import pytest
from pymongo.errors import AutoReconnect

from muster_runtime.consumer import EventHandler, apply_stages
from muster_runtime.projections import ConsumedEvent


async def test_a_stages_handlers_run_together_and_the_next_stage_after_them() -> None:
    started: list[str] = []
    both_started = asyncio.Event()

    def meeting(name: str) -> EventHandler:
        async def handler(events: list[ConsumedEvent]) -> None:
            started.append(name)
            if len(started) == 2:
                both_started.set()
            # Applied one after the other, the first would wait here for ever.
            await asyncio.wait_for(both_started.wait(), 2)

        return handler

    async def after(events: list[ConsumedEvent]) -> None:
        started.append("after")

    await apply_stages([(meeting("a"), meeting("b")), after], [])

    assert sorted(started[:2]) == ["a", "b"]
    assert started[2] == "after"


async def test_a_failure_is_raised_once_every_handler_of_its_stage_has_finished() -> None:
    finished: list[str] = []

    async def fails(events: list[ConsumedEvent]) -> None:
        raise ValueError("cannot be applied")

    async def slow(events: list[ConsumedEvent]) -> None:
        await asyncio.sleep(0.05)
        finished.append("slow")

    async def never(events: list[ConsumedEvent]) -> None:
        finished.append("never")

    with pytest.raises(ValueError, match="cannot be applied"):
        await apply_stages([(fails, slow), never], [])

    assert finished == ["slow"]  # no write left in flight, and no later stage applied


async def test_the_store_being_away_is_raised_before_any_other_failure() -> None:
    async def fails(events: list[ConsumedEvent]) -> None:
        raise ValueError("cannot be applied")

    async def store_away(events: list[ConsumedEvent]) -> None:
        raise AutoReconnect("connection refused")

    # A transient failure redelivers the batch; any other would set its events aside.
    with pytest.raises(AutoReconnect):
        await apply_stages([(fails, store_away)], [])
