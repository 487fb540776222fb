"""Leaderboard rules as specifications: ranking, the floor, demotion by a correction and
re-derivation, on pure values (the store's part: tests/integration/test_leaderboards.py)."""

from __future__ import annotations

import random

from muster_reporting.application.leaderboards import Board, place, rank_key, ranked
from muster_reporting.application.served_in_area import Served

CAPACITY, SHOWN = 4, 2


def served(volunteer_id: str, minutes: int) -> Served:
    return Served(volunteer_id, minutes, 1)


def names(board: Board) -> list[str]:
    return [e.volunteer_id for e in board.entries]


def test_most_minutes_first_ties_by_volunteer_id_and_nothing_for_no_minutes() -> None:
    board = place(
        Board(),
        [served("c", 60), served("a", 90), served("b", 60), served("z", 0), served("y", -30)],
        CAPACITY,
        admit=1,
    )
    assert names(board) == ["a", "b", "c"]
    assert board.floor is None  # everyone off the board has nothing to show


def test_past_capacity_the_last_leave_and_the_floor_is_the_best_of_them() -> None:
    board = place(
        Board(),
        [served(v, m) for v, m in zip("abcdef", (10, 20, 30, 40, 50, 60), strict=True)],
        CAPACITY,
        1,
    )
    assert names(board) == ["f", "e", "d", "c"]
    assert board.floor == rank_key(served("b", 20))
    # A volunteer who ranks after the floor stays off; one before it comes on.
    assert names(place(board, [served("g", 20)], CAPACITY, 1)) == ["f", "e", "d", "c"]
    raised = place(board, [served("a", 35)], CAPACITY, 1)
    assert names(raised) == ["f", "e", "d", "a"]
    assert raised.floor == rank_key(served("c", 30))


def test_a_correction_below_the_floor_demotes_and_nobody_is_promoted_in_its_place() -> None:
    board = place(
        Board(),
        [served(v, m) for v, m in zip("abcdef", (10, 20, 30, 40, 50, 60), strict=True)],
        CAPACITY,
        1,
    )
    demoted = place(board, [served("f", 15)], CAPACITY, 1)  # 60 → 15: below b's 20
    assert names(demoted) == ["e", "d", "c"]
    assert demoted.floor == board.floor  # b (20) may now rank fourth: nobody is known to
    assert demoted.complete_for(SHOWN)  # the first two are still the first two
    # Still below the floor after a rise: still off (b may rank before it).
    assert names(place(demoted, [served("f", 19)], CAPACITY, 1)) == ["e", "d", "c"]
    # A correction within the board only reorders it.
    assert names(place(demoted, [served("c", 45)], CAPACITY, 1)) == ["e", "c", "d"]
    # Two more demotions leave fewer than shown under a floor: derive again from everyone.
    thin = place(demoted, [served("e", 1), served("d", 2)], CAPACITY, 1)
    assert names(thin) == ["c"]
    assert not thin.complete_for(SHOWN)
    everyone = [served(v, m) for v, m in zip("abcdef", (10, 20, 30, 2, 1, 15), strict=True)]
    again = ranked(everyone, CAPACITY, 1)
    assert names(again) == ["c", "b", "f", "a"]
    assert again.floor == rank_key(served("d", 2))


def test_without_capacity_every_admitted_volunteer_is_on_the_board() -> None:
    stars = place(
        Board(), [served(v, m) for v, m in zip("abc", (6000, 5999, 9000), strict=True)], None, 6000
    )
    assert names(stars) == ["c", "a"]
    assert names(place(stars, [served("c", 100)], None, 6000)) == ["a"]
    assert stars.floor is None


def test_any_sequence_of_changes_keeps_the_board_an_exact_prefix_of_the_ranking() -> None:
    """Rises, corrections down, re-derivation when too few remain: after every change the
    board's entries are the first volunteers of the true ranking, at least `SHOWN` of them
    (or every volunteer with minutes); re-derivations stay rare."""
    rng = random.Random(3)
    truth: dict[str, int] = {}
    board, derivations = Board(), 0
    for step in range(3000):
        changed = []
        for volunteer in rng.sample([f"v{i:02d}" for i in range(30)], rng.randint(1, 3)):
            before = truth.get(volunteer, 0)
            if rng.random() < 0.75:
                truth[volunteer] = before + rng.randint(0, 120)
            else:  # a correction down, at times to nothing
                truth[volunteer] = before - rng.randint(1, max(1, before))
            changed.append(served(volunteer, truth[volunteer]))
        board = place(board, changed, CAPACITY, 1)
        if not board.complete_for(SHOWN):
            board = ranked([served(v, m) for v, m in truth.items()], CAPACITY, 1)
            derivations += 1
        ranking = sorted((served(v, m) for v, m in truth.items() if m > 0), key=rank_key)
        assert [(e.volunteer_id, e.minutes) for e in board.entries] == [
            (e.volunteer_id, e.minutes) for e in ranking[: len(board.entries)]
        ], step
        assert len(board.entries) >= min(SHOWN, len(ranking)), step
        if board.floor is not None and len(ranking) > len(board.entries):
            assert rank_key(ranking[len(board.entries)]) >= board.floor, step
    assert 0 < derivations < 3000 / 10
