"""The area tree's additions: dispatch appends them to one `area-tree` stream and keeps its
in-memory tree (the packaged seed file plus that stream) up to date.

The stream is read by `_id` only (its commits after the last one seen), once at start,
before every addition and every few seconds, so replicas of dispatch learn each other's additions.
"""

from __future__ import annotations

from muster_contracts.areas import Area, AreaTree, AreaTreeError
from muster_contracts.events import decode_payload
from muster_contracts.events.areas import AREA_TREE_STREAM, AREA_TREE_STREAM_ID, AreaAdded
from muster_runtime.errors import ConflictError, RuleViolationError
from muster_runtime.ports.event_store import CommandContext, ConcurrencyError, EventStore

# How often a replica looks at the stream's head for additions made by another replica.
AREA_TREE_REFRESH_SECONDS = 5.0


class AreaTreeBook:
    """Adds areas to the tree through the `area-tree` stream, exactly once each."""

    def __init__(self, store: EventStore, areas: AreaTree) -> None:
        self._store = store
        self.areas = areas
        self.version = 0

    async def catch_up(self) -> None:
        """Apply what the stream holds beyond what this tree has seen (one point read if
        nothing). The commits after the last one seen are read, not the stream's head
        document, which lags an append that is still returning."""
        stream = await self._store.read_stream(AREA_TREE_STREAM_ID, after=self.version)
        for envelope in stream.events:
            event = decode_payload(envelope.type, envelope.schema_version, envelope.payload)
            assert isinstance(event, AreaAdded)
            self._apply(event, envelope.stream_version)

    def _apply(self, event: AreaAdded, version: int) -> Area:
        # Already held: a later seed file may list it, or a refresh read this very addition
        # while its append was returning.
        if event.area_id not in self.areas:
            self.areas.add(event.area_id, event.name)
        self.version = max(self.version, version)
        return self.areas.get(event.area_id)

    async def add(self, area_id: str, name: str, context: CommandContext) -> tuple[Area, bool]:
        """The area, and whether this call added it (False: an identical retry).

        Raises:
            ConflictError: the id is taken by an area of another name.
            RuleViolationError: a malformed id, a second root or an unknown parent.
        """
        for _ in range(5):
            await self.catch_up()
            if area_id in self.areas:
                existing = self.areas.get(area_id)
                if existing.name != name:
                    raise ConflictError(
                        f"area {area_id} exists as {existing.name!r}",
                        code="area_exists",
                        field="name",
                        existing_name=existing.name,
                    )
                return existing, False
            try:
                self.areas.new_area(area_id, name)
            except AreaTreeError as exc:
                raise RuleViolationError(str(exc), field="id", rule=exc.rule) from None
            event = AreaAdded(area_id=area_id, name=name)
            expected = self.version
            try:
                await self._store.append(
                    AREA_TREE_STREAM_ID, AREA_TREE_STREAM, expected, [event], context
                )
            except ConcurrencyError:
                continue  # another addition came first: read it, then decide again
            return self._apply(event, expected + 1), True
        raise ConcurrencyError(AREA_TREE_STREAM_ID, self.version)
