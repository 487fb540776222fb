"""Every reporting projection together: what the consumer applies, a rebuild replays and
the service indexes at start."""

from __future__ import annotations

from muster_contracts.areas import AreaTree
from muster_reporting.application.drive_funnel import DriveFunnel
from muster_reporting.application.ports import ReportingStore
from muster_reporting.application.service_rollup import ServiceRollup
from muster_reporting.application.volunteer_rollup import VolunteerRollup
from muster_runtime.consumer import Stage, apply_stages
from muster_runtime.projections import ConsumedEvent


class AsOfHistory:
    """Journals the as-of history of the batch the rollups just counted: after every
    projection's current figures, so what a report shows now is not kept waiting for it
    (traced and timed as `AsOfHistory`; the store's history writer writes it where
    figures as of an instant are read)."""

    def __init__(self, volunteers: VolunteerRollup, service: ServiceRollup) -> None:
        self._volunteers = volunteers
        self._service = service

    async def apply(self, events: list[ConsumedEvent]) -> None:
        await self._volunteers.record_history()
        await self._service.record_history()


class Insights:
    def __init__(
        self,
        areas: AreaTree,
        timezone: str,
        star_thresholds_hours: tuple[int, ...],
        store: ReportingStore,
    ) -> None:
        self.store = store
        self.volunteer_history = store.history("volunteers_by_area")
        self.volunteers = VolunteerRollup(
            store.counters("volunteers_by_area"), areas, self.volunteer_history
        )
        self.service = ServiceRollup(store, areas, timezone)
        self.drive_funnel = DriveFunnel(store, areas)
        self.standing = store.standing(areas, star_thresholds_hours)
        self.history = AsOfHistory(self.volunteers, self.service)
        self.history_writer = store.history_writer()

    @property
    def event_types(self) -> frozenset[str]:
        """Every event type some reporting projection reads (a rebuild decodes no other)."""
        return (
            self.volunteers.event_types
            | self.service.event_types
            | self.drive_funnel.event_types
            | self.standing.event_types
        )

    @property
    def handlers(self) -> list[Stage]:
        """What applies a consumed batch, in order (each traced on its own): the current
        figures (what reports show now), their independent read models together, then the
        as-of history of what they counted."""
        return [
            (
                self.volunteers.apply,
                self.service.apply,
                self.drive_funnel.apply,
                self.standing.apply,
            ),
            self.history.apply,
        ]

    async def apply(self, events: list[ConsumedEvent]) -> None:
        await apply_stages(self.handlers, events)

    async def create_indexes(self) -> None:
        await self.service.create_indexes()

    async def settle(self) -> None:
        """Ready to serve: indexed, the as-of journal written into its buckets."""
        await self.create_indexes()
        await self.history_writer.drain()
