"""Who served where: one document per (area, volunteer), every period as a sub-field.

`<area>#<volunteer>` holds, for each period the volunteer served in there (`all`, the
year, ISO week, month and day), the approved minutes and turn-outs, and the membership
that counts the volunteer once among the unique volunteers of that (area, period) cell:

    {"_id": "130203#v1", "area": "130203", "volunteer_id": "v1", "hwm": {...},
     "all": {"minutes": 90, "turnouts": 1, "first": "…", "by": "<event>", "moved_from": null},
     "2026": {...}, "2026-W48": {...}, "2026-11": {...}, "2026-11-27": {...}}

So a service record writes one document per area of its place (six), not one per (area,
period) for the hours and another for the membership (sixty). Both kinds of change go in
one update per document and batch, guarded like a counter cell:

* Minutes and turn-outs are counted once per event: the partition high-water marks
  (`hwm`) advance in the same update, guarded by the marks this consumer expects.
* Memberships: the event that creates a period's membership counts the volunteer once in
  that cell. The earliest-recorded event holds it (ties by event id), so which event
  counts is the same in any replay; a later-processed but earlier-recorded event takes it
  over and moves the count to its own instant (for as-of figures). A redelivered holder
  finds itself and counts again, which the cells' high-water marks make a no-op. An
  update that sets or takes over a membership is guarded by the holder it expects.

Each consumer remembers the marks and memberships it last wrote or read, so a batch reads
nothing: a holder only ever changes to an earlier-recorded event, so a remembered one is
never earlier than the store's, and a later-recorded event changes nothing. A document
another consumer changed meanwhile fails the guard, is read again and decided again.
Documents new to the store go in one bulk insert, decided in memory; a batch decides
exactly what seeing its events one after the other would. The documents are the store's
(`ports.ServedInArea`; the document store's in `adapters/served_in_area.py`); the rules of
which event holds a membership are here (`decide_first`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from muster_runtime.projections import ConsumedEvent

ALL_TIME = "all"  # the period key of all time
MEASURES = ("minutes", "turnouts")


def period_key(period: str | None) -> str:
    return ALL_TIME if period is None else period


def period_of(key: str) -> str | None:
    return None if key == ALL_TIME else key


def member_id(area_id: str, volunteer_id: str) -> str:
    return f"{area_id}#{volunteer_id}"


@dataclass(frozen=True)
class Membership:
    """A volunteer counted in a cell: by which event, at which recorded instant."""

    first: datetime
    by: str
    moved_from: datetime | None = None


def decide_first(held: Membership | None, candidate: Membership) -> Membership | None:
    """The membership after `candidate` is seen, or None when nothing changes (pure)."""
    if held is None:
        return candidate
    if held.by == candidate.by:
        return held  # a redelivery of the holder: count it again (a no-op in the cells)
    if (candidate.first, candidate.by) < (held.first, held.by):
        return Membership(candidate.first, candidate.by, moved_from=held.first)
    return None


@dataclass(frozen=True)
class Service:
    """What one event changes for one volunteer in one area: minutes and turn-outs in each
    period of the day served, and, for a new record, a membership candidate in each."""

    event: ConsumedEvent
    area: str
    volunteer_id: str
    periods: tuple[str, ...]  # period keys
    minutes: int
    turnouts: int = 0
    new_record: bool = False

    @property
    def doc_id(self) -> str:
        return member_id(self.area, self.volunteer_id)


# What a service means for the unique count of its periods: (period key, membership) for
# each period whose membership its event holds (new, taken over, or redelivered).
Firsts = list[tuple[str, Membership]]


@dataclass(frozen=True)
class Served:
    """A volunteer's minutes and turn-outs in one (area, period) cell."""

    volunteer_id: str
    minutes: int
    turnouts: int = 0

    @classmethod
    def of(cls, volunteer_id: str, counts: Mapping[str, int]) -> Served:
        """The figures of a period's counts (`MEASURES`; none counted: 0)."""
        return cls(volunteer_id, int(counts.get("minutes", 0)), int(counts.get("turnouts", 0)))
