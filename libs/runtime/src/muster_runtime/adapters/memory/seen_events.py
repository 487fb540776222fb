"""The seen-events port in memory: per source partition, the last `SEEN_WINDOW` ids."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

from muster_runtime.ports.seen_events import SEEN_WINDOW, D, Seen, SeenEvents, unseen


class InMemorySeenEvents(SeenEvents):
    def __init__(self, window: int = SEEN_WINDOW) -> None:
        self._window = window
        self._order: dict[str, deque[bytes]] = {}
        self._known: dict[str, set[bytes]] = {}

    async def fresh(
        self, events: list[D], batch: Mapping[str, range] | None = None
    ) -> tuple[list[D], Seen]:
        known = {e.source: self._known.get(e.source, set()) for e in events}
        return unseen(events, known, {s: span.stop for s, span in (batch or {}).items()})

    async def remember(self, seen: Seen) -> None:
        for source, ids in seen.ids.items():
            order = self._order.setdefault(source, deque())
            known = self._known.setdefault(source, set())
            for event_id in ids:
                order.append(event_id)
                known.add(event_id)
                if len(order) > self._window:
                    known.discard(order.popleft())

    async def save(self) -> None:
        pass

    async def forget(self) -> None:
        self._order = {}
        self._known = {}
