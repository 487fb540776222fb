"""Leaderboards kept ranked as figures change, each read with one point read by `_id`.

* Top volunteers per (area, period) cell (`service_volunteer_boards`, `_id` the cell id):
  the best `CAPACITY` volunteers by approved minutes served there, from the (area,
  volunteer) documents of `served_in_area`.
* Star-rated volunteers per home area (`volunteer_star_boards`, `_id` the area): every
  volunteer living there whose cumulative minutes earn a star, from `volunteer_standing`.

A board holds its ranked entries (most minutes first, ties by volunteer id), a `floor`
and a version `n`. The rule (`place`, pure):

* Every volunteer of the cell who is not on the board ranks at or after the floor (no
  floor: every volunteer off the board has nothing to show), and every entry ranks before
  it: so the board's entries are exactly the cell's best, in order.
* A volunteer whose figures change leaves the board and comes back if they now rank
  before the floor. Past `CAPACITY` entries the last ones leave, and the floor becomes the
  best of them. A correction can push a volunteer below the floor (demotion): they leave,
  and nobody else can take their place, because nobody is known to rank next.
* So the board holds `CAPACITY` entries, 50 more than a report shows (`SHOWN`), and loses
  one per demotion. When fewer than `SHOWN` remain under a floor, the board is derived
  again from every volunteer of the cell (`ranked`): the one query that is not by `_id`,
  on the write path, at most once per 50 demotions in one cell.

Exact with redelivery, replays and two consumers in one group writing in either order. A
consumer counts the (area, volunteer) documents first, then reads the figures of the
volunteers it changed, then writes each board conditionally on the version it knows; a
board another consumer wrote meanwhile fails the condition, and it is read again, then the
figures, and the board decided again. So every write decides from figures read after the
last write before it. A change that leaves a volunteer off the board (only increases, and
still ranking after the floor) writes nothing: it checks the board's version instead, and
a re-derivation first bumps the version (`refilling`) and only then reads the figures, so
such a check never misses one. A star board has no floor and no capacity; a volunteer
below the first star whose minutes only rose needs no check at all (see `settle`).

The rule (`place`, `ranked`) is here; the boards' documents and their guarded writes are the
store's (`ports.Boards`, `ports.Standing`; the document store's in `adapters/leaderboards.py`).
"""

from __future__ import annotations

import heapq
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace

from muster_reporting.application.served_in_area import Served

RankKey = tuple[int, str]  # (-minutes, volunteer id): smaller ranks first


def rank_key(served: Served) -> RankKey:
    return (-served.minutes, served.volunteer_id)


@dataclass(frozen=True)
class Board:
    """A cell's best volunteers (ranked) and what every volunteer off it ranks after."""

    entries: tuple[Served, ...] = ()
    floor: RankKey | None = None
    version: int = 0  # 0: never written
    refilling: bool = False

    def holds(self, volunteer_id: str) -> bool:
        return any(e.volunteer_id == volunteer_id for e in self.entries)

    def stays_off(self, served: Served, admit: int) -> bool:
        """Whether these figures leave the volunteer off the board (they are not on it)."""
        return served.minutes < admit or (self.floor is not None and rank_key(served) >= self.floor)

    def complete_for(self, shown: int) -> bool:
        """Whether the first `shown` entries are the cell's first `shown` volunteers."""
        return self.floor is None or len(self.entries) >= shown


def place(board: Board, changed: Iterable[Served], capacity: int | None, admit: int) -> Board:
    """The board after these volunteers' figures changed to `changed` (pure)."""
    entries = {e.volunteer_id: e for e in board.entries}
    for served in changed:
        entries.pop(served.volunteer_id, None)
        if not board.stays_off(served, admit):
            entries[served.volunteer_id] = served
    ordered = sorted(entries.values(), key=rank_key)
    floor = board.floor
    if capacity is not None and len(ordered) > capacity:
        best_left = rank_key(ordered[capacity])
        floor = best_left if floor is None else min(floor, best_left)
        ordered = ordered[:capacity]
    return replace(board, entries=tuple(ordered), floor=floor)


def ranked(everyone: Iterable[Served], capacity: int | None, admit: int) -> Board:
    """The board derived from every volunteer of the cell (pure)."""
    admitted = (s for s in everyone if s.minutes >= admit)
    if capacity is None:
        return Board(tuple(sorted(admitted, key=rank_key)))
    ordered = heapq.nsmallest(capacity + 1, admitted, key=rank_key)
    if len(ordered) <= capacity:
        return Board(tuple(ordered))
    return Board(tuple(ordered[:capacity]), rank_key(ordered[capacity]))


def contenders(served: Iterable[Served], capacity: int | None, admit: int) -> list[Served]:
    """Those of `served` who may still be on the cell's board whoever else is counted
    (pure): `ranked` of them and any others is `ranked` of all of `served` and the others."""
    admitted = [s for s in served if s.minutes >= admit]
    if capacity is None:
        return admitted
    return heapq.nsmallest(capacity + 1, admitted, key=rank_key)


# Cell → volunteer → whether their figures only rose in this batch (or stayed).
Touched = dict[str, dict[str, bool]]
FiguresReader = Callable[[dict[str, set[str]]], Awaitable[dict[str, dict[str, Served]]]]
